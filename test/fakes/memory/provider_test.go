package memory_test

import (
	"testing"

	"github.com/dashtam/dashtam/test/contract/providercontract"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

func TestProviderStore(t *testing.T) {
	providercontract.Run(t, func(*testing.T) providercontract.Harness {
		return providercontract.Harness{Store: memory.NewProviderStore()}
	})
}

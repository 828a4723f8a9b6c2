package memory_test

import (
	"testing"

	"github.com/dashtam/dashtam/test/contract/authorizationcontract"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

func TestAuthorizationStore(t *testing.T) {
	authorizationcontract.Run(t, func(*testing.T) authorizationcontract.Harness {
		providers := memory.NewProviderStore()
		return authorizationcontract.Harness{Store: memory.NewAuthorizationStore(providers), Providers: providers}
	})
}

package memory_test

import (
	"testing"

	"github.com/dashtam/dashtam/test/contract/financecontract"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

func TestFinanceStore(t *testing.T) {
	financecontract.Run(t, func(*testing.T) financecontract.Harness {
		providers := memory.NewProviderStore()
		return financecontract.Harness{Store: memory.NewFinanceStore(providers), Providers: providers, Events: providers.Events}
	})
}

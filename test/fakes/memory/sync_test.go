package memory_test

import (
	"testing"

	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/test/contract/synccontract"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

func TestSyncStoreAndSyncData(t *testing.T) {
	synccontract.Run(t, func(*testing.T) synccontract.Harness {
		providers := memory.NewProviderStore()
		auths := memory.NewAuthorizationStore(providers)
		syncs := memory.NewSyncStore(auths)
		return synccontract.Harness{Syncs: syncs, Finance: memory.NewFinanceStore(providers), Providers: providers,
			Authorizations: auths, Jobs: func(*testing.T) []jobs.Job { return syncs.Jobs() }}
	})
}

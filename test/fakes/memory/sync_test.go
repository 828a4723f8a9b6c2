package memory_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	"github.com/dashtam/dashtam/test/contract/synccontract"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

func TestSyncStore(t *testing.T) {
	synccontract.Run(t, func(*testing.T) synccontract.Harness {
		providers := memory.NewProviderStore()
		auths := memory.NewAuthorizationStore(providers)
		syncs := memory.NewSyncStore(auths)
		return synccontract.Harness{Store: syncs, Providers: providers, Authorizations: auths,
			SetUserDisabled: func(_ context.Context, userID uuid.UUID, disabled bool) error {
				syncs.SetUserDisabled(userID, disabled)
				return nil
			},
			SyncJobs: func(_ context.Context, providerID uuid.UUID) ([]datasyncapp.SyncJob, error) {
				var out []datasyncapp.SyncJob
				for _, j := range syncs.Jobs() {
					if sj, ok := j.(datasyncapp.SyncJob); ok && sj.ProviderID == providerID {
						out = append(out, sj)
					}
				}
				return out, nil
			}}
	})
}

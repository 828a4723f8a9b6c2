package memory_test

import (
	"testing"

	"github.com/dashtam/dashtam/test/contract/eventcontract"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

func TestEventLog(t *testing.T) {
	eventcontract.Run(t, func(*testing.T) eventcontract.Harness {
		providers := memory.NewProviderStore()
		auths := memory.NewAuthorizationStore(providers)
		ids := memory.NewIdentityStore(&memory.JobQueue{})
		ids.Events = providers.Events
		return eventcontract.Harness{Log: providers.Events, Users: ids, Sessions: ids, Providers: providers,
			Authorizations: auths, Syncs: memory.NewSyncStore(auths)}
	})
}

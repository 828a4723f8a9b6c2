package memory_test

import (
	"testing"

	"github.com/dashtam/dashtam/test/contract/identitycontract"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

func TestIdentityStore(t *testing.T) {
	identitycontract.Run(t, func(*testing.T) identitycontract.Store {
		return memory.NewIdentityStore(&memory.JobQueue{})
	})
}

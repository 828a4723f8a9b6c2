package persistence_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
)

// A grant restored by a repair (Plaid Link's update mode) turns active again
// like a new grant, so it begins a sync at once: the schedule the
// re-authorization paused resumes with it. The credentials kept through the
// repair read back unchanged.
func TestRestoringARepairedGrantBeginsASync(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			st, syncs := grantStores(t, db, syncEngine(t, db))
			p := newStoredProvider(t, db)
			if _, err := changeAuthorization(t, st, p, grant); err != nil {
				t.Fatal(err)
			}
			first := listSyncs(t, syncs, p.ID())
			finishSync(t, syncs, first[0].ID())
			kept, err := changeAuthorization(t, st, p, func(a *provider.Authorization, now time.Time) { a.RequireRepair(now) })
			if err != nil || kept.Status() != provider.AuthorizationReauthorizationRequired || kept.Credentials().AccessToken != "access" {
				t.Fatalf("after RequireRepair: %v, %v", kept, err)
			}
			attempt, state := uuid.New(), provider.NewState()
			begun := provider.AttemptBegun{Repair: true, LinkToken: "link-update", LinkExpiresAt: time.Now().Add(4 * time.Hour)}
			a, err := changeAuthorization(t, st, p, func(a *provider.Authorization, now time.Time) {
				a.StartAttempt(attempt, state, now.Add(provider.StateTTL), now)
				if err := a.SetAttemptBegun(attempt, begun); err != nil {
					t.Error(err)
				}
				if err := a.ConsumeState(state.Value, now); err != nil {
					t.Error(err)
				}
			})
			if err != nil || !a.AttemptBegun().Repair || a.AttemptBegun().LinkToken != "link-update" {
				t.Fatalf("the repair attempt: %+v, %v", a, err)
			}
			if n := len(listSyncs(t, syncs, p.ID())); n != 1 {
				t.Fatalf("%d syncs while the repair is in flight, want still 1", n)
			}
			restored, err := changeAuthorization(t, st, p, func(a *provider.Authorization, now time.Time) {
				if err := a.RestoreAttempt(attempt, now); err != nil {
					t.Error(err)
				}
			})
			if err != nil || !restored.IsAuthorized() || restored.Credentials().AccessToken != "access" {
				t.Fatalf("restored: %v, %v; want active with the same access token", restored, err)
			}
			again := listSyncs(t, syncs, p.ID())
			if len(again) != 2 || again[0].ID() == first[0].ID() || again[0].Status() != datasync.StatusQueued {
				t.Errorf("syncs after the restore: %d, want a new queued one", len(again))
			}
		})
	}
}

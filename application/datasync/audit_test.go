package datasync_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

// A manual sync is audited with its user and request, a refused one too.
func TestAManualSyncIsAudited(t *testing.T) {
	h := newHarness(t, nil)
	log := memory.NewAuditLog()
	h.syncs.RecordTo(audit.NewService(log, h.clock, nil, 0))
	p, job := h.connectScripted(t)
	h.run(t, job)
	ctx := audit.WithRequest(t.Context(), audit.Request{ID: "req-s"})
	if _, _, err := h.syncs.Start(ctx, h.user, p.ID()); err != nil {
		t.Fatal(err)
	}
	stranger := uuid.New()
	if _, _, err := h.syncs.Start(ctx, stranger, p.ID()); err == nil {
		t.Fatal("a stranger started a sync")
	}
	all := log.All()
	if len(all) != 2 {
		t.Fatalf("%d entries, want 2", len(all))
	}
	for i, want := range []struct {
		actor   uuid.UUID
		outcome audit.Outcome
	}{{h.user, audit.Success}, {stranger, audit.Failure}} {
		e := all[i]
		if e.Action != audit.ActionSyncStart || e.Actor != want.actor || e.Outcome != want.outcome ||
			e.Subject != audit.Of(audit.SubjectProvider, p.ID()) || e.RequestID != "req-s" {
			t.Fatalf("entry %d = %+v", i, e)
		}
	}
}

package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRecordStampsTheEntryWithTheRequestAndTruncatesTheUserAgent(t *testing.T) {
	log, clock := memory.NewAuditLog(), fakeclock.New(start)
	svc := audit.NewService(log, clock, nil, 0)
	ctx := audit.WithRequest(context.Background(), audit.Request{ID: "req-1", ClientIP: "192.0.2.1", UserAgent: strings.Repeat("é", 200)})
	svc.Record(ctx, audit.Entry{Action: audit.ActionLogin, Subject: audit.UserSubject(uuid.New())})
	e := log.All()[0]
	if e.ID == uuid.Nil || !e.OccurredAt.Equal(start) || e.Outcome != audit.Success || e.RequestID != "req-1" || e.ClientIP != "192.0.2.1" {
		t.Fatalf("entry = %+v", e)
	}
	if len(e.UserAgent) > audit.MaxUserAgent || !strings.HasPrefix(strings.Repeat("é", 200), e.UserAgent) || len(e.UserAgent) < audit.MaxUserAgent-1 {
		t.Fatalf("user agent of %d bytes, not a rune-aligned prefix of at most %d", len(e.UserAgent), audit.MaxUserAgent)
	}
}

func TestAFailedWriteIsCountedNotReturned(t *testing.T) {
	log := memory.NewAuditLog()
	log.Fail = context.DeadlineExceeded
	svc := audit.NewService(log, fakeclock.New(start), nil, 0)
	svc.Record(context.Background(), audit.Entry{Action: audit.ActionLogout})
	if svc.WriteFailures() != 1 {
		t.Fatalf("failures = %d, want 1", svc.WriteFailures())
	}
}

func TestThePurgeDeletesOnlyWhatIsOlderThanTheRetention(t *testing.T) {
	log, clock := memory.NewAuditLog(), fakeclock.New(start)
	svc := audit.NewService(log, clock, nil, 40*24*time.Hour)
	svc.Record(context.Background(), audit.Entry{Action: audit.ActionLogin})
	clock.Advance(20 * 24 * time.Hour)
	svc.Record(context.Background(), audit.Entry{Action: audit.ActionLogout})
	clock.Advance(21 * 24 * time.Hour)
	n, err := svc.Purge(context.Background(), audit.PurgeJob{})
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want 1", n, err)
	}
	if left := log.All(); len(left) != 1 || left[0].Action != audit.ActionLogout {
		t.Fatalf("left %+v", left)
	}
}

func TestTheRetentionIsNeverBelowTheFloor(t *testing.T) {
	if got := audit.NewService(memory.NewAuditLog(), fakeclock.New(start), nil, time.Hour).Retention(); got != audit.MinRetention {
		t.Fatalf("retention = %v, want the floor %v", got, audit.MinRetention)
	}
	if got := audit.NewService(memory.NewAuditLog(), fakeclock.New(start), nil, 0).Retention(); got != audit.DefaultRetention {
		t.Fatalf("retention = %v, want the default", got)
	}
}

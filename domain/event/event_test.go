package event

import (
	"testing"
	"time"
)

func TestEveryTypeParsesByNameAndUnknownNamesDoNot(t *testing.T) {
	for _, ty := range Types() {
		if got, err := ParseType(ty.String()); err != nil || got != ty {
			t.Errorf("ParseType(%q) = %v, %v", ty, got, err)
		}
	}
	for _, bad := range []string{"", "sync", "SYNC.STARTED", "sync.started "} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("ParseType(%q) succeeded", bad)
		}
	}
}

func TestRecorderDrainsEachEventOnceInOrder(t *testing.T) {
	var r Recorder
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	r.Record(SyncStarted, now, Data{"n": 1})
	r.Record(SyncCompleted, now.Add(time.Second), nil)
	got := r.Drain()
	if len(got) != 2 || got[0].Type != SyncStarted || got[1].Type != SyncCompleted || !got[1].OccurredAt.Equal(now.Add(time.Second)) {
		t.Fatalf("Drain() = %+v, want sync.started then sync.completed", got)
	}
	if again := r.Drain(); len(again) != 0 {
		t.Errorf("second Drain() = %+v, want nothing", again)
	}
}

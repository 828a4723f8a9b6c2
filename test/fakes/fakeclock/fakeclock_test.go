package fakeclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/fakes/fakeclock"
)

func TestNewNormalizesToUTCMicroseconds(t *testing.T) {
	zone := time.FixedZone("UTC+5", 5*60*60)
	c := fakeclock.New(time.Date(2026, 3, 1, 17, 0, 0, 123456789, zone))
	got := c.Now()
	want := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("Now() = %v (%v), want %v in UTC", got, got.Location(), want)
	}
}

func TestNowStandsStill(t *testing.T) {
	c := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	if a, b := c.Now(), c.Now(); !a.Equal(b) {
		t.Fatalf("Now() moved from %v to %v without Advance", a, b)
	}
}

func TestAdvanceMovesByDuration(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := fakeclock.New(start)
	c.Advance(90 * time.Minute)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Minute)) {
		t.Fatalf("Now() = %v, want %v", got, start.Add(90*time.Minute))
	}
	c.Advance(time.Microsecond)
	c.Advance(999 * time.Nanosecond) // below the resolution: dropped
	if got, want := c.Now(), start.Add(90*time.Minute+time.Microsecond); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
	c.Advance(-time.Hour)
	if got, want := c.Now(), start.Add(30*time.Minute+time.Microsecond); !got.Equal(want) {
		t.Fatalf("after going back, Now() = %v, want %v", got, want)
	}
}

func TestSetNormalizes(t *testing.T) {
	c := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	c.Set(time.Date(2030, 1, 2, 3, 4, 5, 6789, time.FixedZone("x", -3600)))
	if got, want := c.Now(), time.Date(2030, 1, 2, 4, 4, 5, 6000, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("Now() = %v, want %v in UTC", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := fakeclock.New(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(800*time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}

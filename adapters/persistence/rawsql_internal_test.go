package persistence

import (
	"math/rand/v2"
	"testing"
	"time"
)

// parseUTCTime must read back every time the SQLite driver writes, exactly.
func TestParseUTCTimeReadsWhatTheDriverWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		want := time.Unix(r.Int64N(1<<34)-1<<33, 0).UTC()
		switch r.IntN(3) {
		case 1:
			want = want.Add(time.Duration(r.IntN(1e6)) * time.Microsecond)
		case 2:
			want = want.Add(time.Duration(r.IntN(1e9)))
		}
		if want.Year() < 0 || want.Year() > 9999 {
			continue
		}
		text := want.Format(sqliteTimeLayout)
		got, ok := parseUTCTime(text)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("parseUTCTime(%q) = %v, %v; want %v", text, got, ok, want)
		}
	}
}

// Whatever parseUTCTime accepts, time.Parse reads the same way; what it
// refuses falls back to time.Parse.
func FuzzParseUTCTime(f *testing.F) {
	for _, s := range []string{
		"2026-11-21 12:00:00+00:00", "2026-11-21 12:00:00.123456+00:00", "2026-02-30 12:00:00+00:00",
		"2026-11-21 12:00:00.+00:00", "2026-11-21 12:00:00.1234567890+00:00", "2026-11-21 12:00:00-07:00",
		"2026-11-21T12:00:00Z", "", "0000-00-00 00:00:00+00:00", "2026-11-21 24:00:00+00:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseUTCTime(s)
		if !ok {
			return
		}
		want, err := time.Parse(sqliteTimeLayout, s)
		if err != nil {
			t.Fatalf("parseUTCTime(%q) accepted what time.Parse refuses: %v", s, err)
		}
		if !got.Equal(want) {
			t.Fatalf("parseUTCTime(%q) = %v, time.Parse = %v", s, got, want)
		}
	})
}

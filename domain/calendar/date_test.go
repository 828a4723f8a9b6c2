package calendar

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/dashtam/dashtam/domain"
)

func date(t *testing.T, s string) Date {
	t.Helper()
	d, err := ParseDate("date", s)
	if err != nil {
		t.Fatalf("ParseDate(%q): %v", s, err)
	}
	return d
}

func TestParseDateReadsTheCalendarDay(t *testing.T) {
	d := date(t, "2024-02-29")
	if d.Year() != 2024 || d.Month() != time.February || d.Day() != 29 || d.String() != "2024-02-29" || d.IsZero() {
		t.Errorf("got %d-%v-%d (%q), want 2024 February 29", d.Year(), d.Month(), d.Day(), d)
	}
	if first := date(t, "0001-01-01"); first.String() != "0001-01-01" {
		t.Errorf("got %q, want 0001-01-01", first)
	}
}

func TestParseDateRefusesWhatIsNotADay(t *testing.T) {
	for _, tc := range []struct {
		name, s, code string
	}{
		{"empty", "", "required"},
		{"a timestamp", "2024-04-29T02:30:21+0000", "invalid"},
		{"RFC 3339", "2024-04-29T00:00:00Z", "invalid"},
		{"no padding", "2024-4-9", "invalid"},
		{"slashes", "2024/04/29", "invalid"},
		{"February 29 of a common year", "2023-02-29", "invalid"},
		{"April 31", "2024-04-31", "invalid"},
		{"month 13", "2024-13-01", "invalid"},
		{"day 0", "2024-01-00", "invalid"},
		{"year 0", "0000-01-01", "invalid"},
		{"a five-digit year", "12024-01-01", "invalid"},
		{"surrounding space", " 2024-01-01", "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDate("authorized_date", tc.s)
			var verr *domain.ValidationError
			if !d.IsZero() || !errors.As(err, &verr) || len(verr.Fields) != 1 ||
				verr.Fields[0].Field != "authorized_date" || verr.Fields[0].Code != tc.code {
				t.Errorf("ParseDate(%q) = %q, %v; want a %s error on authorized_date", tc.s, d, err, tc.code)
			}
		})
	}
}

func TestDatesOrderByDay(t *testing.T) {
	days := []string{"2023-12-31", "2024-01-01", "2024-01-02", "2024-02-01", "2025-01-01"}
	for i, a := range days {
		for j, b := range days {
			da, db := date(t, a), date(t, b)
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := da.Compare(db); got != want || da.Before(db) != (want < 0) || da.After(db) != (want > 0) || (da == db) != (want == 0) {
				t.Errorf("%s vs %s: Compare %d, Before %v, After %v, == %v; want Compare %d", a, b, got, da.Before(db), da.After(db), da == db, want)
			}
		}
	}
	if !(Date{}).Before(date(t, "0001-01-01")) || (Date{}).String() != "" || !(Date{}).IsZero() {
		t.Errorf("the zero Date should print nothing and come before every day")
	}
}

func TestDateStringRoundTrips(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		day := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rapid.IntRange(0, 3_652_058).Draw(t, "days"))
		s := day.Format(time.DateOnly)
		d, err := ParseDate("date", s)
		if err != nil || d.String() != s {
			t.Fatalf("ParseDate(%q) = %q, %v", s, d, err)
		}
	})
}

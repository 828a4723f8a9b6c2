package finance

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/money"
)

func balance(t *testing.T, current, available string, asOf time.Time) Balance {
	t.Helper()
	var avail money.Money
	if available != "" {
		avail = usd(t, available)
	}
	b, err := NewBalance(uuid.New(), usd(t, current), avail, money.Money{}, asOf)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewBalanceKeepsItsAmounts(t *testing.T) {
	account := uuid.New()
	b, err := NewBalance(account, usd(t, "-410.00"), usd(t, "1590.00"), usd(t, "2000"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if b.AccountID() != account || b.Current().String() != "-410.00 USD" || b.Available().String() != "1590.00 USD" ||
		b.Limit().String() != "2000 USD" || b.Currency() != money.USD || !b.AsOf().Equal(t0) {
		t.Errorf("balance %+v", b.Snapshot())
	}
	if noLimit := balance(t, "1.00", "", t0); noLimit.Available().IsSet() || noLimit.Limit().IsSet() {
		t.Errorf("available %v and limit %v, want neither set", noLimit.Available(), noLimit.Limit())
	}
}

func TestNewBalanceRefusesMixedCurrenciesAndMissingParts(t *testing.T) {
	eur, err := money.ParseAmount("available", "5.00", "EUR")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                      string
		current, available, limit money.Money
		asOf                      time.Time
		want                      []string
	}{
		{"available in another currency", usd(t, "1.00"), eur, money.Money{}, t0, []string{"available:currency_mismatch"}},
		{"limit in another currency", usd(t, "1.00"), money.Money{}, eur, t0, []string{"limit:currency_mismatch"}},
		{"a current balance as precise as a price", price(t, "1.00000001"), money.Money{}, money.Money{}, t0, []string{"current:too_precise"}},
		{"no current balance", money.Money{}, usd(t, "1.00"), money.Money{}, t0, []string{"current:required"}},
		{"no time", usd(t, "1.00"), money.Money{}, money.Money{}, time.Time{}, []string{"as_of:required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBalance(uuid.New(), tc.current, tc.available, tc.limit, tc.asOf)
			if b != (Balance{}) {
				t.Errorf("got %+v", b.Snapshot())
			}
			if got := fieldCodes(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("fields %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSnapshotDueWhenChangedAndOnceADay(t *testing.T) {
	last := balance(t, "100.00", "90.00", t0) // 03:00 UTC
	for _, tc := range []struct {
		name string
		next Balance
		want bool
	}{
		{"same amounts later the same day", balance(t, "100.00", "90.00", t0.Add(20*time.Hour)), false},
		{"same amounts written at another scale", balance(t, "100", "90.0", t0.Add(time.Hour)), false},
		{"same amounts the next UTC day", balance(t, "100.00", "90.00", t0.Add(21*time.Hour)), true},
		{"current changed", balance(t, "100.01", "90.00", t0.Add(time.Minute)), true},
		{"available changed", balance(t, "100.00", "80.00", t0.Add(time.Minute)), true},
		{"available no longer given", balance(t, "100.00", "", t0.Add(time.Minute)), true},
		{"changed but no newer", balance(t, "50.00", "40.00", t0), false},
		{"changed but older", balance(t, "50.00", "40.00", t0.Add(-time.Hour)), false},
	} {
		if got := SnapshotDue(&last, tc.next); got != tc.want {
			t.Errorf("%s: SnapshotDue = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !SnapshotDue(nil, last) {
		t.Error("the first balance of an account is not due; the history would start empty")
	}
}

// The UTC day, not 24 hours: syncs every few hours, jittered, would otherwise
// drift past midnight and leave days without a point.
func TestSnapshotDueEveryUTCDayNotEvery24Hours(t *testing.T) {
	last := balance(t, "1.00", "", time.Date(2026, 12, 6, 23, 59, 0, 0, time.UTC))
	next := balance(t, "1.00", "", time.Date(2026, 12, 7, 0, 1, 0, 0, time.UTC))
	if !SnapshotDue(&last, next) {
		t.Error("a balance two minutes into the next UTC day is not due")
	}
	ny := time.FixedZone("New York", -5*3600)
	sameUTCDay := balance(t, "1.00", "", time.Date(2026, 12, 6, 19, 0, 0, 0, ny)) // 2026-12-07 00:00 UTC
	if !SnapshotDue(&last, sameUTCDay) {
		t.Error("the day is not taken in UTC")
	}
}

func TestBalanceSnapshotRoundTrips(t *testing.T) {
	s := BalanceSnapshot{AccountID: uuid.New(), Current: usd(t, "12.34"), Limit: usd(t, "500"), AsOf: t0}
	if got := RehydrateBalance(s).Snapshot(); got != s {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
}

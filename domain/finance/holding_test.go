package finance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/money"
)

func position(t *testing.T, security uuid.UUID, qty, value string, asOf time.Time) HoldingDetails {
	return HoldingDetails{SecurityID: security, Quantity: quantity(t, qty), Price: price(t, "190.12345678"),
		PriceAsOf: day(t, "2026-12-04"), MarketValue: usd(t, value), CostBasis: usd(t, "1500.00"), AsOf: asOf}
}

func holding(t *testing.T, d HoldingDetails) *Holding {
	t.Helper()
	h, err := NewHolding(uuid.New(), uuid.New(), d, t0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewHoldingKeepsThePosition(t *testing.T) {
	id, account := uuid.New(), uuid.New()
	d := position(t, uuid.New(), "10.5", "1996.30", t0)
	h, err := NewHolding(id, account, d, t0)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID() != id || h.AccountID() != account || h.Details() != d || h.Currency() != money.USD || !h.UpdatedAt().Equal(t0) {
		t.Errorf("holding %+v", h.Snapshot())
	}
}

func TestNewHoldingRefusesWhatCannotBeStored(t *testing.T) {
	eur, err := money.ParseAmount("cost_basis", "1.00", "EUR")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*HoldingDetails)
		want   []string
	}{
		{"no security", func(d *HoldingDetails) { d.SecurityID = uuid.Nil }, []string{"security_id:required"}},
		{"no market value", func(d *HoldingDetails) { d.MarketValue = money.Money{} }, []string{"market_value:required"}},
		{"a cost basis in another currency", func(d *HoldingDetails) { d.CostBasis = eur }, []string{"cost_basis:currency_mismatch"}},
		{"a price in another currency", func(d *HoldingDetails) { d.Price = eur }, []string{"price:currency_mismatch"}},
		{"no time", func(d *HoldingDetails) { d.AsOf = time.Time{} }, []string{"as_of:required"}},
		{"a market value as precise as a price", func(d *HoldingDetails) { d.MarketValue = price(t, "190.123456") }, []string{"market_value:too_precise"}},
		{"a cost basis as precise as a price", func(d *HoldingDetails) { d.CostBasis = price(t, "1.00001") }, []string{"cost_basis:too_precise"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := position(t, uuid.New(), "1", "190.12", t0)
			tc.change(&d)
			h, err := NewHolding(uuid.New(), uuid.New(), d, t0)
			if h != nil {
				t.Errorf("got a holding %+v", h.Snapshot())
			}
			if got := fieldCodes(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("fields %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHoldingUpdateReplacesThePositionOfItsSecurityOnly(t *testing.T) {
	security := uuid.New()
	h := holding(t, position(t, security, "1", "190.12", t0))
	later := position(t, security, "2", "380.24", t0.Add(time.Hour))
	if err := h.Update(later, t0.Add(time.Hour)); err != nil || h.Details() != later || !h.UpdatedAt().Equal(t0.Add(time.Hour)) {
		t.Errorf("Update: %v; details %+v, updated %v", err, h.Details(), h.UpdatedAt())
	}
	before := h.Snapshot()
	if err := h.Update(position(t, uuid.New(), "2", "380.24", t0), t0.Add(2*time.Hour)); !errors.Is(err, ErrInstitutionIDChanged) {
		t.Errorf("another security: err = %v, want ErrInstitutionIDChanged", err)
	}
	if err := h.Update(HoldingDetails{SecurityID: security}, t0.Add(2*time.Hour)); !slices.Equal(fieldCodes(t, err), []string{"as_of:required", "market_value:required"}) {
		t.Errorf("invalid details: err = %v", err)
	}
	if h.Snapshot() != before {
		t.Errorf("refused updates changed %+v to %+v", before, h.Snapshot())
	}
}

func TestDiffHoldingsSaysWhatTheAnswerChanges(t *testing.T) {
	kept, grown, sold, closedOut, bought := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	later := t0.Add(4 * time.Hour)
	stored := []*Holding{
		holding(t, position(t, kept, "10", "1901.23", t0)),
		holding(t, position(t, grown, "1", "190.12", t0)),
		holding(t, position(t, sold, "5", "950.62", t0)),
		holding(t, position(t, closedOut, "3", "570.37", t0)),
	}
	answer := []HoldingDetails{
		position(t, bought, "0.12345678", "23.47", later),
		position(t, grown, "2", "380.24", later),
		position(t, kept, "10.00", "1901.23", later), // the same position, written at another scale
		position(t, closedOut, "0", "0.00", later),   // listed with nothing left
	}
	c, err := DiffHoldings(stored, answer)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Added, []HoldingDetails{answer[0]}) {
		t.Errorf("added %+v, want the bought position", c.Added)
	}
	if len(c.Updated) != 1 || c.Updated[0] != (HoldingUpdate{stored[1], answer[1]}) {
		t.Errorf("updated %+v, want the grown position", c.Updated)
	}
	if len(c.Confirmed) != 1 || c.Confirmed[0] != (HoldingUpdate{stored[0], answer[2]}) {
		t.Errorf("confirmed %+v, want the kept position", c.Confirmed)
	}
	if !slices.Equal(c.Removed, []*Holding{stored[2], stored[3]}) {
		t.Errorf("removed %v, want the sold and the closed-out positions", c.Removed)
	}
}

func TestDiffHoldingsOfAnEmptyAnswerRemovesEverything(t *testing.T) {
	stored := []*Holding{holding(t, position(t, uuid.New(), "1", "1.00", t0))}
	c, err := DiffHoldings(stored, nil)
	if err != nil || !slices.Equal(c.Removed, stored) || len(c.Added)+len(c.Updated)+len(c.Confirmed) != 0 {
		t.Errorf("changes %+v, %v; want the one holding removed", c, err)
	}
}

func TestDiffHoldingsRefusesAMalformedAnswer(t *testing.T) {
	security := uuid.New()
	stored := []*Holding{holding(t, position(t, security, "1", "1.00", t0))}
	for _, tc := range []struct {
		name   string
		answer []HoldingDetails
		check  func(error) bool
	}{
		{"a security twice", []HoldingDetails{position(t, security, "1", "1.00", t0), position(t, security, "2", "2.00", t0)},
			func(err error) bool {
				return errors.Is(err, ErrDuplicateHolding) && errors.Is(err, domain.ErrProviderUnavailable)
			}},
		{"a security twice, once empty", []HoldingDetails{position(t, security, "0", "0.00", t0), position(t, security, "2", "2.00", t0)},
			func(err error) bool { return errors.Is(err, ErrDuplicateHolding) }},
		{"a position without a market value", []HoldingDetails{{SecurityID: security, AsOf: t0}},
			func(err error) bool { var v *domain.ValidationError; return errors.As(err, &v) }},
	} {
		c, err := DiffHoldings(stored, tc.answer)
		if !tc.check(err) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if c.Added != nil || c.Updated != nil || c.Confirmed != nil || c.Removed != nil {
			t.Errorf("%s: changes %+v, want none", tc.name, c)
		}
	}
}

func TestHoldingSnapshotRoundTrips(t *testing.T) {
	s := HoldingSnapshot{ID: uuid.New(), AccountID: uuid.New(), Details: position(t, uuid.New(), "-3", "-570.37", t0),
		CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}
	if got := RehydrateHolding(s).Snapshot(); got != s {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
}

func TestDiffHoldingsCountsAnyChangeOfValueAsAnUpdate(t *testing.T) {
	security := uuid.New()
	stored := []*Holding{holding(t, position(t, security, "1", "190.12", t0))}
	for _, tc := range []struct {
		name   string
		change func(*HoldingDetails)
	}{
		{"quantity", func(d *HoldingDetails) { d.Quantity = quantity(t, "1.00000001") }},
		{"price", func(d *HoldingDetails) { d.Price = price(t, "190.1") }},
		{"price date", func(d *HoldingDetails) { d.PriceAsOf = day(t, "2026-12-05") }},
		{"market value", func(d *HoldingDetails) { d.MarketValue = usd(t, "190.13") }},
		{"cost basis no longer given", func(d *HoldingDetails) { d.CostBasis = money.Money{} }},
	} {
		d := position(t, security, "1", "190.12", t0.Add(time.Hour))
		tc.change(&d)
		c, err := DiffHoldings(stored, []HoldingDetails{d})
		if err != nil || len(c.Updated) != 1 || len(c.Confirmed) != 0 {
			t.Errorf("%s changed: %+v, %v; want one update", tc.name, c, err)
		}
	}
}

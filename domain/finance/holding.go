package finance

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/money"
)

// ErrDuplicateHolding: an institution's answer listed one security twice in one
// account. The answer is nonsense, so nothing of it is stored and the account's
// sync is retried.
var ErrDuplicateHolding = fmt.Errorf("the institution listed a security twice in one account: %w", domain.ErrProviderUnavailable)

// HoldingDetails are a position as the institution reports it.
type HoldingDetails struct {
	SecurityID uuid.UUID
	// Quantity is net (Schwab: long minus short), so negative for a short.
	Quantity money.Decimal
	Price    money.Money // per unit; unset when not given
	// PriceAsOf is the date the price is from (Plaid's institution_price_as_of);
	// zero when not given.
	PriceAsOf   calendar.Date
	MarketValue money.Money
	CostBasis   money.Money // unset when not given
	// AsOf is when the position was true at the institution.
	AsOf time.Time
}

func (d HoldingDetails) validate() error {
	var v domain.ValidationError
	if d.SecurityID == uuid.Nil {
		v.Add("security_id", "required", "A holding names its security.")
	}
	if !d.MarketValue.IsSet() {
		v.Add("market_value", "required", "Market value is required.")
	}
	checkAmounts(&v, d.MarketValue.Currency(), amount{field: "market_value", m: d.MarketValue},
		amount{field: "price", m: d.Price, unitPrice: true}, amount{field: "cost_basis", m: d.CostBasis})
	if d.AsOf.IsZero() {
		v.Add("as_of", "required", "The time the position was true is required.")
	}
	return v.OrNil()
}

// sameValues reports whether d and o hold the same position, whatever the
// scale it is written at ("10" is "10.00") and leaving AsOf aside: a position
// confirmed by a later answer is not a change.
func (d HoldingDetails) sameValues(o HoldingDetails) bool {
	return d.SecurityID == o.SecurityID && d.Quantity.Cmp(o.Quantity) == 0 && d.Price.Equal(o.Price) &&
		d.PriceAsOf == o.PriceAsOf && d.MarketValue.Equal(o.MarketValue) && d.CostBasis.Equal(o.CostBasis)
}

// Holding is a position in one security in one account. An account's holdings
// are a snapshot: each sync's complete answer replaces them (DiffHoldings).
type Holding struct {
	id        uuid.UUID
	accountID uuid.UUID
	details   HoldingDetails
	createdAt time.Time
	updatedAt time.Time
}

// NewHolding records a position. Errors are *domain.ValidationError listing
// every field at fault.
func NewHolding(id, accountID uuid.UUID, d HoldingDetails, now time.Time) (*Holding, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	return &Holding{id: id, accountID: accountID, details: d, createdAt: now, updatedAt: now}, nil
}

// HoldingSnapshot is every field of a Holding, for storage.
type HoldingSnapshot struct {
	ID, AccountID        uuid.UUID
	Details              HoldingDetails
	CreatedAt, UpdatedAt time.Time
}

// Snapshot returns the holding's fields for storage.
func (h *Holding) Snapshot() HoldingSnapshot {
	return HoldingSnapshot{ID: h.id, AccountID: h.accountID, Details: h.details, CreatedAt: h.createdAt, UpdatedAt: h.updatedAt}
}

// RehydrateHolding rebuilds a holding from storage.
func RehydrateHolding(s HoldingSnapshot) *Holding {
	return &Holding{id: s.ID, accountID: s.AccountID, details: s.Details, createdAt: s.CreatedAt, updatedAt: s.UpdatedAt}
}

// ID returns the holding's id.
func (h *Holding) ID() uuid.UUID { return h.id }

// AccountID returns the account holding the position.
func (h *Holding) AccountID() uuid.UUID { return h.accountID }

// Details returns the position as last reported.
func (h *Holding) Details() HoldingDetails { return h.details }

// Currency returns the holding's currency, its market value's.
func (h *Holding) Currency() money.Currency { return h.details.MarketValue.Currency() }

// UpdatedAt returns when the holding last changed.
func (h *Holding) UpdatedAt() time.Time { return h.updatedAt }

// Update replaces the position with a later report of the same security.
// Another security is another holding: ErrInstitutionIDChanged.
func (h *Holding) Update(d HoldingDetails, now time.Time) error {
	if err := d.validate(); err != nil {
		return err
	}
	if d.SecurityID != h.details.SecurityID {
		return ErrInstitutionIDChanged
	}
	h.details, h.updatedAt = d, later(h.updatedAt, now)
	return nil
}

// HoldingUpdate pairs a stored holding with what the new answer says of it.
type HoldingUpdate struct {
	Holding *Holding
	Details HoldingDetails
}

// HoldingChanges is what a complete answer changes in an account's holdings.
type HoldingChanges struct {
	Added []HoldingDetails
	// Updated holdings changed in value (quantity, price, market value ...).
	Updated []HoldingUpdate
	// Confirmed holdings are as stored but for as_of, which moves forward
	// without counting as a change.
	Confirmed []HoldingUpdate
	// Removed holdings are missing from the answer: sold, or moved away.
	Removed []*Holding
}

// DiffHoldings compares an account's stored holdings with the institution's
// complete answer for that account (never a partial one: anything missing from
// it is removed, so a sold position cannot linger). Positions are matched by
// security. A position of zero quantity is no position: it is removed, or not
// added. An answer that is invalid or lists a security twice changes nothing:
// a *domain.ValidationError or ErrDuplicateHolding.
func DiffHoldings(stored []*Holding, answer []HoldingDetails) (HoldingChanges, error) {
	bySecurity := make(map[uuid.UUID]*Holding, len(stored))
	for _, h := range stored {
		bySecurity[h.details.SecurityID] = h
	}
	var c HoldingChanges
	seen := make(map[uuid.UUID]bool, len(answer)) // listed in the answer
	held := make(map[uuid.UUID]bool, len(answer)) // listed with a quantity
	for _, d := range answer {
		if err := d.validate(); err != nil {
			return HoldingChanges{}, err
		}
		if seen[d.SecurityID] {
			return HoldingChanges{}, fmt.Errorf("%w: security %s", ErrDuplicateHolding, d.SecurityID)
		}
		seen[d.SecurityID] = true
		if d.Quantity.Sign() == 0 {
			continue // gone: removed below if stored
		}
		held[d.SecurityID] = true
		switch h := bySecurity[d.SecurityID]; {
		case h == nil:
			c.Added = append(c.Added, d)
		case h.details.sameValues(d):
			c.Confirmed = append(c.Confirmed, HoldingUpdate{h, d})
		default:
			c.Updated = append(c.Updated, HoldingUpdate{h, d})
		}
	}
	for _, h := range stored {
		if !held[h.details.SecurityID] {
			c.Removed = append(c.Removed, h)
		}
	}
	return c, nil
}

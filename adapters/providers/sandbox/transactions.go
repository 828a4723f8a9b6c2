package sandbox

import (
	"fmt"
	"time"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/finance"
)

// slot is one transaction of the ledger and its whole life: when it appears,
// posts, changes and disappears. Its state at any instant follows from it.
type slot struct {
	id      string
	account accountKind
	day     int
	appear  time.Time
	// postAt is when a pending transaction posts (appear for one that is
	// posted from the start); zero when it is removed before posting.
	postAt time.Time
	// modifyAt is when the institution corrects it (zero: never).
	modifyAt time.Time
	// removeAt is when the institution drops it (zero: never).
	removeAt time.Time
	kind     finance.Kind
	// cents is the amount while pending; postedCents once posted (a tip).
	cents, postedCents int64
	// adjustCents is how much a modification adds to the posted amount's
	// size, keeping its sign (a refund stays money in).
	adjustCents int64
	description string
	merchant    string
	category    finance.Category
	// investment is set for brokerage activity.
	investment *tradePlan
}

// tradePlan is the security side of a brokerage transaction.
type tradePlan struct {
	security   sandboxSecurity
	units      int64
	priceCents int64
}

// slot plans transaction k of day d.
func (l ledger) slot(d, k int) slot {
	r := l.rng(streamSlot, uint64(d), uint64(k))
	s := slot{
		id:     fmt.Sprintf("sbx-%016x-t%d-%d", l.seed, d, k),
		day:    d,
		appear: l.start.Add(time.Duration(d)*day + time.Duration(r.Int64N(int64(day/time.Second)))*time.Second),
	}
	switch p := r.IntN(100); {
	case p < 45:
		s.account = checking
	case p < 80:
		s.account = creditCard
	case p < 88:
		s.account = savings
	default:
		s.account = brokerage
	}
	fillActivity(&s, r.IntN(100), r.Int64N(1_000_000))
	s.postedCents, s.postAt = s.cents, s.appear
	switch {
	case k == 0 && !l.large:
		l.planAnchor(&s, r.Int64N(1_000_000), r.Int64N(int64(day)))
	case s.kind == finance.KindPurchase && r.IntN(100) < 25:
		l.planPending(&s, r.IntN(100), r.Int64N(int64(3*day)))
	}
	if !s.postAt.IsZero() && !l.large && r.IntN(100) < 4 {
		s.modifyAt = s.postAt.Add(time.Duration(1+r.IntN(36)) * time.Hour)
		s.adjustCents = 1 + r.Int64N(500)
	}
	return s
}

// planAnchor makes s, the first transaction of its day, a card purchase
// that stays pending two to three days and then posts (never dropped). The
// one of the day before is then pending at every instant of a day, so a
// client always has a pending transaction to watch post; the others are
// left to chance (planPending).
func (l ledger) planAnchor(s *slot, n, wait int64) {
	s.account = creditCard
	purchase(s, n)
	s.investment = nil
	s.postedCents = s.cents
	s.postAt = s.appear.Add(2*day + time.Duration(wait))
}

// planPending makes s a pending card authorization that posts up to three
// days later, a restaurant's with a tip added; one in ten is dropped instead
// (except in the large variant, whose count is fixed).
func (l ledger) planPending(s *slot, p int, wait int64) {
	s.postAt = s.appear.Add(day/2 + time.Duration(wait))
	if s.category.Primary == "FOOD_AND_DRINK" {
		s.postedCents = s.cents + s.cents*(15+int64(p%6))/100
	}
	if !l.large && p < 10 {
		s.removeAt, s.postAt = s.appear.Add(day/2), time.Time{}
	}
}

// fillActivity chooses what s does from its account, a percentage p and a
// random number n.
func fillActivity(s *slot, p int, n int64) {
	switch s.account {
	case checking:
		switch {
		case p < 70:
			purchase(s, n)
		case p < 82:
			s.kind, s.cents, s.description = finance.KindDeposit, 150_000+n%250_000, "PAYROLL DEPOSIT ACME CORP"
			s.category = finance.Category{Primary: "INCOME", Detailed: "INCOME_WAGES"}
		case p < 92:
			s.kind, s.cents, s.description = finance.KindWithdrawal, -(2_000 * (1 + n%10)), "ATM WITHDRAWAL"
		case p < 97:
			s.kind, s.cents, s.description = finance.KindTransfer, -(10_000 + n%90_000), "TRANSFER TO SAVINGS"
		default:
			s.kind, s.cents, s.description = finance.KindFee, -(300 + n%1_200), "MONTHLY SERVICE FEE"
		}
	case creditCard:
		switch {
		case p < 90:
			purchase(s, n)
		case p < 96:
			purchase(s, n)
			s.kind, s.cents, s.description = finance.KindRefund, -s.cents, "REFUND "+s.description
		default:
			s.kind, s.cents, s.description = finance.KindTransfer, 20_000+n%180_000, "PAYMENT THANK YOU"
		}
	case savings:
		if p < 50 {
			s.kind, s.cents, s.description = finance.KindInterest, 1+n%5_000, "INTEREST PAYMENT"
		} else {
			s.kind, s.cents, s.description = finance.KindTransfer, 10_000+n%90_000, "TRANSFER FROM CHECKING"
		}
	case brokerage:
		trade(s, p, n)
	}
}

// merchants the sandbox's purchases are made at.
var merchants = []struct{ name, primary, detailed string }{
	{"Blue Bottle Coffee", "FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE"},
	{"Chipotle", "FOOD_AND_DRINK", "FOOD_AND_DRINK_FAST_FOOD"},
	{"Whole Foods Market", "FOOD_AND_DRINK", "FOOD_AND_DRINK_GROCERIES"},
	{"Shell", "TRANSPORTATION", "TRANSPORTATION_GAS"},
	{"Uber", "TRANSPORTATION", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"},
	{"Amazon", "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"},
	{"Target", "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_SUPERSTORES"},
	{"Netflix", "ENTERTAINMENT", "ENTERTAINMENT_TV_AND_MOVIES"},
	{"Comcast", "RENT_AND_UTILITIES", "RENT_AND_UTILITIES_INTERNET_AND_CABLE"},
}

// purchase makes s a card purchase of up to $250 at one of the merchants.
func purchase(s *slot, n int64) {
	m := merchants[n%int64(len(merchants))]
	s.kind, s.cents = finance.KindPurchase, -(100 + n%25_000)
	s.description, s.merchant = "POS "+m.name, m.name
	s.category = finance.Category{Primary: m.primary, Detailed: m.detailed}
}

// trade makes s a brokerage dividend, buy or sell of one of the securities.
func trade(s *slot, p int, n int64) {
	sec := sandboxSecurities[n%int64(len(sandboxSecurities))]
	price := sec.priceCents(s.day)
	switch {
	case p < 40:
		s.kind, s.cents, s.description = finance.KindDividend, 500+n%20_000, "DIVIDEND "+sec.symbol
		s.investment = &tradePlan{security: sec}
	case p < 75:
		units := 1 + n%20
		s.kind, s.cents, s.description = finance.KindBuy, -units*price, "BUY "+sec.symbol
		s.investment = &tradePlan{security: sec, units: units, priceCents: price}
	default:
		units := 1 + n%10
		s.kind, s.cents, s.description = finance.KindSell, units*price, "SELL "+sec.symbol
		s.investment = &tradePlan{security: sec, units: -units, priceCents: price}
	}
}

// existsAt reports whether the institution lists s at t.
func (s slot) existsAt(t time.Time) bool {
	return !s.appear.After(t) && (s.removeAt.IsZero() || s.removeAt.After(t))
}

// changedIn reports whether s posted or was corrected in (from, to].
func (s slot) changedIn(from, to time.Time) bool {
	in := func(e time.Time) bool { return !e.IsZero() && e.After(from) && !e.After(to) }
	return in(s.postAt) && !s.postAt.Equal(s.appear) || in(s.modifyAt)
}

// record is s as the institution reports it at t, where it exists.
func (l ledger) record(s slot, t time.Time) providers.TransactionRecord {
	posted := !s.postAt.IsZero() && !s.postAt.After(t)
	status, cents := finance.TransactionPending, s.cents
	d := finance.TransactionDetails{
		InstitutionTransactionID: s.id,
		Date:                     l.date(s.day),
		Description:              s.description,
		MerchantName:             s.merchant,
		Category:                 s.category,
		Kind:                     s.kind,
	}
	if posted {
		status, cents = finance.TransactionPosted, s.postedCents
		d.PostedDate = mustDate(s.postAt.UTC())
		if !s.postAt.Equal(s.appear) {
			d.AuthorizedDate = d.Date
		}
	}
	if !s.modifyAt.IsZero() && !s.modifyAt.After(t) {
		if cents < 0 {
			cents -= s.adjustCents
		} else {
			cents += s.adjustCents
		}
		d.Description += " (adjusted)"
	}
	d.Amount = usd(cents)
	rec := providers.TransactionRecord{InstitutionAccountID: l.accountID(s.account), Status: status, Details: d}
	if inv := s.investment; inv != nil {
		rec.Investment = &providers.InvestmentRecord{Security: inv.security.details().Key()}
		if inv.units != 0 {
			rec.Investment.Quantity, rec.Investment.Price = quantity(inv.units), usd(inv.priceCents)
		}
	}
	return rec
}

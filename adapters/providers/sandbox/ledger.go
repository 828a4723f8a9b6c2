package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

const (
	// historyDays is how far before consent a grant's history starts.
	historyDays = 365
	day         = 24 * time.Hour
	// maxEventLag bounds how long after it appears a transaction may still
	// post, change or disappear, so a delta only scans the days that can hold
	// changes.
	maxEventLag = 5 * day
)

// ledger is one grant's institution: a pure function of its seed and of the
// instant asked about. Nothing is stored; what exists at time t is computed,
// so the same grant always sees the same data, and what changed between two
// instants is cheap to find.
//
// The ledger keeps its days in UTC: day d runs from start+d days, and its
// calendar date is that day's, by construction rather than by cutting a
// transaction's timestamp.
type ledger struct {
	seed  uint64
	start time.Time // midnight UTC, historyDays before the day of consent
	// lastDay is the last day with transactions; -1 when they go on forever.
	lastDay int
	large   bool
	// partial: the brokerage account's holdings fail (UserPartial).
	partial bool
}

// newLedger returns the ledger of the grant with the given id, user and
// consent time.
func newLedger(grant, user string, consent time.Time) ledger {
	sum := sha256.Sum256([]byte("dashtam sandbox ledger v1: " + grant))
	l := ledger{
		seed:    binary.BigEndian.Uint64(sum[:8]),
		start:   consent.UTC().Truncate(day).Add(-historyDays * day),
		lastDay: -1,
	}
	switch user {
	case UserLarge:
		l.large, l.lastDay = true, historyDays-1
	case UserPartial:
		l.partial = true
	}
	return l
}

// rng returns the random stream of one named thing of the ledger (a day, a
// transaction slot, a security), the same on every call.
func (l ledger) rng(stream, a, b uint64) *rand.Rand {
	return rand.New(rand.NewPCG(l.seed^stream, a<<32|b))
}

// Streams of rng, so that different things never share numbers.
const (
	streamDayCount uint64 = iota + 1
	streamSlot
	streamAccount
	streamHolding
	streamPrice
)

// dayOf is the ledger day t falls on (negative before the history starts).
func (l ledger) dayOf(t time.Time) int {
	elapsed := t.Sub(l.start)
	d := int(elapsed / day)
	if elapsed < 0 && elapsed%day != 0 {
		d--
	}
	return d
}

// date is the calendar date of day d.
func (l ledger) date(d int) calendar.Date {
	return mustDate(l.start.Add(time.Duration(d) * day))
}

// slots is how many transactions day d holds.
func (l ledger) slots(d int) int {
	if d < 0 || l.lastDay >= 0 && d > l.lastDay {
		return 0
	}
	if l.large {
		n := LargeTransactions / historyDays
		if d < LargeTransactions%historyDays {
			n++
		}
		return n
	}
	return 2 + l.rng(streamDayCount, uint64(d), 0).IntN(6)
}

// mustDate is the calendar date of a UTC instant of the ledger.
func mustDate(t time.Time) calendar.Date {
	d, err := calendar.ParseDate("date", t.Format(time.DateOnly))
	if err != nil {
		panic(fmt.Sprintf("sandbox: %v is not a calendar date: %v", t, err))
	}
	return d
}

// usd is an amount of cents in US dollars.
func usd(cents int64) money.Money {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	m, err := money.ParseAmount("amount", fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100), "USD")
	if err != nil {
		panic(fmt.Sprintf("sandbox: %d cents is not an amount: %v", cents, err))
	}
	return m
}

// quantity is a whole number of units.
func quantity(units int64) money.Decimal {
	q, err := money.ParseQuantity("quantity", fmt.Sprint(units))
	if err != nil {
		panic(fmt.Sprintf("sandbox: %d is not a quantity: %v", units, err))
	}
	return q
}

// The accounts every grant has, in this order.
type accountKind int

const (
	checking accountKind = iota
	savings
	creditCard
	brokerage
	accountKinds
)

// sandboxAccount describes one of the accounts a grant has.
type sandboxAccount struct {
	suffix, name, official, subtype string
	typ                             finance.AccountType
}

var sandboxAccounts = [accountKinds]sandboxAccount{
	checking:   {"chk", "Everyday Checking", "Sandbox Bank Everyday Checking", "checking", finance.AccountDepository},
	savings:    {"sav", "High-Yield Savings", "Sandbox Bank High-Yield Savings", "savings", finance.AccountDepository},
	creditCard: {"cc", "Rewards Card", "Sandbox Bank Rewards Visa", "credit card", finance.AccountCredit},
	brokerage:  {"brk", "Brokerage", "Sandbox Securities Individual Brokerage", "brokerage", finance.AccountInvestment},
}

// accountID is the institution's id of one of the grant's accounts.
func (l ledger) accountID(k accountKind) string {
	return fmt.Sprintf("sbx-%016x-%s", l.seed, sandboxAccounts[k].suffix)
}

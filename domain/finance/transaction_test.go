package finance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/money"
)

// coffee is a card purchase as a connector hands it over: money out, negative.
func coffee(t *testing.T) TransactionDetails {
	return TransactionDetails{InstitutionTransactionID: "lPNjeW1nR6CDn5okmGQ6hEpMo4lLNoSrzqDje", Amount: usd(t, "-4.33"),
		Date: day(t, "2026-12-05"), AuthorizedDate: day(t, "2026-12-04"), Description: "Starbucks",
		MerchantName: "Starbucks", Category: Category{Primary: "FOOD_AND_DRINK", Detailed: "FOOD_AND_DRINK_COFFEE"},
		Kind: KindPurchase}
}

func newTransaction(t *testing.T, status TransactionStatus) *Transaction {
	t.Helper()
	tx, err := NewTransaction(uuid.New(), uuid.New(), uuid.New(), status, coffee(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestTransactionStatusesAndKindsParseByName(t *testing.T) {
	for _, st := range TransactionStatuses() {
		if got, err := ParseTransactionStatus(st.String()); err != nil || got != st {
			t.Errorf("ParseTransactionStatus(%q) = %v, %v", st, got, err)
		}
	}
	for _, k := range Kinds() {
		if got, err := ParseKind(k.String()); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, err)
		}
	}
	if len(Kinds()) != 11 {
		t.Errorf("%d kinds, want DATA.md's 11", len(Kinds()))
	}
	if _, err := ParseTransactionStatus("settled"); !slices.Equal(fieldCodes(t, err), []string{"status:invalid"}) {
		t.Errorf("ParseTransactionStatus(settled): %v", err)
	}
	if _, err := ParseKind("TRADE"); !slices.Equal(fieldCodes(t, err), []string{"kind:invalid"}) {
		t.Errorf("ParseKind(TRADE): %v", err)
	}
}

func TestNewTransactionKeepsWhatTheInstitutionSaid(t *testing.T) {
	id, account, provider := uuid.New(), uuid.New(), uuid.New()
	tx, err := NewTransaction(id, account, provider, TransactionPending, coffee(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	if tx.ID() != id || tx.AccountID() != account || tx.ProviderID() != provider || tx.Status() != TransactionPending ||
		tx.Details() != coffee(t) || tx.Removed() || !tx.RemovedAt().IsZero() {
		t.Errorf("transaction %+v", tx.Snapshot())
	}
	if tx.Version() != 1 || !tx.CreatedAt().Equal(t0) || !tx.UpdatedAt().Equal(t0) {
		t.Errorf("version %d, created %v, updated %v; want 1, %v, %v", tx.Version(), tx.CreatedAt(), tx.UpdatedAt(), t0, t0)
	}
	if want := (TransactionKey{account, coffee(t).InstitutionTransactionID}); tx.Key() != want {
		t.Errorf("key %+v, want %+v", tx.Key(), want)
	}
	if tx.Details().Amount.Amount().Sign() != -1 {
		t.Error("a purchase is money out of the account: negative")
	}
}

func TestNewTransactionRefusesWhatCannotBeStored(t *testing.T) {
	security := uuid.New()
	eur, err := money.ParsePrice("price", "10", "EUR")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		status TransactionStatus
		change func(*TransactionDetails)
		want   []string
	}{
		{"no status", TransactionStatus{}, func(*TransactionDetails) {}, []string{"status:required"}},
		{"no institution id", TransactionPosted, func(d *TransactionDetails) { d.InstitutionTransactionID = "" }, []string{"institution_transaction_id:required"}},
		{"no amount", TransactionPosted, func(d *TransactionDetails) { d.Amount = money.Money{} }, []string{"amount:required"}},
		{"no date", TransactionPosted, func(d *TransactionDetails) { d.Date = calendar.Date{} }, []string{"date:required"}},
		{"no kind", TransactionPosted, func(d *TransactionDetails) { d.Kind = Kind{} }, []string{"kind:required"}},
		{"a pending transaction with a posted date", TransactionPending, func(d *TransactionDetails) { d.PostedDate = d.Date }, []string{"posted_date:not_allowed"}},
		{"a detailed category alone", TransactionPosted, func(d *TransactionDetails) { d.Category.Primary = "" }, []string{"category.primary:required"}},
		{"a buy without its security", TransactionPosted, func(d *TransactionDetails) { d.Kind = KindBuy }, []string{"investment.security_id:required"}},
		{"a sell without its security", TransactionPosted, func(d *TransactionDetails) {
			d.Kind, d.Amount, d.Investment = KindSell, usd(t, "190.00"), Investment{Quantity: quantity(t, "-1")}
		}, []string{"investment.security_id:required"}},
		{"a price in another currency", TransactionPosted, func(d *TransactionDetails) {
			d.Kind, d.Investment = KindBuy, Investment{SecurityID: security, Quantity: quantity(t, "1"), Price: eur}
		}, []string{"investment.price:currency_mismatch"}},
		{"fees in another currency", TransactionPosted, func(d *TransactionDetails) {
			d.Kind, d.Investment = KindBuy, Investment{SecurityID: security, Fees: eur}
		}, []string{"investment.fees:currency_mismatch"}},
		{"an amount as precise as a price", TransactionPosted, func(d *TransactionDetails) { d.Amount = price(t, "-4.33000001") },
			[]string{"amount:too_precise"}},
		{"fees as precise as a price", TransactionPosted, func(d *TransactionDetails) {
			d.Kind, d.Investment = KindBuy, Investment{SecurityID: security, Fees: price(t, "0.00001")}
		}, []string{"investment.fees:too_precise"}},
		{"everything missing", TransactionPosted, func(d *TransactionDetails) { *d = TransactionDetails{} },
			[]string{"amount:required", "date:required", "institution_transaction_id:required", "kind:required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := coffee(t)
			tc.change(&d)
			tx, err := NewTransaction(uuid.New(), uuid.New(), uuid.New(), tc.status, d, t0)
			if tx != nil {
				t.Errorf("got a transaction %+v", tx.Snapshot())
			}
			if got := fieldCodes(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("fields %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKindsWithADirectionRefuseTheOtherSign(t *testing.T) {
	for _, tc := range []struct {
		kind    Kind
		in, out bool // whether money in (+1.00) and out (-1.00) fit
	}{
		{KindDeposit, true, false}, {KindRefund, true, false}, {KindSell, true, false},
		{KindWithdrawal, false, true}, {KindPurchase, false, true}, {KindBuy, false, true},
		{KindTransfer, true, true}, {KindFee, true, true}, {KindInterest, true, true},
		{KindDividend, true, true}, {KindOther, true, true},
	} {
		for _, c := range []struct {
			amount string
			fits   bool
		}{{"1.00", tc.in}, {"-1.00", tc.out}, {"0.00", true}} {
			d := coffee(t)
			d.Kind, d.Amount, d.Category = tc.kind, usd(t, c.amount), Category{}
			if tc.kind == KindBuy || tc.kind == KindSell {
				d.Investment = Investment{SecurityID: uuid.New(), Quantity: quantity(t, "1")}
			}
			_, err := NewTransaction(uuid.New(), uuid.New(), uuid.New(), TransactionPosted, d, t0)
			if c.fits && err != nil {
				t.Errorf("a %s of %s: %v", tc.kind, c.amount, err)
			}
			if !c.fits && !slices.Equal(fieldCodes(t, err), []string{"amount:wrong_sign"}) {
				t.Errorf("a %s of %s: err = %v, want amount:wrong_sign", tc.kind, c.amount, err)
			}
		}
	}
	if len(Kinds()) != 11 {
		t.Errorf("%d kinds, but this table covers 11", len(Kinds()))
	}
}

func TestABuyKeepsItsInvestmentDetails(t *testing.T) {
	d := coffee(t)
	d.Kind, d.Amount, d.Category = KindBuy, usd(t, "-1001.50"), Category{}
	d.Investment = Investment{SecurityID: uuid.New(), Quantity: quantity(t, "10.5"), Price: price(t, "95.23809524"), Fees: usd(t, "1.50")}
	tx, err := NewTransaction(uuid.New(), uuid.New(), uuid.New(), TransactionPosted, d, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := tx.Details().Investment; got != d.Investment || got.IsZero() {
		t.Errorf("investment %+v, want %+v", got, d.Investment)
	}
	if !coffee(t).Investment.IsZero() {
		t.Error("a purchase has investment details")
	}
}

// A transaction is pending, posted or removed (from either). Every change from
// each: the legal ones apply, the others are ErrIllegalTransition (a conflict)
// and change nothing.
func TestEveryTransitionFromEveryState(t *testing.T) {
	at := t0.Add(time.Hour)
	posted := func(t *testing.T) TransactionDetails {
		d := coffee(t)
		d.InstitutionTransactionID, d.Amount, d.PostedDate = "posted-id", usd(t, "-5.33"), day(t, "2026-12-06")
		return d
	}
	modified := func(t *testing.T) TransactionDetails {
		d := coffee(t)
		d.Description = "STARBUCKS #1234"
		return d
	}
	states := []struct {
		name string
		make func(*testing.T) *Transaction
	}{
		{"pending", func(t *testing.T) *Transaction { return newTransaction(t, TransactionPending) }},
		{"posted", func(t *testing.T) *Transaction { return newTransaction(t, TransactionPosted) }},
		{"removed pending", func(t *testing.T) *Transaction {
			tx := newTransaction(t, TransactionPending)
			if err := tx.Remove(t0); err != nil {
				t.Fatal(err)
			}
			return tx
		}},
		{"removed posted", func(t *testing.T) *Transaction {
			tx := newTransaction(t, TransactionPosted)
			if err := tx.Remove(t0); err != nil {
				t.Fatal(err)
			}
			return tx
		}},
	}
	changes := []struct {
		name  string
		apply func(*testing.T, *Transaction) error
		legal map[string]func(*testing.T, *Transaction, TransactionSnapshot) // from state -> check
	}{
		{"post", func(t *testing.T, tx *Transaction) error { return tx.Post(posted(t), at) },
			map[string]func(*testing.T, *Transaction, TransactionSnapshot){
				"pending": func(t *testing.T, tx *Transaction, before TransactionSnapshot) {
					if tx.ID() != before.ID || tx.Status() != TransactionPosted || tx.Details() != posted(t) || tx.Version() != 2 {
						t.Errorf("posted: id %s, status %v, details %+v, version %d; want the same id, posted, %+v, 2",
							tx.ID(), tx.Status(), tx.Details(), tx.Version(), posted(t))
					}
				},
			}},
		{"post linked", func(t *testing.T, tx *Transaction) error { return tx.PostLinked(posted(t), at) },
			map[string]func(*testing.T, *Transaction, TransactionSnapshot){
				"pending": func(t *testing.T, tx *Transaction, before TransactionSnapshot) {
					if tx.ID() != before.ID || tx.Status() != TransactionPosted || tx.Details() != posted(t) || tx.Version() != 2 || tx.Removed() {
						t.Errorf("posted: id %s, status %v, details %+v, version %d, removed %v; want the same id, posted, %+v, 2, live",
							tx.ID(), tx.Status(), tx.Details(), tx.Version(), tx.Removed(), posted(t))
					}
				},
				// Plaid removed the pending id on an earlier page than the
				// posted record naming it: the same transaction, live again.
				"removed pending": func(t *testing.T, tx *Transaction, before TransactionSnapshot) {
					if tx.ID() != before.ID || tx.Status() != TransactionPosted || tx.Details() != posted(t) ||
						tx.Version() != before.Version+1 || tx.Removed() || !tx.RemovedAt().IsZero() {
						t.Errorf("id %s, status %v, details %+v, version %d, removed %v; want the same id posted and live at version %d",
							tx.ID(), tx.Status(), tx.Details(), tx.Version(), tx.Removed(), before.Version+1)
					}
				},
			}},
		{"modify", func(t *testing.T, tx *Transaction) error { _, err := tx.Modify(modified(t), at); return err },
			map[string]func(*testing.T, *Transaction, TransactionSnapshot){
				"pending": func(t *testing.T, tx *Transaction, before TransactionSnapshot) {
					if tx.Status() != TransactionPending || tx.Details() != modified(t) || tx.Version() != 2 {
						t.Errorf("status %v, details %+v, version %d; want pending, modified, 2", tx.Status(), tx.Details(), tx.Version())
					}
				},
				"posted": func(t *testing.T, tx *Transaction, before TransactionSnapshot) {
					if tx.Status() != TransactionPosted || tx.Details() != modified(t) || tx.Version() != 2 {
						t.Errorf("status %v, details %+v, version %d; want posted, modified, 2", tx.Status(), tx.Details(), tx.Version())
					}
				},
			}},
		{"remove", func(t *testing.T, tx *Transaction) error { return tx.Remove(at) },
			map[string]func(*testing.T, *Transaction, TransactionSnapshot){
				"pending": func(t *testing.T, tx *Transaction, before TransactionSnapshot) {
					if !tx.Removed() || !tx.RemovedAt().Equal(at) || tx.Status() != TransactionPending || tx.Version() != 2 {
						t.Errorf("removed %v at %v, status %v, version %d; want a pending tombstone at %v, 2", tx.Removed(), tx.RemovedAt(), tx.Status(), tx.Version(), at)
					}
				},
				"posted": func(t *testing.T, tx *Transaction, before TransactionSnapshot) {
					if !tx.Removed() || tx.Details() != before.Details || tx.Version() != 2 {
						t.Errorf("removed %v, version %d; want a tombstone keeping its details at version 2", tx.Removed(), tx.Version())
					}
				},
			}},
	}
	for _, c := range changes {
		for _, st := range states {
			t.Run(c.name+" "+st.name, func(t *testing.T) {
				tx := st.make(t)
				before := tx.Snapshot()
				err := c.apply(t, tx)
				if check, legal := c.legal[st.name]; legal {
					if err != nil {
						t.Fatalf("err = %v", err)
					}
					check(t, tx, before)
					if !tx.UpdatedAt().Equal(at) {
						t.Errorf("updated %v, want %v", tx.UpdatedAt(), at)
					}
					return
				}
				if !errors.Is(err, ErrIllegalTransition) || !errors.Is(err, domain.ErrConflict) {
					t.Errorf("err = %v, want ErrIllegalTransition (a conflict)", err)
				}
				if after := tx.Snapshot(); after != before {
					t.Errorf("a refused change changed %+v to %+v", before, after)
				}
			})
		}
	}
}

func TestPostKeepsTheInstitutionsIdWhenItDoesNotLinkTwoRecords(t *testing.T) {
	tx := newTransaction(t, TransactionPending) // Schwab: the same activity id, its status changed
	d := coffee(t)
	d.Amount = usd(t, "-6.00")
	if err := tx.Post(d, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tx.Key().InstitutionTransactionID != coffee(t).InstitutionTransactionID || tx.Details().Amount.String() != "-6.00 USD" {
		t.Errorf("key %+v, amount %v", tx.Key(), tx.Details().Amount)
	}
}

func TestRefusedChangesOfDetailsChangeNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status TransactionStatus
		apply  func(*Transaction, TransactionDetails) error
		change func(*TransactionDetails)
		want   error
	}{
		{"post without an amount", TransactionPending, func(tx *Transaction, d TransactionDetails) error { return tx.Post(d, t0.Add(time.Hour)) },
			func(d *TransactionDetails) { d.Amount = money.Money{} }, nil},
		{"modify without a date", TransactionPosted, func(tx *Transaction, d TransactionDetails) error {
			_, err := tx.Modify(d, t0.Add(time.Hour))
			return err
		}, func(d *TransactionDetails) { d.Date = calendar.Date{} }, nil},
		{"modify a pending transaction into a posted date", TransactionPending, func(tx *Transaction, d TransactionDetails) error {
			_, err := tx.Modify(d, t0.Add(time.Hour))
			return err
		}, func(d *TransactionDetails) { d.PostedDate = d.Date }, nil},
		{"modify under another institution id", TransactionPosted, func(tx *Transaction, d TransactionDetails) error {
			_, err := tx.Modify(d, t0.Add(time.Hour))
			return err
		}, func(d *TransactionDetails) { d.InstitutionTransactionID = "another" }, ErrInstitutionIDChanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := newTransaction(t, tc.status)
			before := tx.Snapshot()
			d := coffee(t)
			tc.change(&d)
			err := tc.apply(tx, d)
			var verr *domain.ValidationError
			if tc.want != nil && !errors.Is(err, tc.want) || tc.want == nil && !errors.As(err, &verr) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if after := tx.Snapshot(); after != before {
				t.Errorf("a refused change changed %+v to %+v", before, after)
			}
		})
	}
}

func TestModifyWithTheSameDetailsIsNoChange(t *testing.T) {
	tx := newTransaction(t, TransactionPosted)
	before := tx.Snapshot()
	d := coffee(t)
	d.Description = "  Starbucks\n"
	if changed, err := tx.Modify(d, t0.Add(time.Hour)); err != nil || changed {
		t.Errorf("Modify = %v, %v; want no change", changed, err)
	}
	if tx.Snapshot() != before {
		t.Errorf("no change changed %+v to %+v", before, tx.Snapshot())
	}
}

func TestTransactionSnapshotRoundTrips(t *testing.T) {
	d := coffee(t)
	d.PostedDate = day(t, "2026-12-06")
	s := TransactionSnapshot{ID: uuid.New(), AccountID: uuid.New(), ProviderID: uuid.New(), Status: TransactionPosted,
		Details: d, RemovedAt: t0.Add(time.Hour), Version: 3, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}
	if got := RehydrateTransaction(s).Snapshot(); got != s {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
}

// updated_at and removed_at follow the version even when the clock stands still
// or goes back, so the delta feed's order never contradicts it.
func TestTransactionTimesMoveForwardEvenIfTheClockDoesNot(t *testing.T) {
	tx := newTransaction(t, TransactionPending)
	d := coffee(t)
	d.PostedDate = day(t, "2026-12-06")
	if err := tx.Post(d, t0); err != nil {
		t.Fatal(err)
	}
	if err := tx.Remove(t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(2 * time.Microsecond); !tx.UpdatedAt().Equal(want) || !tx.RemovedAt().Equal(want) || tx.Version() != 3 {
		t.Errorf("updated %v, removed %v, version %d; want %v, %v, 3", tx.UpdatedAt(), tx.RemovedAt(), tx.Version(), want, want)
	}
}

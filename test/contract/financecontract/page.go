package financecontract

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/provider"
)

// batchOf is one account's part of a page: page upserted into a.
func batchOf(t *testing.T, a *finance.Account, page ...finance.TransactionDetails) financeapp.TransactionBatch {
	return financeapp.TransactionBatch{AccountID: a.ID(), InstitutionIDs: keysOf(page),
		Apply: upsert(t, a, finance.TransactionPosted, page...)}
}

func resumeOf(t *testing.T, h Harness, p *provider.Provider) []byte {
	t.Helper()
	got, err := h.Store.TransactionResume(t.Context(), p.ID())
	if err != nil {
		t.Fatalf("TransactionResume: %v", err)
	}
	return got
}

// A crash between pages resumes after the last committed page: so a page's
// rows and its resume state are one commit. A page whose last batch fails
// leaves the rows of its earlier batches, and the resume state, as they were.
func pageAndResumeCommitTogether(t *testing.T, h Harness) {
	p := newProvider(t, h)
	checking, savings := newAccount(t, h, p, "chk"), newAccount(t, h, p, "sav")
	if got := resumeOf(t, h, p); got != nil {
		t.Errorf("resume state before the first page = %q, want nil", got)
	}
	c, err := h.Store.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
		Batches: []financeapp.TransactionBatch{
			batchOf(t, checking, purchase(t, "c1", "-1.00", "2030-01-01")),
			batchOf(t, savings, purchase(t, "s1", "-2.00", "2030-01-01")),
		},
		Resume: []byte("cursor-1"),
	})
	if err != nil || c != (financeapp.TransactionCounts{Added: 2}) {
		t.Fatalf("first page: counts %+v, %v; want 2 added", c, err)
	}
	if got := resumeOf(t, h, p); !bytes.Equal(got, []byte("cursor-1")) {
		t.Errorf("resume state after the first page = %q, want cursor-1", got)
	}

	failing := batchOf(t, savings, purchase(t, "s2", "-3.00", "2030-01-02"))
	failing.Apply = func([]*finance.Transaction) ([]*finance.Transaction, error) { return nil, errBoom }
	_, err = h.Store.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
		From: []byte("cursor-1"),
		Batches: []financeapp.TransactionBatch{
			batchOf(t, checking, purchase(t, "c2", "-4.00", "2030-01-02"), purchase(t, "c1", "-1.50", "2030-01-01")),
			failing,
		},
		Resume: []byte("cursor-2"),
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("a page whose last batch fails: got %v, want the batch's error as it is", err)
	}
	other := newAccount(t, h, newProviderOf(t, h, p.UserID()), "other")
	_, err = h.Store.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
		From: []byte("cursor-1"),
		Batches: []financeapp.TransactionBatch{
			batchOf(t, checking, purchase(t, "c3", "-5.00", "2030-01-03")),
			batchOf(t, other, purchase(t, "o1", "-6.00", "2030-01-03")),
		},
		Resume: []byte("cursor-3"),
	})
	if !errors.Is(err, financeapp.ErrForeignRecord) {
		t.Fatalf("a page with a batch for another provider's account: got %v, want ErrForeignRecord", err)
	}

	if got := resumeOf(t, h, p); !bytes.Equal(got, []byte("cursor-1")) {
		t.Errorf("resume state after the failed pages = %q, want cursor-1 still", got)
	}
	live := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})
	if len(live) != 2 {
		t.Fatalf("%d transactions after the failed pages, want the first page's 2", len(live))
	}
	for _, tr := range live {
		if tr.Version() != 1 {
			t.Errorf("%s was changed (version %d) by a page that failed", tr.Details().InstitutionTransactionID, tr.Version())
		}
	}
	if feed := changes(t, h, p.UserID(), 0); len(feed) != 2 {
		t.Errorf("%d changes in the feed, want the first page's 2", len(feed))
	}
}

// A page spreads over several accounts, and the store may write its batches
// together (one load, one INSERT): a second batch of an account in the same
// page must still see what the first stored, as a page of its own would.
func aPageOverSeveralAccountsStoresEachRowOnce(t *testing.T, h Harness) {
	p := newProvider(t, h)
	checking, savings := newAccount(t, h, p, "chk"), newAccount(t, h, p, "sav")
	c, err := h.Store.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
		Batches: []financeapp.TransactionBatch{
			batchOf(t, checking, purchase(t, "c1", "-1.00", "2030-01-01")),
			batchOf(t, savings, purchase(t, "s1", "-2.00", "2030-01-01"), purchase(t, "s2", "-3.00", "2030-01-02")),
			batchOf(t, checking, purchase(t, "c1", "-1.50", "2030-01-01"), purchase(t, "c2", "-4.00", "2030-01-02")),
		},
		Resume: []byte("cursor-1"),
	})
	if err != nil || c != (financeapp.TransactionCounts{Added: 4, Modified: 1}) {
		t.Fatalf("the page: counts %+v, %v; want 4 added, 1 modified (c1 by the second checking batch)", c, err)
	}
	live := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})
	byKey := map[string]*finance.Transaction{}
	for _, tr := range live {
		byKey[tr.Details().InstitutionTransactionID] = tr
	}
	if len(live) != 4 || len(byKey) != 4 {
		t.Fatalf("%d live transactions under %d keys, want c1, c2, s1, s2 once each", len(live), len(byKey))
	}
	if c1 := byKey["c1"]; c1 == nil || c1.Details().Amount.Amount().String() != "-1.50" || c1.AccountID() != checking.ID() {
		t.Errorf("c1 = %+v, want checking's, modified to -1.50 by the page's second checking batch", c1)
	}
	if s2 := byKey["s2"]; s2 == nil || s2.AccountID() != savings.ID() {
		t.Errorf("s2 = %+v, want savings'", s2)
	}
	feed := changes(t, h, p.UserID(), 0)
	if len(feed) != 4 {
		t.Fatalf("%d changes in the feed, want 4: each transaction once, at its latest position", len(feed))
	}
	for i, ch := range feed {
		if i > 0 && ch.Position <= feed[i-1].Position {
			t.Errorf("feed positions %d then %d, want strictly increasing", feed[i-1].Position, ch.Position)
		}
	}
	if last := feed[len(feed)-1]; last.Transaction.Details().InstitutionTransactionID != "c1" && last.Transaction.Details().InstitutionTransactionID != "c2" {
		t.Errorf("the feed's last change is %s, want one of the page's last batch (c1 or c2)", last.Transaction.Details().InstitutionTransactionID)
	}
}

// The resume state is replaced by each committed page, whatever it holds, and
// is the provider's own.
func resumeIsReplacedByEachPage(t *testing.T, h Harness) {
	p, q := newProvider(t, h), newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	var from []byte
	for i, resume := range [][]byte{[]byte("cursor-1"), {0, 1, 2, 0xff}, nil} {
		_, err := h.Store.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
			From:    from,
			Batches: []financeapp.TransactionBatch{batchOf(t, a, purchase(t, "t1", "-1.00", "2030-01-01"))},
			Resume:  resume,
		})
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		from = resume
		if got := resumeOf(t, h, p); !bytes.Equal(got, resume) {
			t.Errorf("resume state after page %d = %v, want %v", i, got, resume)
		}
	}
	if _, err := h.Store.StoreTransactionPage(t.Context(), q.ID(), financeapp.TransactionPageWrite{Resume: []byte("q")}); err != nil {
		t.Fatalf("an empty page of another provider: %v", err)
	}
	if got := resumeOf(t, h, p); got != nil {
		t.Errorf("another provider's page changed this one's resume state to %q", got)
	}
	if got := resumeOf(t, h, q); !bytes.Equal(got, []byte("q")) {
		t.Errorf("an empty page's resume state = %q, want q: a page with no rows still moves the resume state", got)
	}
}

func equity(institutionID, symbol string) finance.SecurityDetails {
	return finance.SecurityDetails{InstitutionSecurityID: institutionID, Symbol: symbol, Name: symbol + " Inc.",
		Type: finance.SecurityEquity, Currency: usd}
}

// securityID saves d as a security of p and returns its id.
func securityID(t *testing.T, h Harness, p *provider.Provider, d finance.SecurityDetails) uuid.UUID {
	t.Helper()
	ids, err := h.Store.SaveSecurities(t.Context(), p.ID(), []finance.SecurityDetails{d})
	if err != nil || ids[d.Key()] == uuid.Nil {
		t.Fatalf("SaveSecurities = %v, %v", ids, err)
	}
	return ids[d.Key()]
}

// Securities are matched by identity: saving the same ones again keeps their
// ids, a changed symbol updates the stored one, and each provider has its own.
func securitiesUpsertIdempotently(t *testing.T, h Harness) {
	p, q := newProvider(t, h), newProvider(t, h)
	apple, byISIN := equity("sec-aapl", "AAPL"), finance.SecurityDetails{ISIN: "US0378331005", Symbol: "AAPL",
		Type: finance.SecurityEquity, Currency: usd}
	first, err := h.Store.SaveSecurities(t.Context(), p.ID(), []finance.SecurityDetails{apple, byISIN})
	if err != nil || len(first) != 2 || first[apple.Key()] == first[byISIN.Key()] {
		t.Fatalf("SaveSecurities = %v, %v; want two distinct ids", first, err)
	}
	again, err := h.Store.SaveSecurities(t.Context(), p.ID(), []finance.SecurityDetails{byISIN, apple})
	if err != nil || again[apple.Key()] != first[apple.Key()] || again[byISIN.Key()] != first[byISIN.Key()] {
		t.Errorf("the same securities again = %v, %v; want the same ids %v", again, err, first)
	}
	renamed := apple
	renamed.Symbol, renamed.Name = "APPL2", "Apple Renamed"
	third, err := h.Store.SaveSecurities(t.Context(), p.ID(), []finance.SecurityDetails{renamed})
	if err != nil || third[apple.Key()] != first[apple.Key()] {
		t.Errorf("a renamed security = %v, %v; want its id kept", third, err)
	}
	theirs, err := h.Store.SaveSecurities(t.Context(), q.ID(), []finance.SecurityDetails{apple})
	if err != nil || theirs[apple.Key()] == first[apple.Key()] {
		t.Errorf("another provider's security = %v, %v; want an id of its own", theirs, err)
	}
	// The rename is what a holding of it shows.
	a := newAccount(t, h, p, "brokerage")
	putHoldings(t, h, a, holdingOf(t, first[apple.Key()], "1", "10.00"))
	views := holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Limit: 10})
	if len(views) != 1 || views[0].Security.Details().Symbol != "APPL2" || views[0].Security.Details().Name != "Apple Renamed" ||
		views[0].Security.ID() != first[apple.Key()] {
		t.Errorf("the holding's security after the rename: %+v", views)
	}
	bad := equity("", "NOID")
	_, err = h.Store.SaveSecurities(t.Context(), p.ID(), []finance.SecurityDetails{equity("sec-new", "NEW"), bad})
	if _, ok := errors.AsType[*domain.ValidationError](err); !ok {
		t.Errorf("a security with no identity: got %v, want a validation error", err)
	}
}

// A page fetched from a resume state that is no longer the stored one (two
// runs of one sync at once) is ErrStalePage and stores nothing: applied, it
// would move a transaction back to an older state.
func aStalePageStoresNothing(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	first := financeapp.TransactionPageWrite{
		Batches: []financeapp.TransactionBatch{batchOf(t, a, purchase(t, "t1", "-1.00", "2030-01-01"))},
		Resume:  []byte("cursor-1"),
	}
	if _, err := h.Store.StoreTransactionPage(t.Context(), p.ID(), first); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Store.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
		From:    []byte("cursor-1"),
		Batches: []financeapp.TransactionBatch{batchOf(t, a, purchase(t, "t1", "-1.50", "2030-01-01"))},
		Resume:  []byte("cursor-2"),
	}); err != nil {
		t.Fatal(err)
	}
	// The first page again, from the start, as a run that fell behind would
	// store it.
	if _, err := h.Store.StoreTransactionPage(t.Context(), p.ID(), first); !errors.Is(err, financeapp.ErrStalePage) {
		t.Fatalf("a page fetched from a resume state no longer stored: got %v, want ErrStalePage", err)
	}
	live := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})
	if len(live) != 1 || live[0].Details().Amount.Amount().String() != "-1.50" || !bytes.Equal(resumeOf(t, h, p), []byte("cursor-2")) {
		t.Errorf("after the stale page: %d transactions, resume %q; want t1 at -1.50 and cursor-2", len(live), resumeOf(t, h, p))
	}
}

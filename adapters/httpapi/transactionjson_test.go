package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// anyTransaction is a valid transaction, with or without each optional part;
// its texts are drawn from the escaper's tricky strings (those the domain
// refuses are skipped).
var anyTransaction = rapid.Custom(func(t *rapid.T) *finance.Transaction {
	id := func(label string) uuid.UUID { return uuid.UUID(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, label)) }
	amount := func(label string) money.Money {
		m, err := money.ParseAmount(label, fmt.Sprintf("%d.%02d", rapid.Int64Range(-1e9, 1e9).Draw(t, label), rapid.IntRange(0, 99).Draw(t, label+" cents")), "USD")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	date := func(label string) calendar.Date {
		d, err := calendar.ParseDate(label, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rapid.IntRange(0, 3000).Draw(t, label)).Format(time.DateOnly))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	status := rapid.SampledFrom([]finance.TransactionStatus{finance.TransactionPending, finance.TransactionPosted}).Draw(t, "status")
	d := finance.TransactionDetails{
		InstitutionTransactionID: "txn-1",
		Amount:                   amount("amount"),
		Date:                     date("date"),
		Description:              trickyString.Draw(t, "description"),
		MerchantName:             rapid.OneOf(rapid.Just(""), trickyString).Draw(t, "merchant"),
		Kind:                     rapid.SampledFrom([]finance.Kind{finance.KindPurchase, finance.KindDeposit, finance.KindBuy, finance.KindFee}).Draw(t, "kind"),
	}
	if rapid.Bool().Draw(t, "authorized") {
		d.AuthorizedDate = date("authorized_date")
	}
	if status == finance.TransactionPosted && rapid.Bool().Draw(t, "posted") {
		d.PostedDate = date("posted_date")
	}
	if rapid.Bool().Draw(t, "category") {
		d.Category.Primary = trickyString.Draw(t, "primary")
		if rapid.Bool().Draw(t, "detailed") {
			d.Category.Detailed = trickyString.Draw(t, "detailed")
		}
	}
	if rapid.Bool().Draw(t, "investment") {
		q, err := money.ParseQuantity("quantity", fmt.Sprintf("%d.%03d", rapid.Int64Range(-1e6, 1e6).Draw(t, "quantity"), rapid.IntRange(0, 999).Draw(t, "quantity frac")))
		if err != nil {
			t.Fatal(err)
		}
		d.Investment = finance.Investment{SecurityID: id("security_id"), Quantity: q}
		if rapid.Bool().Draw(t, "price") {
			d.Investment.Price = amount("price")
		}
		if rapid.Bool().Draw(t, "fees") {
			d.Investment.Fees = amount("fees")
		}
	}
	tr, err := finance.NewTransaction(id("id"), id("account_id"), id("provider_id"), status, d, anyTime.Draw(t, "now"))
	if err != nil {
		t.Skip("not a valid transaction:", err)
	}
	return tr
})

// The hand-written list encoder writes exactly what encoding/json writes for
// the map-based page it replaced, with and without ?fields=.
func TestTransactionListJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	names := []string{"_links", "account_id", "amount", "authorized_date", "category", "created_at", "currency", "date",
		"description", "id", "investment", "kind", "merchant_name", "posted_date", "provider_id", "status", "updated_at"}
	var seen atomic.Int64
	defer func() {
		if seen.Load() == 0 {
			t.Error("no page with a transaction was checked")
		}
	}()
	rapid.Check(t, func(t *rapid.T) {
		links := api.PageLinks{Self: trickyString.Draw(t, "self"), Next: optional(t, "next", trickyString)}
		next := optional(t, "next_cursor", trickyString)
		hasMore := rapid.Bool().Draw(t, "has_more")
		var fields []string
		if rapid.Bool().Draw(t, "fields") {
			fields = rapid.SliceOfDistinct(rapid.SampledFrom(names), func(s string) string { return s }).Draw(t, "names")
		}
		items := rapid.SliceOfN(anyTransaction, 0, 4).Draw(t, "items")
		want := transactionListJSON{Links: links, HasMore: hasMore, NextCursor: next, Items: make([]map[string]any, len(items))}
		for i, tr := range items {
			want.Items[i] = transactionJSON(tr, fields)
		}
		if len(items) > 0 {
			seen.Add(1)
		}
		raw, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTransactionList(nil, links, hasMore, items, fields, next); !bytes.Equal(got, raw) {
			t.Fatalf("got\n%s\nwant\n%s", got, raw)
		}
	})
}

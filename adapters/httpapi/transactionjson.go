package httpapi

import (
	"slices"
	"strconv"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	"github.com/dashtam/dashtam/domain/finance"
)

// appendTransactionList appends the list page exactly as encoding/json writes
// transactionListJSON with items from transactionJSON (maps, so keys in byte
// order), without building the maps: encoding/json's reflection over twenty
// maps of seventeen keys was the largest part of a page's CPU, which the
// baseline of make bench does not pay (docs/performance.md). Property-tested
// against encoding/json (TestTransactionListJSONMatchesEncodingJSON).
func appendTransactionList(b []byte, links api.PageLinks, hasMore bool, items []*finance.Transaction, fields []string, next *string) []byte {
	b = append(b, `{"_links":`...)
	b = appendPageLinks(b, links)
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	b = append(b, `,"items":`...)
	b = append(b, '[') // an empty page too: the handler made its items with make
	for i, t := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTransaction(b, t, fields)
	}
	b = append(b, ']')
	b = append(b, `,"next_cursor":`...)
	if next == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *next)
	}
	return append(b, '}')
}

// appendTransaction appends transactionJSON(t, fields) as encoding/json writes
// it: the keys in byte order, absent values null.
func appendTransaction(b []byte, t *finance.Transaction, fields []string) []byte {
	d := t.Details()
	first := true
	key := func(name string) bool {
		if name != "id" && fields != nil && !slices.Contains(fields, name) {
			return false
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		return true
	}
	optional := func(s *string) {
		if s == nil {
			b = append(b, "null"...)
		} else {
			b = appendJSONString(b, *s)
		}
	}
	b = append(b, '{')
	if key("_links") {
		b = append(b, `{"account":`...)
		b = appendJSONString(b, accountPath(t.AccountID()))
		b = append(b, `,"self":`...)
		b = appendJSONString(b, transactionPath(t.ID()))
		b = append(b, '}')
	}
	if key("account_id") {
		b = appendUUID(b, t.AccountID())
	}
	if key("amount") {
		b = appendJSONString(b, d.Amount.Amount().String())
	}
	if key("authorized_date") {
		optional(optionalDate(d.AuthorizedDate))
	}
	if key("category") {
		b = append(b, `{"detailed":`...)
		optional(optionalText(d.Category.Detailed))
		b = append(b, `,"primary":`...)
		optional(optionalText(d.Category.Primary))
		b = append(b, '}')
	}
	if key("created_at") {
		b = appendTime(b, t.CreatedAt().UTC())
	}
	if key("currency") {
		b = appendJSONString(b, d.Amount.Currency().String())
	}
	if key("date") {
		b = appendJSONString(b, d.Date.String())
	}
	if key("description") {
		b = appendJSONString(b, d.Description)
	}
	if key("id") {
		b = appendUUID(b, t.ID())
	}
	if key("investment") {
		if inv := investmentJSON(d.Investment); inv == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, `{"fees":`...)
			optional(inv.Fees)
			b = append(b, `,"price":`...)
			optional(inv.Price)
			b = append(b, `,"quantity":`...)
			b = appendJSONString(b, inv.Quantity)
			b = append(b, `,"security_id":`...)
			b = appendUUID(b, inv.SecurityId)
			b = append(b, '}')
		}
	}
	if key("kind") {
		b = appendJSONString(b, d.Kind.String())
	}
	if key("merchant_name") {
		optional(optionalText(d.MerchantName))
	}
	if key("posted_date") {
		optional(optionalDate(d.PostedDate))
	}
	if key("provider_id") {
		b = appendUUID(b, t.ProviderID())
	}
	if key("status") {
		b = appendJSONString(b, t.Status().String())
	}
	if key("updated_at") {
		b = appendTime(b, t.UpdatedAt().UTC())
	}
	return append(b, '}')
}

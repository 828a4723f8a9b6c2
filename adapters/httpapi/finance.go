package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// The financial-data reads: accounts with their balances, balance history,
// transactions and their changes feed. Money leaves as decimal strings with
// their currency, never as JSON numbers; an institution's own ids and full
// account numbers never leave at all (the domain keeps only a mask).

// Default page sizes of the cursor lists.
const (
	defaultPageSize    = 20
	defaultChangesSize = financeapp.MaxPageSize
)

// ListAccounts lists the caller's accounts in offset or cursor mode.
func (s *Server) ListAccounts(c *gin.Context, params api.ListAccountsParams) {
	q, cursorMode, err := s.accountQuery(principal(c).UserID, params)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.App.Finance.ListAccounts(c.Request.Context(), q, cursorMode)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]api.Account, len(page.Items))
	for i, v := range page.Items {
		items[i] = accountJSON(v)
	}
	body := api.AccountList{Items: items}
	c.Header("Cache-Control", "private, no-cache")
	if cursorMode {
		body.HasMore = &page.HasMore
		body.UnderscoreLinks.Self = c.Request.URL.RequestURI()
		if page.HasMore {
			next := s.cursors.seal(accountsFingerprint(q), page.Next[:])
			body.NextCursor = &next
			body.UnderscoreLinks.Next = nextPageLink(c, next, q.Limit)
		}
		c.JSON(http.StatusOK, body)
		return
	}
	pageNum, perPage := q.Offset/q.Limit+1, q.Limit
	links, header := offsetLinks(c.Request.URL, pageNum, perPage, page.Total)
	pages := int32(pageCount(page.Total, perPage))
	pn, pp := int32(pageNum), int32(perPage)
	body.Total, body.Page, body.PerPage, body.Pages, body.UnderscoreLinks = &page.Total, &pn, &pp, &pages, links
	c.Header("X-Total-Count", strconv.FormatInt(page.Total, 10))
	c.Header("Link", header)
	c.JSON(http.StatusOK, body)
}

// accountQuery turns the query parameters into an AccountQuery, reporting
// every unusable parameter by name.
func (s *Server) accountQuery(userID uuid.UUID, params api.ListAccountsParams) (financeapp.AccountQuery, bool, error) {
	verr := &domain.ValidationError{}
	q := financeapp.AccountQuery{UserID: userID}
	q.Filter.ProviderID = deref(params.ProviderId, uuid.Nil)
	if params.Type != nil {
		t, err := finance.ParseAccountType(string(*params.Type))
		verr.Merge(err)
		q.Filter.Type = t
	}
	if params.Status != nil {
		st, err := finance.ParseAccountStatus(string(*params.Status))
		verr.Merge(err)
		q.Filter.Status = st
	}
	q.Filter.Search = deref(params.Search, "")
	cursorMode := params.Cursor != nil || params.Limit != nil
	if !cursorMode {
		page, perPage := int(deref(params.Page, 1)), int(deref(params.PerPage, defaultPageSize))
		q.Offset, q.Limit = (page-1)*perPage, perPage
		return q, false, verr.OrNil()
	}
	if params.Page != nil || params.PerPage != nil {
		verr.Add("page", "conflict", "Use either page/per_page (offset mode) or cursor/limit (cursor mode), not both.")
	}
	q.Limit = int(deref(params.Limit, defaultPageSize))
	if params.Cursor != nil && len(verr.Fields) == 0 {
		r, err := s.cursors.open(accountsFingerprint(q), *params.Cursor)
		if err != nil {
			return q, true, err
		}
		copy(q.After[:], r.bytes(len(q.After)))
		if err := r.done(); err != nil {
			return q, true, err
		}
	}
	return q, true, verr.OrNil()
}

// GetAccount returns one of the caller's accounts with its current balance,
// honouring If-None-Match. Its ETag covers the balance too, which changes
// without the account's version moving.
func (s *Server) GetAccount(c *gin.Context, id uuid.UUID, _ api.GetAccountParams) {
	v, err := s.App.Finance.GetAccount(c.Request.Context(), principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	etag := accountETag(v)
	c.Header("ETag", etag)
	if c.GetHeader("If-None-Match") != "" && notModified(c.Request, etag, v.Account.UpdatedAt(), s.Now()) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, accountJSON(v))
}

// accountETag is the account's version and, when it has one, its current
// balance's as_of (balances only grow forward, so each as_of names one).
func accountETag(v financeapp.AccountView) string {
	if v.Balance == nil {
		return etagOf(v.Account.Version(), "")
	}
	return `"` + strconv.FormatInt(v.Account.Version(), 10) + "." + strconv.FormatInt(v.Balance.AsOf().UnixMicro(), 10) + `"`
}

// ListAccountBalances lists the balance history of one of the caller's
// accounts, newest first, in cursor mode.
func (s *Server) ListAccountBalances(c *gin.Context, id uuid.UUID, params api.ListAccountBalancesParams) {
	q, fingerprint, err := s.balanceQuery(principal(c).UserID, id, params)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.App.Finance.ListBalances(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := api.BalanceList{Items: make([]api.Balance, len(page.Items)), HasMore: page.HasMore}
	for i, b := range page.Items {
		body.Items[i] = balanceJSON(b)
	}
	body.UnderscoreLinks.Self = c.Request.URL.RequestURI()
	if page.HasMore {
		next := s.cursors.seal(fingerprint, appendInt64(nil, page.Next.UnixMicro()))
		body.NextCursor = &next
		body.UnderscoreLinks.Next = nextPageLink(c, next, q.Limit)
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, body)
}

func (s *Server) balanceQuery(userID, accountID uuid.UUID, params api.ListAccountBalancesParams) (financeapp.BalanceHistoryQuery, string, error) {
	verr := &domain.ValidationError{}
	q := financeapp.BalanceHistoryQuery{UserID: userID, AccountID: accountID, Limit: int(deref(params.Limit, defaultPageSize))}
	q.From = parseDateParam(verr, "from", params.From)
	q.To = parseDateParam(verr, "to", params.To)
	fingerprint := fingerprintOf("balances", userID.String(), accountID.String(), q.From.String(), q.To.String())
	if err := verr.OrNil(); err != nil || params.Cursor == nil {
		return q, fingerprint, err
	}
	r, err := s.cursors.open(fingerprint, *params.Cursor)
	if err != nil {
		return q, fingerprint, err
	}
	q.Before = time.UnixMicro(r.int64()).UTC()
	return q, fingerprint, r.done()
}

// ListTransactions lists the caller's live transactions, newest first, in
// cursor mode.
func (s *Server) ListTransactions(c *gin.Context, params api.ListTransactionsParams) {
	q, fields, fingerprint, err := s.transactionQuery(principal(c).UserID, params)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.App.Finance.ListTransactions(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	links := api.PageLinks{Self: c.Request.URL.RequestURI()}
	var next *string
	if page.HasMore {
		cursor := s.cursors.seal(fingerprint, appendTransactionPosition(nil, page.Next))
		next, links.Next = &cursor, nextPageLink(c, cursor, q.Limit)
	}
	c.Header("Cache-Control", "private, no-cache")
	writeJSON(c, http.StatusOK, func(b []byte) []byte {
		return appendTransactionList(b, links, page.HasMore, page.Items, fields, next)
	})
}

// transactionListJSON is api.TransactionList with its items as rendered by
// transactionJSON, which keeps the nulls the document promises.
type transactionListJSON struct {
	Links      api.PageLinks    `json:"_links"`
	HasMore    bool             `json:"has_more"`
	Items      []map[string]any `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

// transactionQuery turns the query parameters into a TransactionQuery,
// reporting every unusable parameter by name, and returns the requested
// fields and the query's cursor fingerprint.
func (s *Server) transactionQuery(userID uuid.UUID, params api.ListTransactionsParams) (financeapp.TransactionQuery, []string, string, error) {
	verr := &domain.ValidationError{}
	q := financeapp.TransactionQuery{UserID: userID, Limit: int(deref(params.Limit, defaultPageSize))}
	f := &q.Filter
	f.AccountID = deref(params.AccountId, uuid.Nil)
	f.ProviderID = deref(params.ProviderId, uuid.Nil)
	if params.Status != nil {
		st, err := finance.ParseTransactionStatus(string(*params.Status))
		verr.Merge(err)
		f.Status = st
	}
	if params.Kind != nil {
		k, err := finance.ParseKind(string(*params.Kind))
		verr.Merge(err)
		f.Kind = k
	}
	f.DateFrom = parseDateParam(verr, "date_from", params.DateFrom)
	f.DateTo = parseDateParam(verr, "date_to", params.DateTo)
	f.AmountMin = parseAmountParam(verr, "amount_min", params.AmountMin)
	f.AmountMax = parseAmountParam(verr, "amount_max", params.AmountMax)
	f.Search = deref(params.Search, "")
	fields, err := parseFields(params.Fields, transactionFieldNames)
	verr.Merge(err)
	fingerprint := fingerprintOf("transactions", userID.String(), f.AccountID.String(), f.ProviderID.String(),
		f.Status.String(), f.Kind.String(), f.DateFrom.String(), f.DateTo.String(), decimalKey(f.AmountMin), decimalKey(f.AmountMax), f.Search)
	if err := verr.OrNil(); err != nil || params.Cursor == nil {
		return q, fields, fingerprint, err
	}
	r, err := s.cursors.open(fingerprint, *params.Cursor)
	if err != nil {
		return q, fields, fingerprint, err
	}
	date, err := calendar.ParseDate("cursor", r.string())
	var pos financeapp.TransactionPosition
	pos.Date = date
	copy(pos.ID[:], r.bytes(len(pos.ID)))
	if err != nil || r.done() != nil {
		return q, fields, fingerprint, errInvalidCursor
	}
	q.After = &pos
	return q, fields, fingerprint, nil
}

func parseDateParam(verr *domain.ValidationError, name string, raw *string) calendar.Date {
	if raw == nil {
		return calendar.Date{}
	}
	d, err := calendar.ParseDate(name, *raw)
	verr.Merge(err)
	return d
}

func parseAmountParam(verr *domain.ValidationError, name string, raw *string) *money.Decimal {
	if raw == nil {
		return nil
	}
	d, err := money.ParseQuantity(name, *raw)
	if err != nil {
		verr.Merge(err)
		return nil
	}
	return &d
}

func decimalKey(d *money.Decimal) string {
	if d == nil {
		return ""
	}
	return d.String()
}

// GetTransaction returns one of the caller's live transactions, honouring
// If-None-Match and If-Modified-Since.
func (s *Server) GetTransaction(c *gin.Context, id uuid.UUID, params api.GetTransactionParams) {
	fields, err := parseFields(params.Fields, transactionFieldNames)
	if err != nil {
		s.fail(c, err)
		return
	}
	t, err := s.App.Finance.GetTransaction(c.Request.Context(), principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	etag := etagOf(t.Version(), deref(params.Fields, ""))
	c.Header("ETag", etag)
	now := s.Now()
	setLastModified(c, t.UpdatedAt(), now)
	if notModified(c.Request, etag, t.UpdatedAt(), now) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, transactionJSON(t, fields))
}

// ListTransactionChanges serves the changes feed from the cursor's position
// (from the beginning without one).
func (s *Server) ListTransactionChanges(c *gin.Context, params api.ListTransactionChangesParams) {
	userID := principal(c).UserID
	fingerprint := fingerprintOf("changes", userID.String())
	after, err := s.cursors.openPosition(fingerprint, params.Cursor, 0)
	if err != nil {
		s.fail(c, err)
		return
	}
	limit := int(deref(params.Limit, defaultChangesSize))
	page, err := s.App.Finance.Changes(c.Request.Context(), userID, after, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := changesJSON{Added: []map[string]any{}, Modified: []map[string]any{}, Removed: []api.RemovedTransaction{}, HasMore: page.HasMore}
	for _, ch := range page.Changes {
		t := ch.Transaction
		switch ch.Type {
		case financeapp.ChangeRemoved:
			body.Removed = append(body.Removed, api.RemovedTransaction{Id: t.ID(), AccountId: t.AccountID()})
		case financeapp.ChangeAdded:
			body.Added = append(body.Added, transactionJSON(t, nil))
		default:
			body.Modified = append(body.Modified, transactionJSON(t, nil))
		}
	}
	body.NextCursor = s.cursors.seal(fingerprint, appendInt64(nil, page.Next))
	body.Links.Self = c.Request.URL.RequestURI()
	body.Links.Next = nextPageLink(c, body.NextCursor, limit)
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, body)
}

// changesJSON is api.TransactionChanges with its transactions as rendered by
// transactionJSON.
type changesJSON struct {
	Links      api.PageLinks            `json:"_links"`
	Added      []map[string]any         `json:"added"`
	HasMore    bool                     `json:"has_more"`
	Modified   []map[string]any         `json:"modified"`
	NextCursor string                   `json:"next_cursor"`
	Removed    []api.RemovedTransaction `json:"removed"`
}

// nextPageLink returns the request's URL with cursor and limit set to
// continue after this page, and sets it as the Link header's next.
func nextPageLink(c *gin.Context, cursor string, limit int) *string {
	u := *c.Request.URL
	query := u.Query()
	query.Set("cursor", cursor)
	query.Set("limit", strconv.Itoa(limit))
	next := u.Path + "?" + query.Encode()
	c.Header("Link", `<`+next+`>; rel="next"`)
	return &next
}

// accountsFingerprint identifies a cursor-mode account list query.
func accountsFingerprint(q financeapp.AccountQuery) string {
	f := q.Filter
	return fingerprintOf("accounts", q.UserID.String(), f.ProviderID.String(), f.Type.String(), f.Status.String(), f.Search)
}

// fingerprintOf identifies one query of one list: the list's name, then the
// caller and every filter, each length-prefixed so that no two queries
// collide. A cursor only continues the query it came from.
func fingerprintOf(list string, parts ...string) string {
	b := appendString(nil, list)
	for _, p := range parts {
		b = appendString(b, p)
	}
	return hashFingerprint(b)
}

// appendTransactionPosition lays out a -date,-id position: the date as
// YYYY-MM-DD, then the id.
func appendTransactionPosition(b []byte, p financeapp.TransactionPosition) []byte {
	b = appendString(b, p.Date.String())
	return append(b, p.ID[:]...)
}

var transactionFieldNames = []string{"id", "account_id", "provider_id", "status", "amount", "currency", "date",
	"authorized_date", "posted_date", "description", "merchant_name", "category", "kind", "investment",
	"created_at", "updated_at", "_links"}

func accountPath(id uuid.UUID) string     { return apiBase + "/accounts/" + id.String() }
func transactionPath(id uuid.UUID) string { return apiBase + "/transactions/" + id.String() }

// accountJSON renders an account with its current balance. Never the
// institution's account id: the domain hands out only the mask.
func accountJSON(v financeapp.AccountView) api.Account {
	a := v.Account
	self := accountPath(a.ID())
	out := api.Account{
		Id: a.ID(), ProviderId: a.ProviderID(), Name: a.Name(),
		OfficialName: optionalText(a.OfficialName()), Mask: optionalText(a.Mask()),
		Type: api.AccountType(a.Type().String()), Subtype: optionalText(a.Subtype()),
		Currency: a.Currency().String(), Status: api.AccountStatus(a.Status().String()),
		CreatedAt: a.CreatedAt().UTC(), UpdatedAt: a.UpdatedAt().UTC(),
		UnderscoreLinks: api.AccountLinks{Self: self, Balances: self + "/balances",
			Transactions: apiBase + "/transactions?" + url.Values{"account_id": {a.ID().String()}}.Encode(),
			Provider:     providerPath(a.ProviderID())},
	}
	if v.Balance != nil {
		b := balanceJSON(*v.Balance)
		out.Balance = &b
	}
	return out
}

func balanceJSON(b finance.Balance) api.Balance {
	return api.Balance{Current: b.Current().Amount().String(), Available: optionalAmount(b.Available()),
		Limit: optionalAmount(b.Limit()), Currency: b.Currency().String(), AsOf: b.AsOf().UTC()}
}

// transactionJSON renders t, limited to fields when it is not nil (id
// always). It is a map rather than api.Transaction because the document's
// optional fields (optional for ?fields=) are null, not absent, when they
// have no value, and the generated type would drop them.
func transactionJSON(t *finance.Transaction, fields []string) map[string]any {
	d := t.Details()
	out := map[string]any{
		"id":              t.ID(),
		"account_id":      t.AccountID(),
		"provider_id":     t.ProviderID(),
		"status":          t.Status().String(),
		"amount":          d.Amount.Amount().String(),
		"currency":        d.Amount.Currency().String(),
		"date":            d.Date.String(),
		"authorized_date": optionalDate(d.AuthorizedDate),
		"posted_date":     optionalDate(d.PostedDate),
		"description":     d.Description,
		"merchant_name":   optionalText(d.MerchantName),
		"category":        api.TransactionCategory{Primary: optionalText(d.Category.Primary), Detailed: optionalText(d.Category.Detailed)},
		"kind":            d.Kind.String(),
		"investment":      investmentJSON(d.Investment),
		"created_at":      t.CreatedAt().UTC(),
		"updated_at":      t.UpdatedAt().UTC(),
		"_links":          api.TransactionLinks{Self: transactionPath(t.ID()), Account: accountPath(t.AccountID())},
	}
	if fields != nil {
		for name := range out {
			if name != "id" && !slices.Contains(fields, name) {
				delete(out, name)
			}
		}
	}
	return out
}

func investmentJSON(inv finance.Investment) *api.TransactionInvestment {
	if inv.IsZero() {
		return nil
	}
	return &api.TransactionInvestment{SecurityId: inv.SecurityID, Quantity: inv.Quantity.String(),
		Price: optionalAmount(inv.Price), Fees: optionalAmount(inv.Fees)}
}

// optionalAmount is m's decimal string, or nil (JSON null) when m is unset.
func optionalAmount(m money.Money) *string {
	if !m.IsSet() {
		return nil
	}
	s := m.Amount().String()
	return &s
}

func optionalText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optionalDate(d calendar.Date) *string {
	if d.IsZero() {
		return nil
	}
	s := d.String()
	return &s
}

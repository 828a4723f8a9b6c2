package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
)

// ListHoldings lists the caller's holdings, each with its security, in order
// of id, in cursor mode.
func (s *Server) ListHoldings(c *gin.Context, params api.ListHoldingsParams) {
	q, fingerprint, err := s.holdingQuery(principal(c).UserID, params)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.App.Finance.ListHoldings(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := api.HoldingList{Items: make([]api.Holding, len(page.Items)), HasMore: page.HasMore}
	for i, v := range page.Items {
		body.Items[i] = holdingJSON(v)
	}
	body.UnderscoreLinks.Self = c.Request.URL.RequestURI()
	if page.HasMore {
		next := s.cursors.seal(fingerprint, page.Next[:])
		body.NextCursor = &next
		body.UnderscoreLinks.Next = nextPageLink(c, next, q.Limit)
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, body)
}

// holdingQuery turns the query parameters into a HoldingQuery and returns
// its cursor fingerprint.
func (s *Server) holdingQuery(userID uuid.UUID, params api.ListHoldingsParams) (financeapp.HoldingQuery, string, error) {
	q := financeapp.HoldingQuery{UserID: userID, Limit: int(deref(params.Limit, defaultPageSize))}
	f := &q.Filter
	f.AccountID = deref(params.AccountId, uuid.Nil)
	f.ProviderID = deref(params.ProviderId, uuid.Nil)
	if params.SecurityType != nil {
		t, err := finance.ParseSecurityType(string(*params.SecurityType))
		if err != nil {
			return q, "", err
		}
		f.SecurityType = t
	}
	f.Symbol = deref(params.Symbol, "")
	fingerprint := fingerprintOf("holdings", userID.String(), f.AccountID.String(), f.ProviderID.String(),
		f.SecurityType.String(), f.Symbol)
	if params.Cursor == nil {
		return q, fingerprint, nil
	}
	r, err := s.cursors.open(fingerprint, *params.Cursor)
	if err != nil {
		return q, fingerprint, err
	}
	copy(q.After[:], r.bytes(len(q.After)))
	return q, fingerprint, r.done()
}

// holdingJSON renders a holding with its security as DATA.md's Holding
// shape: quantities, prices and values as decimal strings. The security's
// institution id never leaves; its CUSIP and ISIN are public identifiers.
func holdingJSON(v financeapp.HoldingView) api.Holding {
	h, d := v.Holding, v.Holding.Details()
	sd := v.Security.Details()
	return api.Holding{
		Id: h.ID(), AccountId: h.AccountID(),
		Security: api.Security{Id: v.Security.ID(), Symbol: optionalText(sd.Symbol), Name: optionalText(sd.Name),
			Type: api.SecurityType(sd.Type.String()), Cusip: optionalText(sd.CUSIP), Isin: optionalText(sd.ISIN),
			Currency: sd.Currency.String()},
		Quantity: d.Quantity.String(), Price: optionalAmount(d.Price), PriceAsOf: optionalDay(d.PriceAsOf),
		MarketValue: d.MarketValue.Amount().String(), CostBasis: optionalAmount(d.CostBasis),
		Currency: h.Currency().String(), AsOf: d.AsOf.UTC(),
	}
}

// optionalDay is d as the document's date, or nil (JSON null) when it is
// zero. The calendar date is carried over field by field, never through a
// time zone.
func optionalDay(d calendar.Date) *openapi_types.Date {
	if d.IsZero() {
		return nil
	}
	return &openapi_types.Date{Time: time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)}
}

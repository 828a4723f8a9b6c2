package httpapi_test

import (
	"net/url"
	"regexp"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
)

type holdingBody struct {
	ID        string `json:"id"`
	AccountID string `json:"account_id"`
	Security  struct {
		ID     string  `json:"id"`
		Symbol *string `json:"symbol"`
		Type   string  `json:"type"`
	} `json:"security"`
	Quantity    string  `json:"quantity"`
	Price       *string `json:"price"`
	MarketValue string  `json:"market_value"`
	CostBasis   *string `json:"cost_basis"`
	Currency    string  `json:"currency"`
}

type holdingListBody struct {
	Items      []holdingBody `json:"items"`
	NextCursor *string       `json:"next_cursor"`
	HasMore    bool          `json:"has_more"`
}

var decimalString = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

func TestHoldingsAPI(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testHoldingsAPI)
}

func testHoldingsAPI(t *testing.T, opts apitest.Options) {
	h := apitest.New(t, opts)
	ann, bob := verifiedUser(t, h, "ann@example.com"), verifiedUser(t, h, "bob@example.com")
	annP := connectSandbox(t, h, ann, "Ann's sandbox", "")
	if s := firstSync(t, h, ann, annP); s.Status != "succeeded" {
		t.Fatalf("first sync = %+v", s)
	}
	get := func(token, query string) holdingListBody {
		t.Helper()
		var l holdingListBody
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/holdings" + query, Token: token}).Expect(t, 200).JSON(t, &l)
		return l
	}
	all := get(ann, "?limit=100")
	t.Run("the synced positions, with their security, money as decimal strings", func(t *testing.T) {
		if len(all.Items) == 0 || all.HasMore {
			t.Fatalf("holdings = %+v", all)
		}
		raw := object(t, h.Do(apitest.Request{Method: "GET", Path: "/api/v1/holdings", Token: ann}).Expect(t, 200).Body)
		for _, item := range raw["items"].([]any) {
			m := item.(map[string]any)
			for _, f := range []string{"quantity", "market_value"} {
				if s, ok := m[f].(string); !ok || !decimalString.MatchString(s) {
					t.Errorf("%s = %#v, want a decimal string", f, m[f])
				}
			}
			if _, ok := m["security"].(map[string]any); !ok {
				t.Errorf("security = %#v", m["security"])
			}
		}
		for _, it := range all.Items {
			if it.Currency != "USD" || it.Security.ID == "" || it.AccountID == "" {
				t.Errorf("holding = %+v", it)
			}
		}
	})
	t.Run("filters: account_id, provider_id, security_type, symbol", func(t *testing.T) {
		h0 := all.Items[0]
		if l := get(ann, "?account_id="+h0.AccountID); len(l.Items) == 0 {
			t.Errorf("account filter found nothing")
		}
		if l := get(ann, "?provider_id="+annP); len(l.Items) != len(all.Items) {
			t.Errorf("provider filter = %d items, want %d", len(l.Items), len(all.Items))
		}
		byType := get(ann, "?limit=100&security_type="+h0.Security.Type)
		for _, it := range byType.Items {
			if it.Security.Type != h0.Security.Type {
				t.Errorf("security_type filter let through %+v", it)
			}
		}
		if len(byType.Items) == 0 {
			t.Error("security_type filter found nothing")
		}
		for _, it := range all.Items {
			if it.Security.Symbol == nil {
				continue
			}
			l := get(ann, "?symbol="+url.QueryEscape(*it.Security.Symbol))
			if len(l.Items) == 0 || l.Items[0].Security.Symbol == nil || *l.Items[0].Security.Symbol != *it.Security.Symbol {
				t.Errorf("symbol %s = %+v", *it.Security.Symbol, l.Items)
			}
			break
		}
	})
	t.Run("cursor mode walks every holding once", func(t *testing.T) {
		seen := map[string]bool{}
		path := "/api/v1/holdings?limit=2"
		for range len(all.Items) {
			var page holdingListBody
			h.Do(apitest.Request{Method: "GET", Path: path, Token: ann}).Expect(t, 200).JSON(t, &page)
			for _, it := range page.Items {
				if seen[it.ID] {
					t.Errorf("%s seen twice", it.ID)
				}
				seen[it.ID] = true
			}
			if page.NextCursor == nil {
				break
			}
			path = "/api/v1/holdings?limit=2&cursor=" + *page.NextCursor
		}
		if len(seen) != len(all.Items) {
			t.Errorf("walked %d, want %d", len(seen), len(all.Items))
		}
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/holdings?cursor=AAAA.forged", Token: ann}).Expect(t, 422)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/holdings?security_type=bond", Token: ann}).Expect(t, 422)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/holdings?symbl=AAPL", Token: ann}).Expect(t, 422)
	})
	t.Run("another user sees none of them, even naming the account or provider", func(t *testing.T) {
		for _, q := range []string{"", "?account_id=" + all.Items[0].AccountID, "?provider_id=" + annP} {
			if l := get(bob, q); len(l.Items) != 0 {
				t.Errorf("bob %q = %+v", q, l.Items)
			}
		}
	})
}

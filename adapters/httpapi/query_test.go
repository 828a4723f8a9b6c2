package httpapi_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
)

// Hardening item 14: a query parameter an operation does not declare is a 422
// naming it, like an unknown JSON field, never a 200 with other data than the
// client asked for (?offset= for ?page=, ?stauts= for ?status=).
func TestUnknownQueryParametersAre422(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	token := verifiedUser(t, h, "ann@example.com")
	createProvider(t, h, token, "Ann sandbox")
	for _, tc := range []struct {
		path    string
		unknown []string
	}{
		{"/api/v1/providers?offset=5", []string{"offset"}},
		{"/api/v1/providers?q=x", []string{"q"}},
		{"/api/v1/providers?order=alias", []string{"order"}},
		{"/api/v1/providers?stauts=active&limit=2", []string{"stauts"}},
		{"/api/v1/providers?b=1&a=2", []string{"a", "b"}},
		{"/api/v1/providers?" + url.Values{strings.Repeat("x", 200): {"1"}}.Encode(), []string{"(unprintable parameter name)"}},
		{"/api/v1/users/me?verbose=1", []string{"verbose"}},
		{"/api/v1/provider-types?page=1", []string{"page"}},
		{"/api/v1/sessions?cursor=x", []string{"cursor"}},
	} {
		res := h.Do(apitest.Request{Method: "GET", Path: tc.path, Token: token}).Expect(t, 422)
		p := res.Problem(t)
		var named []string
		for _, e := range p.Errors {
			if e.Code != "unknown_parameter" {
				t.Errorf("%s: error %+v, want only unknown_parameter errors", tc.path, e)
			}
			named = append(named, e.Field)
		}
		if p.Code != "VALIDATION_ERROR" || !slices.Equal(named, tc.unknown) {
			t.Errorf("%s: %s naming %v, want VALIDATION_ERROR naming %v", tc.path, p.Code, named, tc.unknown)
		}
	}
	// Declared parameters still work, and so do the probes, which take any.
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?status=not_connected&limit=1&fields=id", Token: token}).Expect(t, 200)
	h.Do(apitest.Request{Method: "GET", Path: "/healthz?probe=1"}).Expect(t, 200)
}

package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func loadEmbeddedSpec(t *testing.T) *Spec {
	t.Helper()
	s, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// servedOperations decodes the operations of the document served at
// /openapi.json, by path and lower-case method.
func servedOperations(t *testing.T, s *Spec) map[string]map[string]map[string]any {
	t.Helper()
	var served struct {
		// A path item holds its operations and its shared parameters (a list).
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(s.JSON, &served); err != nil {
		t.Fatal(err)
	}
	ops := map[string]map[string]map[string]any{}
	for path, item := range served.Paths {
		ops[path] = map[string]map[string]any{}
		for key, raw := range item {
			if key == "parameters" {
				continue
			}
			var op map[string]any
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", key, path, err)
			}
			ops[path][key] = op
		}
	}
	return ops
}

// Every operation declares its tier, and the declaration survives into the
// document served at /openapi.json, where clients can read it.
func TestEveryOperationDeclaresARateLimitTier(t *testing.T) {
	t.Parallel()
	s := loadEmbeddedSpec(t)
	served := servedOperations(t, s)
	n := 0
	for path, item := range s.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			n++
			declared, ok := op.Extensions[extRateLimitTier].(string)
			if !ok {
				t.Errorf("%s %s declares no %s", method, path, extRateLimitTier)
				continue
			}
			if got := served[path][strings.ToLower(method)][extRateLimitTier]; got != declared {
				t.Errorf("%s %s: /openapi.json has %s %v, the document %q", method, path, extRateLimitTier, got, declared)
			}
		}
	}
	if n == 0 || n != len(s.Operations()) {
		t.Errorf("checked %d operations of %d", n, len(s.Operations()))
	}
}

// legacyRateTier is the policy as the route lists kept it before it moved into
// the document (authTierRoutes and rateTier in ratelimit.go). It is here to
// prove that the move changed no operation's tier.
func legacyRateTier(method, route, path string) (string, bool) {
	authTierRoutes := map[string]bool{
		"POST " + apiBase + "/sessions":                    true,
		"POST " + apiBase + "/users":                       true,
		"POST " + apiBase + "/password-reset-requests":     true,
		"POST " + apiBase + "/email-verification-requests": true,
		"POST " + apiBase + "/password-resets":             true,
		"POST " + apiBase + "/email-verifications":         true,
		"POST " + apiBase + "/tokens":                      true,
		// Moved since, on purpose (hardening item 10).
		"PUT " + apiBase + "/users/me/password": true,
		// Added since (issue 18): deleting one's account takes the password.
		"DELETE " + apiBase + "/users/me": true,
	}
	if !strings.HasPrefix(path, apiBase+"/") {
		return "", false
	}
	// Moved since, on purpose (hardening item 10): refresh has its own tier,
	// per session.
	if method+" "+route == "POST "+apiBase+"/tokens" {
		return TierRefresh, true
	}
	// Added since: institutions' webhooks have their own tier, per IP.
	if method+" "+route == "POST "+apiBase+"/webhooks/plaid" {
		return TierWebhook, true
	}
	if authTierRoutes[method+" "+route] {
		return TierAuth, true
	}
	// Added since (issue 18): every admin route is in the admin tier.
	switch method + " " + route {
	case "GET " + apiBase + "/users", "HEAD " + apiBase + "/users",
		"GET " + apiBase + "/users/:user_id", "HEAD " + apiBase + "/users/:user_id", "PATCH " + apiBase + "/users/:user_id",
		"GET " + apiBase + "/users/:user_id/providers", "HEAD " + apiBase + "/users/:user_id/providers",
		"GET " + apiBase + "/users/:user_id/sessions", "HEAD " + apiBase + "/users/:user_id/sessions",
		"DELETE " + apiBase + "/users/:user_id/sessions", "DELETE " + apiBase + "/users/:user_id",
		"GET " + apiBase + "/audit-events", "HEAD " + apiBase + "/audit-events":
		return TierAdmin, true
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return TierRead, true
	}
	return TierWrite, true
}

// The tiers the document declares are the ones the route lists gave, for every
// operation, for HEAD on every GET route, and for requests that match no
// operation.
func TestRateTiersAreTheOnesTheRouteListsGave(t *testing.T) {
	t.Parallel()
	s := loadEmbeddedSpec(t)
	type request struct{ method, route, path string }
	var requests []request
	for path, item := range s.Doc.Paths.Map() {
		for method := range item.Operations() {
			requests = append(requests, request{method, GinPath(path), path})
			if method == http.MethodGet {
				requests = append(requests, request{http.MethodHead, GinPath(path), path})
			}
		}
	}
	// Nothing matched: 404, 405, OPTIONS outside a CORS preflight.
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		for _, path := range []string{"/api/v1/nowhere", "/api/v1/providers", "/api/v1", "/api/v2/providers", "/nowhere", "/"} {
			requests = append(requests, request{method, "", path})
		}
	}
	for _, r := range requests {
		wantTier, wantLimited := legacyRateTier(r.method, r.route, r.path)
		tier, limited := s.rateTier(r.method, r.route, r.path)
		if tier != wantTier || limited != wantLimited {
			t.Errorf("%s %q (route %q): tier %q limited=%v, the route lists said %q limited=%v",
				r.method, r.path, r.route, tier, limited, wantTier, wantLimited)
		}
	}
}

// LoadSpec refuses an operation whose tier is missing or unknown: a typo must
// not leave an operation unlimited.
func TestLoadSpecRefusesAMissingOrUnknownRateLimitTier(t *testing.T) {
	t.Parallel()
	// The first declaration in the document is registration's.
	const first = "      x-rate-limit-tier: auth\n"
	if !bytes.Contains(specYAML, []byte(first)) {
		t.Fatalf("the document has no %q", first)
	}
	cases := map[string]string{
		"missing":           "",
		"unknown":           "      x-rate-limit-tier: superuser\n",
		"other case":        "      x-rate-limit-tier: Auth\n",
		"empty":             "      x-rate-limit-tier: \"\"\n",
		"not a string":      "      x-rate-limit-tier: 5\n",
		"a list of tiers":   "      x-rate-limit-tier: [auth, write]\n",
		"tier in a comment": "      # x-rate-limit-tier: auth\n",
	}
	for name, replacement := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := loadSpec(bytes.Replace(specYAML, []byte(first), []byte(replacement), 1))
			if err == nil {
				t.Fatal("LoadSpec accepted it")
			}
			if msg := err.Error(); !strings.Contains(msg, "POST /api/v1/users") || !strings.Contains(msg, extRateLimitTier) {
				t.Errorf("error %q names neither the operation nor the extension", msg)
			}
		})
	}
}

// Every POST and PATCH operation declares what it does with an Idempotency-Key,
// /openapi.json carries the declaration, and it agrees with the document's own
// parameters: an operation honours the key exactly when it documents the
// header.
func TestEveryPostAndPatchDeclaresItsIdempotency(t *testing.T) {
	t.Parallel()
	s := loadEmbeddedSpec(t)
	served := servedOperations(t, s)
	n := 0
	for path, item := range s.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			if method != http.MethodPost && method != http.MethodPatch {
				continue
			}
			n++
			declared, ok := op.Extensions[extIdempotency].(string)
			if !ok {
				t.Errorf("%s %s declares no %s", method, path, extIdempotency)
				continue
			}
			if got := served[path][strings.ToLower(method)][extIdempotency]; got != declared {
				t.Errorf("%s %s: /openapi.json has %s %v, the document %q", method, path, extIdempotency, got, declared)
			}
			documented := op.Parameters.GetByInAndName("header", headerIdempotencyKey) != nil
			if documented != (declared == idempotencyHonoured) {
				t.Errorf("%s %s: %s %q, but the Idempotency-Key header is documented=%v", method, path, extIdempotency, declared, documented)
			}
		}
	}
	if n == 0 {
		t.Error("no POST or PATCH operation checked")
	}
}

// The operations that honour Idempotency-Key are the ones the route list gave
// (idempotencyExempt in idempotency.go, before the policy moved into the
// document): every POST and PATCH but the two that mint tokens.
func TestIdempotencyIsTheOneTheRouteListGave(t *testing.T) {
	t.Parallel()
	idempotencyExempt := map[string]bool{
		"POST " + apiBase + "/sessions": true,
		"POST " + apiBase + "/tokens":   true,
		// Added since: an institution sends no Idempotency-Key; a copy of a
		// delivery is told by its body (institutionhooks.DuplicateWindow).
		"POST " + apiBase + "/webhooks/plaid": true,
		// Added since: their answers hold a webhook signing secret, which
		// an idempotency record would keep in clear for a day.
		"POST " + apiBase + "/webhook-endpoints":                               true,
		"POST " + apiBase + "/webhook-endpoints/:endpoint_id/secret-rotations": true,
	}
	s := loadEmbeddedSpec(t)
	for path, item := range s.Doc.Paths.Map() {
		for method := range item.Operations() {
			route := GinPath(path)
			want := (method == http.MethodPost || method == http.MethodPatch) && !idempotencyExempt[method+" "+route]
			if got := s.honoursIdempotencyKey(method, route); got != want {
				t.Errorf("%s %s honours Idempotency-Key: %v, the route list said %v", method, path, got, want)
			}
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPatch} {
		if s.honoursIdempotencyKey(method, "") {
			t.Errorf("%s matching no route honours Idempotency-Key", method)
		}
	}
}

// LoadSpec refuses a POST or PATCH without x-idempotency or with a value it does
// not know, and any other method with it.
func TestLoadSpecRefusesAMissingOrMisplacedIdempotency(t *testing.T) {
	t.Parallel()
	// The first declaration in the document is registration's; the first read
	// is the current user's.
	const (
		first    = "      x-idempotency: key\n"
		firstGet = "      operationId: getCurrentUser\n      x-rate-limit-tier: read\n"
		firstPut = "      operationId: changePassword\n      x-rate-limit-tier: auth\n"
	)
	for _, s := range []string{first, firstGet, firstPut} {
		if !bytes.Contains(specYAML, []byte(s)) {
			t.Fatalf("the document has no %q", s)
		}
	}
	cases := map[string]struct{ old, new, operation string }{
		"missing":      {first, "", "POST /api/v1/users"},
		"unknown":      {first, "      x-idempotency: keyed\n", "POST /api/v1/users"},
		"other case":   {first, "      x-idempotency: Key\n", "POST /api/v1/users"},
		"not a string": {first, "      x-idempotency: true\n", "POST /api/v1/users"},
		"on a GET":     {firstGet, firstGet + "      x-idempotency: key\n", "GET /api/v1/users/me"},
		"on a PUT":     {firstPut, firstPut + "      x-idempotency: ignored\n", "PUT /api/v1/users/me/password"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := loadSpec(bytes.Replace(specYAML, []byte(c.old), []byte(c.new), 1))
			if err == nil {
				t.Fatal("LoadSpec accepted it")
			}
			if msg := err.Error(); !strings.Contains(msg, c.operation) || !strings.Contains(msg, extIdempotency) {
				t.Errorf("error %q names neither %s nor the extension", msg, c.operation)
			}
		})
	}
}

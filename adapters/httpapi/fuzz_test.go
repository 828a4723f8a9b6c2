package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dashtam/dashtam/test/apitest"
)

// HTTP-level fuzz targets: fuzzed input goes through the real stack (router,
// middleware, request validation against the OpenAPI document, handlers, use
// cases, SQLite) and apitest validates every answer against the document: the
// status must be documented for the operation and every error a valid problem.
// On top of that, no input may cause a 5xx (a panic is recovered into a 500).
// Each fuzz worker builds the service once; inputs get their own t via For.
//
// The committed corpora live in testdata/fuzz/<target>; `make verify` runs each
// target for a few seconds.

// fuzzFixture is a service with one verified user who owns a few providers.
type fuzzFixture struct {
	h         *apitest.Harness
	email     string
	password  string
	token     string
	providers []string // ids
}

func newFuzzFixture(f *testing.F) *fuzzFixture {
	f.Helper()
	h := apitest.New(f, apitest.Options{Env: map[string]string{
		// The limits stay on; fuzzing sends far more than a person would.
		"RATE_LIMIT_AUTH": "100000000-M", "RATE_LIMIT_READ": "100000000-M", "RATE_LIMIT_WRITE": "100000000-M",
	}})
	fx := &fuzzFixture{h: h, email: "fuzz@example.com", password: "fuzzing passphrase"}
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": fx.email, "password": fx.password, "name": "Fuzz"}}).Expect(f, 201)
	token := h.Mail.LastToken(f, fx.email, "Verify")
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications", Body: map[string]any{"token": token}}).Expect(f, 200)
	var grant struct {
		AccessToken string `json:"access_token"`
	}
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": fx.email, "password": fx.password}}).Expect(f, 201).JSON(f, &grant)
	fx.token = grant.AccessToken
	for _, alias := range []string{"Brokerage", "bank", "Ärzte-Konto", "100% savings_"} {
		var p struct {
			ID string `json:"id"`
		}
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: fx.token, Body: map[string]any{"provider_key": "sandbox", "alias": alias}}).Expect(f, 201).JSON(f, &p)
		fx.providers = append(fx.providers, p.ID)
	}
	return fx
}

// notServerError fails t when the service answered with a 5xx.
func notServerError(t *testing.T, what string, res *apitest.Response) {
	t.Helper()
	if res.Status >= 500 {
		t.Fatalf("%s -> %d: %s", what, res.Status, res.Body)
	}
}

// headerValue makes a fuzzed string into what could arrive on the wire:
// net/http refuses control characters in field values and trims surrounding
// whitespace. ok is false for values no client can send.
func headerValue(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return "", false
		}
	}
	return strings.Trim(s, " \t"), true
}

// listParameters are the documented query parameters of GET /providers.
var listParameters = []string{"page", "per_page", "cursor", "limit", "status", "provider_key", "search", "created_after", "created_before", "sort", "fields"}

// FuzzListProvidersQuery sends arbitrary query strings to GET /api/v1/providers
// (sort, fields, filters, both pagination modes, cursors). The answer is a
// documented 200 listing only the caller's providers, or a 422 whose errors
// name documented parameters; never anything else.
func FuzzListProvidersQuery(f *testing.F) {
	fx := newFuzzFixture(f)
	// A real cursor, valid for this run's keys.
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	fx.h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?limit=1&sort=alias", Token: fx.token}).Expect(f, 200).JSON(f, &page)
	f.Add("limit=1&sort=alias&cursor=" + url.QueryEscape(page.NextCursor))
	f.Add("limit=1&sort=-alias&cursor=" + url.QueryEscape(page.NextCursor))
	f.Fuzz(func(t *testing.T, raw string) {
		// Whatever the fuzzer makes, send it the way a client would: parsed
		// leniently into names and values, then encoded.
		values, _ := url.ParseQuery(raw)
		path := "/api/v1/providers"
		if q := values.Encode(); q != "" {
			path += "?" + q
		}
		res := fx.h.For(t).Do(apitest.Request{Method: "GET", Path: path, Token: fx.token})
		notServerError(t, path, res)
		switch res.Status {
		case http.StatusOK:
			var body struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
			}
			res.JSON(t, &body)
			for _, it := range body.Items {
				if !slices.Contains(fx.providers, it.ID) {
					t.Fatalf("%s listed %s, which is not the caller's", path, it.ID)
				}
			}
		case http.StatusUnprocessableEntity:
			p := res.Problem(t)
			if p.Code != "VALIDATION_ERROR" || len(p.Errors) == 0 {
				t.Fatalf("%s -> 422 without field errors: %s", path, res.Body)
			}
			for _, e := range p.Errors {
				// A parameter the operation does not declare is named as unknown;
				// any other error names a declared one.
				if e.Code == "unknown_parameter" && !slices.Contains(listParameters, e.Field) {
					continue
				}
				if !slices.Contains(listParameters, e.Field) {
					t.Fatalf("%s -> 422 names %q, which is not a parameter of the operation: %s", path, e.Field, res.Body)
				}
			}
		default:
			t.Fatalf("%s -> %d: %s", path, res.Status, res.Body)
		}
	})
}

// bodyTargets are the operations whose JSON bodies FuzzRequestBodies sends;
// "{id}" is one of the fixture's providers.
var bodyTargets = []struct{ method, path string }{
	{"POST", "/api/v1/users"},
	{"POST", "/api/v1/sessions"},
	{"POST", "/api/v1/providers"},
	{"PATCH", "/api/v1/providers/{id}"},
	{"PUT", "/api/v1/providers/{id}"},
	{"PATCH", "/api/v1/users/me"},
}

// FuzzRequestBodies sends arbitrary bodies, with arbitrary media types, to the
// operations that decode JSON. The answer must be documented for the operation
// (apitest), never a 5xx; and a refused change to a provider must leave it as
// it was (same ETag).
func FuzzRequestBodies(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, target uint8, contentType string, body []byte) {
		op := bodyTargets[int(target)%len(bodyTargets)]
		ct, ok := headerValue(contentType)
		if !ok {
			t.Skip("not a header value")
		}
		h := fx.h.For(t)
		id := fx.providers[int(target)/len(bodyTargets)%len(fx.providers)]
		path := strings.Replace(op.path, "{id}", id, 1)
		var before string
		if op.path == "/api/v1/providers/{id}" {
			before = h.Do(apitest.Request{Method: "GET", Path: path, Token: fx.token}).Expect(t, 200).Header.Get("ETag")
		}
		req := apitest.Request{Method: op.method, Path: path, Body: body, ContentType: ct, Token: fx.token}
		if ct == "" {
			req.Header = map[string]string{"Content-Type": ""}
		}
		res := h.Do(req)
		what := op.method + " " + op.path
		notServerError(t, what, res)
		if before != "" && res.Status >= 300 {
			if after := h.Do(apitest.Request{Method: "GET", Path: path, Token: fx.token}).Expect(t, 200).Header.Get("ETag"); after != before {
				t.Fatalf("%s -> %d changed the provider (ETag %s -> %s)", what, res.Status, before, after)
			}
		}
	})
}

// conditionalFields are the ?fields= of the GETs FuzzConditionalRequests sends:
// a narrowed representation has an ETag of its own.
var conditionalFields = []string{"", "alias", "id,alias", "provider_key,connection_status,updated_at"}

// FuzzConditionalRequests sends arbitrary If-None-Match and If-Modified-Since to
// GET /providers/{id} (whole or narrowed with ?fields=) and If-Match to PATCH,
// and checks each answer against a reference written from RFC 9110 rather than
// from the code: 304 exactly when If-None-Match lists the representation's
// current ETag (weak comparison) or "*", or, without If-None-Match, when the
// provider has not changed since an If-Modified-Since that is an HTTP date; a
// PATCH goes through exactly when If-Match is absent, "*", or lists a strong
// ETag of the provider's current version (412 otherwise). A malformed entity-tag
// list, which RFC 9110 leaves open, may get either answer. Longer headers than
// the document allows are a 422. In the fuzzed headers "{etag}" stands for the
// current ETag, so that matching tags are easy to reach.
func FuzzConditionalRequests(f *testing.F) {
	fx := newFuzzFixture(f)
	id := fx.providers[0]
	f.Fuzz(func(t *testing.T, fieldsIndex uint8, ifNoneMatch, ifModifiedSince, ifMatch string, write bool) {
		h := fx.h.For(t)
		path := "/api/v1/providers/" + id
		if fields := conditionalFields[int(fieldsIndex)%len(conditionalFields)]; fields != "" {
			path += "?fields=" + fields
		}
		current := h.Do(apitest.Request{Method: "GET", Path: path, Token: fx.token}).Expect(t, 200)
		etag, lastModified := current.Header.Get("ETag"), current.Header.Get("Last-Modified")
		fill := func(s string) string {
			return strings.ReplaceAll(strings.ReplaceAll(s, "{etag}", etag), "{modified}", lastModified)
		}
		if !write {
			inm, ok1 := headerValue(fill(ifNoneMatch))
			ims, ok2 := headerValue(fill(ifModifiedSince))
			if !ok1 || !ok2 {
				t.Skip("not a header value")
			}
			res := h.Do(apitest.Request{Method: "GET", Path: path, Token: fx.token, Header: map[string]string{"If-None-Match": inm, "If-Modified-Since": ims}})
			notServerError(t, "GET", res)
			if utf8.RuneCountInString(inm) > 1024 || utf8.RuneCountInString(ims) > 64 {
				res.Expect(t, http.StatusUnprocessableEntity)
				return
			}
			want := http.StatusOK
			notModified, decided := refNotModified(inm, ims, etag, lastModified)
			if notModified {
				want = http.StatusNotModified
			}
			if !decided && (res.Status == http.StatusOK || res.Status == http.StatusNotModified) {
				return
			}
			if res.Status != want {
				t.Fatalf("GET %s with If-None-Match %q, If-Modified-Since %q (ETag %s, Last-Modified %s) -> %d, want %d", path, inm, ims, etag, lastModified, res.Status, want)
			}
			return
		}
		im, ok := headerValue(fill(ifMatch))
		if !ok {
			t.Skip("not a header value")
		}
		var alias struct {
			Alias string `json:"alias"`
		}
		whole := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + id, Token: fx.token}).Expect(t, 200)
		whole.JSON(t, &alias)
		res := h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/providers/" + id, Token: fx.token, Body: map[string]any{"alias": alias.Alias}, Header: map[string]string{"If-Match": im}})
		notServerError(t, "PATCH", res)
		if utf8.RuneCountInString(im) > 1024 {
			res.Expect(t, http.StatusUnprocessableEntity)
			return
		}
		want := http.StatusPreconditionFailed
		pass, decided := refIfMatch(im, whole.Header.Get("ETag"))
		if pass {
			want = http.StatusOK
		}
		if !decided && (res.Status == http.StatusOK || res.Status == http.StatusPreconditionFailed) {
			return
		}
		if res.Status != want {
			t.Fatalf("PATCH with If-Match %q (ETag %s) -> %d, want %d", im, whole.Header.Get("ETag"), res.Status, want)
		}
	})
}

// entityTags parses an If-Match / If-None-Match field value (RFC 9110 §8.8.3:
// "*" or a comma-separated list of [W/]"opaque", where the opaque part may
// itself hold commas). ok is false when the value is not well formed; RFC 9110
// does not say how to answer those, so the reference does not either.
func entityTags(v string) (tags []string, ok bool) {
	if strings.Trim(v, " \t") == "*" {
		return []string{"*"}, true
	}
	for {
		v = strings.TrimLeft(v, " \t,")
		if v == "" {
			return tags, true
		}
		rest := strings.TrimPrefix(v, "W/")
		if !strings.HasPrefix(rest, `"`) {
			return nil, false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false
		}
		opaque := rest[1 : end+1]
		for i := 0; i < len(opaque); i++ {
			if c := opaque[i]; c <= 0x20 || c == 0x7f {
				return nil, false
			}
		}
		tags = append(tags, v[:len(v)-len(rest)+end+2])
		v = strings.TrimLeft(rest[end+2:], " \t")
		if v != "" && v[0] != ',' {
			return nil, false
		}
	}
}

// refNotModified is RFC 9110 §13.1.2 and §13.1.3 for a GET: If-None-Match wins
// and compares weakly; an If-Modified-Since that is not an HTTP date is ignored.
// decided is false for a malformed If-None-Match.
func refNotModified(ifNoneMatch, ifModifiedSince, etag, lastModified string) (notModified, decided bool) {
	if ifNoneMatch != "" {
		tags, ok := entityTags(ifNoneMatch)
		for _, tag := range tags {
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true, ok
			}
		}
		return false, ok
	}
	since, err := http.ParseTime(ifModifiedSince)
	if err != nil {
		return false, true
	}
	if lastModified == "" {
		// The representation was served in the second of its last change,
		// without a date; by the time of the conditional request that second
		// may be over, and then a date later than the change is honoured.
		return false, false
	}
	modified, err := http.ParseTime(lastModified)
	return err == nil && !modified.After(since), true
}

// refIfMatch is RFC 9110 §13.1.1 with this API's one addition: absent or "*"
// passes (the resource exists); otherwise a listed strong tag must name the
// current version, whole (`"7"`) or of a narrowed representation (`"7;id,alias"`).
// decided is false for a malformed If-Match.
func refIfMatch(ifMatch, etag string) (pass, decided bool) {
	if ifMatch == "" {
		return true, true
	}
	tags, ok := entityTags(ifMatch)
	version := strings.Trim(etag, `"`)
	for _, tag := range tags {
		if tag == "*" {
			return true, ok
		}
		if opaque, isStrong := strings.CutPrefix(tag, `"`); isStrong {
			if v, _, _ := strings.Cut(strings.TrimSuffix(opaque, `"`), ";"); v == version {
				return true, ok
			}
		}
	}
	return false, ok
}

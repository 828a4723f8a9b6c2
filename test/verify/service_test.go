// Package verify checks the service against its OpenAPI document with tools
// nobody on the team wrote: a client that oapi-codegen generates from the
// document the service serves, kin-openapi's response validation of the served
// document, and rapid's property checks. `make verify` runs it together with
// Spectral and the fuzz targets (see docs/api-conventions.md).
package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/dashtam/dashtam/test/apitest"
)

// unlimited raises the rate limits: these tests make many more logins and
// registrations from one address than the production limits allow. They stay on.
var unlimited = map[string]string{
	"RATE_LIMIT_AUTH":  "1000000-M",
	"RATE_LIMIT_READ":  "1000000-M",
	"RATE_LIMIT_WRITE": "1000000-M",
	"RATE_LIMIT_ADMIN": "1000000-M",
}

// service is the real service (bootstrap.Build through apitest: real router,
// middleware, use cases and SQLite, mail captured) behind a real TCP listener,
// so that the URLs it hands out, such as a sandbox authorization_url, lead back
// to it.
type service struct {
	URL string
	H   *apitest.Harness
}

func startService(t *testing.T) *service {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	env := map[string]string{"PUBLIC_BASE_URL": base}
	for k, v := range unlimited {
		env[k] = v
	}
	h := apitest.New(t, apitest.Options{Env: env})
	srv.Config.Handler = h.App.Handler
	srv.Start()
	t.Cleanup(srv.Close)
	return &service{URL: base, H: h}
}

// servedDocument fetches GET /openapi.json over HTTP: the document as clients
// get it, not the YAML source.
func servedDocument(t *testing.T, baseURL string) []byte {
	t.Helper()
	res, err := http.Get(baseURL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return body
}

// contractTransport validates every response against the served document with
// kin-openapi: the status must be documented for the operation, and the
// documented headers and body schema must match. Requests that match no
// operation must be answered with a problem document.
type contractTransport struct {
	t       testing.TB
	doc     *openapi3.T
	router  routers.Router
	base    http.RoundTripper
	checked int
}

func newContractTransport(t testing.TB, served []byte) *contractTransport {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(served)
	if err != nil {
		t.Fatalf("the served document does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the served document is not valid OpenAPI: %v", err)
	}
	// Match paths only, whichever host the test server listens on.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contractTransport{t: t, doc: doc, router: router, base: http.DefaultTransport}
}

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	c.checked++
	c.check(req, res, body)
	return res, nil
}

func (c *contractTransport) check(req *http.Request, res *http.Response, body []byte) {
	c.t.Helper()
	what := req.Method + " " + req.URL.Path
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
			c.t.Errorf("%s (no documented operation) -> %d with Content-Type %q, want a problem", what, res.StatusCode, ct)
		}
		return
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if mt, _, _ := strings.Cut(res.Header.Get("Content-Type"), ";"); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		input.Options.ExcludeResponseBody = true
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		c.t.Errorf("%s -> %d does not match the served document: %v\nbody: %.600s", what, res.StatusCode, err, body)
	}
}

// exact decodes body into a value of the generated type T, refusing any field
// the generated client does not know: a field renamed in the code but not in
// the document fails here even where the schema would allow extra properties.
func exact[T any](t testing.TB, what string, body []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: the generated client cannot read the response exactly: %v\nbody: %.600s", what, err, body)
	}
	return v
}

package verify

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	verifyclient "github.com/dashtam/dashtam/test/verify/client"
)

// The committed client is what oapi-codegen makes of the document the service
// serves right now. A change to the document that the client was not
// regenerated for fails here; VERIFY_UPDATE_CLIENT=1 rewrites the file instead.
func TestGeneratedClientIsCurrent(t *testing.T) {
	t.Parallel()
	svc := startService(t)
	dir := t.TempDir()
	docPath := filepath.Join(dir, "openapi.json")
	if err := os.WriteFile(docPath, servedDocument(t, svc.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	config, err := filepath.Abs(filepath.Join("client", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// `go tool` resolves the pinned oapi-codegen from go.mod's tool block.
	cmd := exec.Command("go", "tool", "oapi-codegen", "-config", config, docPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	generated, err := cmd.Output()
	if err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, stderr.Bytes())
	}
	committedPath := filepath.Join("client", "client.gen.go")
	committed, err := os.ReadFile(committedPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if bytes.Equal(generated, committed) {
		return
	}
	if os.Getenv("VERIFY_UPDATE_CLIENT") != "" {
		if err := os.WriteFile(committedPath, generated, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s from the served document", committedPath)
		return
	}
	t.Fatalf("%s is not what oapi-codegen generates from the served /openapi.json (first difference at line %d).\n"+
		"If the document changed on purpose, run:\n  VERIFY_UPDATE_CLIENT=1 go test ./test/verify -run TestGeneratedClientIsCurrent\nand commit the result.",
		committedPath, firstDifferentLine(committed, generated))
}

func firstDifferentLine(a, b []byte) int {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

// A whole journey through the generated client, over TCP, with every response
// validated against the served document and decoded exactly into the generated
// types: register, verify the email, log in, create and list providers, connect
// one at the sandbox institution (following the authorization_url like a
// browser), refresh the provider's tokens and the session's, log out.
func TestJourneyWithGeneratedClient(t *testing.T) {
	t.Parallel()
	svc := startService(t)
	transport := newContractTransport(t, servedDocument(t, svc.URL))
	httpClient := &http.Client{
		Transport: transport,
		// A browser would follow the institution's redirect; the test looks at it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c, err := verifyclient.NewClientWithResponses(svc.URL, verifyclient.WithHTTPClient(httpClient))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const email, password = "journey@example.com", "a long journey passphrase"

	health, err := c.GetHealthWithResponse(ctx)
	expect(t, "GET /api/health", health, err, http.StatusOK)
	if h := exact[verifyclient.Health](t, "health", health.Body); h.Status != verifyclient.HealthStatusOk {
		t.Fatalf("health = %+v", h)
	}

	types, err := c.ListProviderTypesWithResponse(ctx)
	expect(t, "GET /provider-types", types, err, http.StatusOK)
	catalog := exact[verifyclient.ProviderTypeList](t, "provider types", types.Body)
	if !containsFunc(catalog.Items, func(p verifyclient.ProviderType) bool { return p.Key == "sandbox" }) {
		t.Fatalf("the catalog has no sandbox: %+v", catalog)
	}

	reg, err := c.RegisterUserWithResponse(ctx, nil, verifyclient.RegisterUserJSONRequestBody{Email: email, Password: password, Name: "Journey"})
	expect(t, "POST /users", reg, err, http.StatusCreated)
	user := exact[verifyclient.User](t, "registered user", reg.Body)
	if user.Email != email || user.EmailVerified || reg.HTTPResponse.Header.Get("Location") == "" {
		t.Fatalf("registered %+v, Location %q", user, reg.HTTPResponse.Header.Get("Location"))
	}

	verified, err := c.VerifyEmailWithResponse(ctx, nil, verifyclient.VerifyEmailJSONRequestBody{Token: svc.H.Mail.LastToken(t, email, "Verify")})
	expect(t, "POST /email-verifications", verified, err, http.StatusOK)
	if u := exact[verifyclient.User](t, "verified user", verified.Body); !u.EmailVerified || u.Id != user.Id {
		t.Fatalf("verified %+v", u)
	}

	login, err := c.CreateSessionWithResponse(ctx, verifyclient.CreateSessionJSONRequestBody{Email: email, Password: password})
	expect(t, "POST /sessions", login, err, http.StatusCreated)
	grant := exact[verifyclient.TokenGrant](t, "login", login.Body)
	if grant.TokenType != verifyclient.Bearer || grant.ExpiresIn <= 0 || !grant.Session.Current {
		t.Fatalf("grant = %+v", grant)
	}
	auth := bearer(grant.AccessToken)

	me, err := c.GetCurrentUserWithResponse(ctx, auth)
	expect(t, "GET /users/me", me, err, http.StatusOK)
	if u := exact[verifyclient.User](t, "me", me.Body); u.Id != user.Id {
		t.Fatalf("me = %+v", u)
	}

	// Two providers, listed in both pagination modes.
	created, err := c.CreateProviderWithResponse(ctx, nil, verifyclient.CreateProviderJSONRequestBody{ProviderKey: "sandbox", Alias: "Brokerage"}, auth)
	expect(t, "POST /providers", created, err, http.StatusCreated)
	prov := exact[verifyclient.Provider](t, "created provider", created.Body)
	if deref(prov.Alias) != "Brokerage" || deref(prov.ProviderKey) != "sandbox" || prov.ConnectionStatus == nil ||
		*prov.ConnectionStatus != verifyclient.ConnectionStatusNotConnected || prov.UnderscoreLinks == nil {
		t.Fatalf("created %+v", prov)
	}
	if loc := created.HTTPResponse.Header.Get("Location"); !strings.HasSuffix(loc, "/providers/"+prov.Id.String()) {
		t.Fatalf("Location = %q", loc)
	}
	second, err := c.CreateProviderWithResponse(ctx, nil, verifyclient.CreateProviderJSONRequestBody{ProviderKey: "sandbox", Alias: "Bank"}, auth)
	expect(t, "POST /providers", second, err, http.StatusCreated)

	list, err := c.ListProvidersWithResponse(ctx, &verifyclient.ListProvidersParams{Sort: ptr("alias")}, auth)
	expect(t, "GET /providers", list, err, http.StatusOK)
	page := exact[verifyclient.ProviderList](t, "provider list", list.Body)
	if len(page.Items) != 2 || deref(page.Items[0].Alias) != "Bank" || deref(page.Total) != 2 || list.HTTPResponse.Header.Get("X-Total-Count") != "2" {
		t.Fatalf("offset page = %+v", page)
	}
	var seen []string
	params := &verifyclient.ListProvidersParams{Limit: ptr[int32](1), Sort: ptr("-alias"), Fields: ptr("id,alias")}
	for range 3 {
		res, err := c.ListProvidersWithResponse(ctx, params, auth)
		expect(t, "GET /providers (cursor)", res, err, http.StatusOK)
		p := exact[verifyclient.ProviderList](t, "cursor page", res.Body)
		for _, it := range p.Items {
			if it.ProviderKey != nil || it.UnderscoreLinks != nil {
				t.Fatalf("fields=id,alias returned %+v", it)
			}
			seen = append(seen, deref(it.Alias))
		}
		if !deref(p.HasMore) {
			break
		}
		params.Cursor = p.NextCursor
	}
	if strings.Join(seen, ",") != "Brokerage,Bank" {
		t.Fatalf("cursor walk = %v", seen)
	}

	// Conditional requests: 304 on a current ETag, 412 on a stale one.
	etag := created.HTTPResponse.Header.Get("ETag")
	cond, err := c.GetProviderWithResponse(ctx, prov.Id, &verifyclient.GetProviderParams{IfNoneMatch: &etag}, auth)
	expect(t, "GET /providers/{id} If-None-Match", cond, err, http.StatusNotModified)
	renamed, err := c.UpdateProviderWithResponse(ctx, prov.Id, &verifyclient.UpdateProviderParams{IfMatch: &etag}, verifyclient.UpdateProviderJSONRequestBody{Alias: ptr("Broker")}, auth)
	expect(t, "PATCH /providers/{id}", renamed, err, http.StatusOK)
	stale, err := c.UpdateProviderWithResponse(ctx, prov.Id, &verifyclient.UpdateProviderParams{IfMatch: &etag}, verifyclient.UpdateProviderJSONRequestBody{Alias: ptr("Too late")}, auth)
	expect(t, "PATCH /providers/{id} stale If-Match", stale, err, http.StatusPreconditionFailed)
	if p := exact[verifyclient.Problem](t, "412 problem", stale.Body); p.Code != "PRECONDITION_FAILED" || p.RequestId != stale.HTTPResponse.Header.Get("X-Request-ID") {
		t.Fatalf("412 problem = %+v", p)
	}

	// Connect at the sandbox institution: start, follow the authorization_url as
	// the browser would, land on the fixed callback.
	start, err := c.StartAuthorizationWithResponse(ctx, prov.Id, nil, auth)
	expect(t, "POST /providers/{id}/authorization", start, err, http.StatusCreated)
	started := exact[verifyclient.AuthorizationStart](t, "authorization start", start.Body)
	if started.Flow != verifyclient.AuthorizationStartFlowRedirect || started.AuthorizationUrl == nil {
		t.Fatalf("start = %+v", started)
	}
	consent, err := httpClient.Get(*started.AuthorizationUrl)
	if err != nil {
		t.Fatal(err)
	}
	_ = consent.Body.Close()
	if consent.StatusCode != http.StatusFound {
		t.Fatalf("GET authorization_url -> %d", consent.StatusCode)
	}
	back, err := url.Parse(consent.Header.Get("Location"))
	if err != nil || back.Path != "/api/v1/oauth/sandbox/callback" {
		t.Fatalf("the institution redirected to %q", consent.Header.Get("Location"))
	}
	// The callback hands code and state over and completes nothing; the client
	// relays them with its user's bearer.
	handed, err := c.ReceiveAuthorizationCallbackByTypeWithResponse(ctx, "sandbox",
		&verifyclient.ReceiveAuthorizationCallbackByTypeParams{Code: ptr(back.Query().Get("code")), State: back.Query().Get("state")})
	expect(t, "GET /oauth/sandbox/callback", handed, err, http.StatusOK)
	relay := exact[verifyclient.AuthorizationCallbackRelay](t, "callback relay", handed.Body)
	if relay.ProviderId != prov.Id || deref(relay.Code) != back.Query().Get("code") || relay.State != back.Query().Get("state") || relay.Error != nil {
		t.Fatalf("the callback handed over %+v", relay)
	}
	done, err := c.CompleteAuthorizationWithResponse(ctx, relay.ProviderId, nil,
		verifyclient.CompleteAuthorizationJSONRequestBody{State: relay.State, Code: relay.Code}, auth)
	expect(t, "POST /providers/{id}/authorization/callback", done, err, http.StatusOK)
	if a := exact[verifyclient.Authorization](t, "authorization", done.Body); a.Status != verifyclient.AuthorizationStatusActive || !a.IsAuthorized || a.TokenExpiresAt == nil {
		t.Fatalf("after the relay: %+v", a)
	}
	status, err := c.GetAuthorizationWithResponse(ctx, prov.Id, auth)
	expect(t, "GET /providers/{id}/authorization", status, err, http.StatusOK)
	refreshed, err := c.RefreshAuthorizationWithResponse(ctx, prov.Id, nil, auth)
	expect(t, "PATCH /providers/{id}/authorization", refreshed, err, http.StatusOK)
	if r := exact[verifyclient.AuthorizationRefresh](t, "authorization refresh", refreshed.Body); r.RefreshedAt.IsZero() {
		t.Fatalf("refresh = %+v", r)
	}
	got, err := c.GetProviderWithResponse(ctx, prov.Id, nil, auth)
	expect(t, "GET /providers/{id}", got, err, http.StatusOK)
	if p := exact[verifyclient.Provider](t, "connected provider", got.Body); deref(p.ConnectionStatus) != verifyclient.ConnectionStatusActive || deref(p.Alias) != "Broker" {
		t.Fatalf("connected provider = %+v", p)
	}

	// Rotate the session's tokens; the new access token works.
	rotated, err := c.RefreshTokensWithResponse(ctx, verifyclient.RefreshTokensJSONRequestBody{RefreshToken: grant.RefreshToken})
	expect(t, "POST /tokens", rotated, err, http.StatusCreated)
	next := exact[verifyclient.TokenGrant](t, "refresh", rotated.Body)
	if next.RefreshToken == grant.RefreshToken || next.Session.Id != grant.Session.Id {
		t.Fatalf("rotation = %+v", next)
	}
	auth = bearer(next.AccessToken)
	sessions, err := c.ListSessionsWithResponse(ctx, nil, auth)
	expect(t, "GET /sessions", sessions, err, http.StatusOK)
	if sp := exact[verifyclient.SessionPage](t, "sessions", sessions.Body); sp.Total != 1 || !sp.Items[0].Current {
		t.Fatalf("sessions = %+v", sp)
	}

	revoked, err := c.RevokeAuthorizationWithResponse(ctx, prov.Id, auth)
	expect(t, "DELETE /providers/{id}/authorization", revoked, err, http.StatusNoContent)
	deleted, err := c.DeleteProviderWithResponse(ctx, prov.Id, nil, auth)
	expect(t, "DELETE /providers/{id}", deleted, err, http.StatusNoContent)
	again, err := c.DeleteProviderWithResponse(ctx, prov.Id, nil, auth)
	expect(t, "DELETE /providers/{id} again", again, err, http.StatusNotFound)

	// Log out: the access token stops working at once.
	out, err := c.DeleteCurrentSessionWithResponse(ctx, auth)
	expect(t, "DELETE /sessions/current", out, err, http.StatusNoContent)
	after, err := c.GetCurrentUserWithResponse(ctx, auth)
	expect(t, "GET /users/me after logout", after, err, http.StatusUnauthorized)
	if !strings.Contains(after.HTTPResponse.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate = %q", after.HTTPResponse.Header.Get("WWW-Authenticate"))
	}
	if transport.checked < 25 {
		t.Fatalf("only %d responses were validated", transport.checked)
	}
}

// response is what every generated response type has.
type response interface{ StatusCode() int }

func expect(t *testing.T, what string, res response, err error, want int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got := res.StatusCode(); got != want {
		t.Fatalf("%s -> %d, want %d: %s", what, got, want, bodyOf(res))
	}
}

func bodyOf(res response) string {
	if b, ok := res.(interface{ GetBody() []byte }); ok {
		return string(b.GetBody())
	}
	return fmt.Sprintf("%+v", res)
}

func bearer(token string) verifyclient.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func containsFunc[T any](items []T, f func(T) bool) bool {
	for _, it := range items {
		if f(it) {
			return true
		}
	}
	return false
}

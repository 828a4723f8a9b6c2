package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/providers/sandbox"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/contract/connectorkit"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/fakekit"
)

var secret = []byte("0123456789abcdef0123456789abcdef-sandbox-test")

const redirectURL = "http://localhost:8080/api/v1/oauth/sandbox/callback"

// world is one sandbox deployment in a test: a connector, and a public
// Institution served over HTTP (another instance sharing the secret, as a
// second replica of the service would be).
type world struct {
	c      *sandbox.Connector
	public *httptest.Server
	clock  *fakeclock.Clock
	cfg    sandbox.Config
}

// newWorld builds a world; faults (optional) wraps the connector's in-process
// institution.
func newWorld(t testing.TB, clock *fakeclock.Clock, faults *fakekit.Instrument, edit func(*sandbox.Config)) *world {
	t.Helper()
	public := http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { public.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg := sandbox.Config{
		PublicBaseURL: srv.URL,
		RedirectURL:   redirectURL,
		Secret:        secret,
		Timeout:       time.Second,
		Now:           clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	inst, err := sandbox.NewInstitution(cfg)
	if err != nil {
		t.Fatal(err)
	}
	public = inst
	wrap := func(h http.Handler) http.Handler { return h }
	if faults != nil {
		wrap = faults.Wrap
	}
	c, err := sandbox.NewWithWrappedInstitution(cfg, wrap)
	if err != nil {
		t.Fatal(err)
	}
	return &world{c: c, public: srv, clock: clock, cfg: cfg}
}

func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC))
}

func TestContract(t *testing.T) {
	faults := &fakekit.Instrument{}
	connectorkit.Run(t, connectorkit.Harness{
		New: func(t *testing.T, o connectorkit.Options) providers.Connector {
			w := newWorld(t, newClock(), faults, func(c *sandbox.Config) {
				c.Timeout, c.MaxResponseBytes, c.Now = o.Timeout, o.MaxResponseBytes, o.Now
			})
			return w.c
		},
		Grant:    connectorkit.FollowAuthorization,
		SetFault: faults.SetFault,
		Secrets:  []string{string(secret)},
	})
}

func TestTypeDescribesTheSandbox(t *testing.T) {
	w := newWorld(t, newClock(), nil, nil)
	got := w.c.Type()
	if got.Key != "sandbox" || got.Name != "Dashtam Sandbox" || got.Flow != providers.FlowRedirect || !got.CanRefresh {
		t.Errorf("Type() = %+v", got)
	}
}

func TestAuthorizationURLIsPublic(t *testing.T) {
	w := newWorld(t, newClock(), nil, nil)
	res, err := w.c.Begin(context.Background(), providers.BeginRequest{State: "st", UserID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	if want := w.public.URL + "/sandbox/oauth/authorize?"; !strings.HasPrefix(res.AuthorizationURL, want) {
		t.Errorf("AuthorizationURL = %q, want it under %q", res.AuthorizationURL, want)
	}
}

func TestConsentRedirectsBackWithCodeAndStateAndALink(t *testing.T) {
	w := newWorld(t, newClock(), nil, nil)
	res, _ := w.c.Begin(context.Background(), providers.BeginRequest{State: "a b&c", UserID: uuid.New()})
	resp := get(t, res.AuthorizationURL)
	if resp.status != http.StatusFound {
		t.Fatalf("authorize answered %d, want 302", resp.status)
	}
	loc, _ := url.Parse(resp.header.Get("Location"))
	if !strings.HasPrefix(loc.String(), redirectURL+"?") {
		t.Errorf("Location %q is not the registered redirect URL", loc)
	}
	if loc.Query().Get("state") != "a b&c" {
		t.Errorf("state came back as %q", loc.Query().Get("state"))
	}
	if code := loc.Query().Get("code"); !strings.HasSuffix(code, "@") || !strings.Contains(loc.RawQuery, "%40") {
		t.Errorf("code %q should end in '@', sent as %%40 like Schwab's", code)
	}
	if !strings.Contains(resp.body, "<a href=") {
		t.Errorf("the consent page has no link: %s", resp.body)
	}
}

func TestAuthorizeRefusesForeignClientsAndRedirects(t *testing.T) {
	w := newWorld(t, newClock(), nil, nil)
	base := w.public.URL + "/sandbox/oauth/authorize?"
	good := url.Values{"client_id": {sandbox.ClientID}, "redirect_uri": {redirectURL}, "response_type": {"code"}, "state": {"s"}}
	for name, edit := range map[string]func(url.Values){
		"foreign client":   func(v url.Values) { v.Set("client_id", "someone-else") },
		"foreign redirect": func(v url.Values) { v.Set("redirect_uri", "https://evil.test/cb") },
		"implicit flow":    func(v url.Values) { v.Set("response_type", "token") },
		"no state":         func(v url.Values) { v.Del("state") },
	} {
		v := url.Values{}
		for k, vs := range good {
			v[k] = append([]string(nil), vs...)
		}
		edit(v)
		if resp := get(t, base+v.Encode()); resp.status != http.StatusBadRequest {
			t.Errorf("%s: authorize answered %d, want 400", name, resp.status)
		}
	}
}

func TestTokenEndpointRequiresBasicClientAuth(t *testing.T) {
	w := newWorld(t, newClock(), nil, nil)
	srv := httptest.NewServer(w.c.Institution())
	t.Cleanup(srv.Close)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}
	resp, err := http.PostForm(srv.URL+"/sandbox/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusUnauthorized || body.Error != "invalid_client" {
		t.Errorf("got %d %q, want 401 invalid_client", resp.StatusCode, body.Error)
	}
}

func TestInstancesSharingTheSecretAcceptEachOthersCodes(t *testing.T) {
	// The world's public Institution and its connector's are two instances.
	w := newWorld(t, newClock(), nil, nil)
	if _, err := w.c.Complete(context.Background(), connectorkit.FollowAuthorization(t, w.c)); err != nil {
		t.Fatalf("a code from another instance: %v", err)
	}

	other := newWorld(t, newClock(), nil, func(c *sandbox.Config) {
		c.Secret = []byte("another-secret-another-secret-another-secret")
	})
	code := connectorkit.FollowAuthorization(t, other.c)
	if _, err := w.c.Complete(context.Background(), code); !errors.Is(err, domain.ErrInvalidRequest) {
		t.Errorf("a code signed with another secret: %v, want ErrInvalidRequest", err)
	}
}

func TestCodesExpireAfterSixtySeconds(t *testing.T) {
	w := newWorld(t, newClock(), nil, nil)
	code := connectorkit.FollowAuthorization(t, w.c)
	w.clock.Advance(sandbox.CodeTTL)
	if _, err := w.c.Complete(context.Background(), code); !errors.Is(err, domain.ErrInvalidRequest) {
		t.Errorf("a 60-second-old code: %v, want ErrInvalidRequest", err)
	}
}

func TestTamperedCodesAreRefused(t *testing.T) {
	w := newWorld(t, newClock(), nil, nil)
	code := connectorkit.FollowAuthorization(t, w.c)
	for name, forged := range map[string]string{
		"flipped byte": code[:6] + string(code[6]^1) + code[7:],
		"no '@'":       strings.TrimSuffix(code, "@"),
		"access token": "SBA." + strings.TrimPrefix(strings.TrimSuffix(code, "@"), "SBC."),
	} {
		if _, err := w.c.Complete(context.Background(), forged); !errors.Is(err, domain.ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}
	if _, err := w.c.Complete(context.Background(), code); err != nil {
		t.Errorf("the genuine code after the forgeries: %v", err)
	}
}

func TestRefreshLifetimeCountsFromConsent(t *testing.T) {
	w := newWorld(t, newClock(), nil, func(c *sandbox.Config) {
		c.AccessTTL, c.RefreshTTL = time.Minute, time.Hour
	})
	ctx := context.Background()
	consent := w.clock.Now()
	tok, err := w.c.Complete(ctx, connectorkit.FollowAuthorization(t, w.c))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.ExpiresAt.Equal(consent.Add(time.Minute)) || !tok.RefreshExpiresAt.Equal(consent.Add(time.Hour)) {
		t.Fatalf("lifetimes %v / %v, want consent + 1m / + 1h", tok.ExpiresAt, tok.RefreshExpiresAt)
	}
	w.clock.Advance(50 * time.Minute)
	tok, err = w.c.Refresh(ctx, tok)
	if err != nil {
		t.Fatalf("Refresh after 50 minutes: %v", err)
	}
	if !tok.RefreshExpiresAt.Equal(consent.Add(time.Hour)) {
		t.Errorf("refreshing moved RefreshExpiresAt to %v", tok.RefreshExpiresAt)
	}

	// The institution enforces the lifetime too, even when the caller has
	// lost RefreshExpiresAt.
	w.clock.Advance(10 * time.Minute)
	tok.RefreshExpiresAt = time.Time{}
	if _, err := w.c.Refresh(ctx, tok); !errors.Is(err, domain.ErrReauthorizationRequired) {
		t.Errorf("Refresh an hour after consent: %v, want ErrReauthorizationRequired", err)
	}
}

func TestConnectorsOwnInstitutionServesTheWholeFlow(t *testing.T) {
	// How bootstrap wires it: mount c.Institution() under the prefix.
	mounted := http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mounted.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	c, err := sandbox.New(sandbox.Config{PublicBaseURL: srv.URL, RedirectURL: redirectURL, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	mounted = c.Institution()

	code := connectorkit.FollowAuthorization(t, c)
	tok, err := c.Complete(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Complete(context.Background(), code); !errors.Is(err, domain.ErrInvalidRequest) {
		t.Errorf("second use of a code: %v, want ErrInvalidRequest", err)
	}
	if _, err := c.Refresh(context.Background(), tok); err != nil {
		t.Errorf("Refresh: %v", err)
	}
	if err := c.Revoke(context.Background(), tok); err != nil {
		t.Errorf("Revoke: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	valid := sandbox.Config{PublicBaseURL: "http://localhost:8080", RedirectURL: redirectURL, Secret: secret}
	if _, err := sandbox.New(valid); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, edit := range map[string]func(*sandbox.Config){
		"short secret":    func(c *sandbox.Config) { c.Secret = []byte("short") },
		"relative base":   func(c *sandbox.Config) { c.PublicBaseURL = "/x" },
		"no redirect":     func(c *sandbox.Config) { c.RedirectURL = "" },
		"prefix no slash": func(c *sandbox.Config) { c.Prefix = "sandbox" },
		"prefix trailing": func(c *sandbox.Config) { c.Prefix = "/sandbox/" },
		"negative ttl":    func(c *sandbox.Config) { c.AccessTTL = -time.Second },
	} {
		cfg := valid
		edit(&cfg)
		if _, err := sandbox.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// answer is a response read in full.
type answer struct {
	status int
	header http.Header
	body   string
}

// get requests u without following redirects.
func get(t testing.TB, u string) answer {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

package schwabfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

// These tests pin the quirks the fake promises, so connector tests that pass
// against it mean something.

func startFake(t *testing.T) *schwabfake.Server {
	t.Helper()
	fake := schwabfake.New(schwabfake.Config{})
	t.Cleanup(fake.Close)
	return fake
}

// authorize drives the consent step and returns the raw callback query.
func authorize(t *testing.T, fake *schwabfake.Server) string {
	t.Helper()
	q := url.Values{
		"client_id":     {fake.Config().ClientID},
		"redirect_uri":  {fake.Config().RedirectURL},
		"response_type": {"code"},
		"state":         {"xyz"},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(fake.AuthURL() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize answered %d without Location", resp.StatusCode)
	}
	return loc.RawQuery
}

type tokenAnswer struct {
	status       int
	Error        string `json:"error"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

func post(t *testing.T, fake *schwabfake.Server, form url.Values, basic bool) tokenAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fake.TokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(fake.Config().ClientID, fake.Config().ClientSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var a tokenAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("token answer %q is not JSON: %v", body, err)
	}
	a.status = resp.StatusCode
	return a
}

func codeFrom(t *testing.T, rawQuery string) string {
	t.Helper()
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	return q.Get("code")
}

func TestCallbackCarriesAnEncodedAtSignASessionAndTheState(t *testing.T) {
	raw := authorize(t, startFake(t))
	if !strings.HasPrefix(raw, "code=C0.") || !strings.Contains(raw, "%40&session=") || !strings.HasSuffix(raw, "&state=xyz") {
		t.Errorf("callback query %q, want code=C0.…%%40&session=<uuid>&state=xyz", raw)
	}
}

func TestTokenEndpointRequiresBasicAuthAndRefusesBodyCredentials(t *testing.T) {
	fake := startFake(t)
	code := codeFrom(t, authorize(t, fake))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {fake.Config().RedirectURL}}

	if a := post(t, fake, form, false); a.status != http.StatusUnauthorized || a.Error != "invalid_client" {
		t.Errorf("without Basic auth: %d %q, want 401 invalid_client", a.status, a.Error)
	}
	withBody := url.Values{"client_id": {fake.Config().ClientID}, "client_secret": {fake.Config().ClientSecret}}
	for k, v := range form {
		withBody[k] = v
	}
	if a := post(t, fake, withBody, true); a.status != http.StatusBadRequest {
		t.Errorf("credentials in the body: %d, want 400", a.status)
	}
	if a := post(t, fake, form, true); a.status != http.StatusOK || a.AccessToken == "" || a.ExpiresIn != 1800 {
		t.Errorf("proper exchange: %+v", a)
	}
}

func TestCodesAreSingleUseAndShortLived(t *testing.T) {
	fake := startFake(t)
	form := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {fake.Config().RedirectURL}}
	}
	code := codeFrom(t, authorize(t, fake))
	if a := post(t, fake, form(strings.Replace(code, "@", "%40", 1)), true); a.Error != "invalid_grant" {
		t.Errorf("a code decoded zero times: %+v, want invalid_grant", a)
	}
	code = codeFrom(t, authorize(t, fake))
	if a := post(t, fake, form(code), true); a.status != http.StatusOK {
		t.Fatalf("first use: %+v", a)
	}
	if a := post(t, fake, form(code), true); a.Error != "invalid_grant" {
		t.Errorf("second use: %+v, want invalid_grant", a)
	}
	code = codeFrom(t, authorize(t, fake))
	fake.Clock().Advance(30 * time.Second)
	if a := post(t, fake, form(code), true); a.Error != "invalid_grant" {
		t.Errorf("30-second-old code: %+v, want invalid_grant", a)
	}
}

func TestRefreshTokensDieSevenDaysAfterConsent(t *testing.T) {
	fake := startFake(t)
	code := codeFrom(t, authorize(t, fake))
	a := post(t, fake, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {fake.Config().RedirectURL}}, true)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken}}

	fake.Clock().Advance(7*24*time.Hour - time.Second)
	if got := post(t, fake, refresh, true); got.status != http.StatusOK {
		t.Fatalf("refresh just before the cap: %+v", got)
	}
	fake.Clock().Advance(time.Second)
	if got := post(t, fake, refresh, true); got.status != http.StatusBadRequest || got.Error == "" {
		t.Errorf("refresh at the cap: %+v, want a 400 OAuth error", got)
	}
}

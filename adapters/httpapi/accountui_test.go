package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
)

// Hardening item 19: with no front end for the links in emails, the binary
// serves their pages, and the link in a verification mail opens one: it
// changes nothing by being opened, and its one inline script is the one its
// Content-Security-Policy allows. With EMAIL_LINK_BASE_URL set, the mails
// point there and the pages are 404.
func TestEmailLinksOpenAPageOfTheBinaryOrTheConfiguredFrontEnd(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	register(t, h, "ann@example.com")
	token := h.Mail.LastToken(t, "ann@example.com", "Verify")
	msg := h.Mail.Messages("ann@example.com")[0]
	if !strings.Contains(msg.Text, "http://dashtam.test/verify-email?token=") {
		t.Fatalf("the link points elsewhere:\n%s", msg.Text)
	}
	for _, path := range []string{"/verify-email?token=" + token, "/reset-password?token=" + token, "/reset-password"} {
		res := h.Do(apitest.Request{Method: "GET", Path: path}).Expect(t, http.StatusOK)
		body := string(res.Body)
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || res.Header.Get("Cache-Control") != "no-store" ||
			res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: %s, Cache-Control %q, Referrer-Policy %q", path, ct, res.Header.Get("Cache-Control"), res.Header.Get("Referrer-Policy"))
		}
		start, end := strings.Index(body, "<script>"), strings.Index(body, "</script>")
		if start < 0 || end < start || strings.Count(body, "<script") != 1 {
			t.Fatalf("%s: want exactly one inline script", path)
		}
		sum := sha256.Sum256([]byte(body[start+len("<script>") : end]))
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") ||
			!strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q does not allow exactly the page's script", path, csp)
		}
		if strings.Contains(body, token) {
			t.Errorf("%s: the page repeats the token", path)
		}
	}
	// Opening the page verified nothing.
	g := login(t, h, "ann@example.com", pw)
	var u user
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: g.AccessToken}).Expect(t, http.StatusOK).JSON(t, &u)
	if u.EmailVerified {
		t.Error("opening the verification page verified the email")
	}

	front := apitest.New(t, apitest.Options{Env: map[string]string{"EMAIL_LINK_BASE_URL": "https://app.example.com/"}})
	register(t, front, "bob@example.com")
	front.Mail.LastToken(t, "bob@example.com", "Verify")
	if text := front.Mail.Messages("bob@example.com")[0].Text; !strings.Contains(text, "https://app.example.com/verify-email?token=") {
		t.Errorf("with EMAIL_LINK_BASE_URL the link points elsewhere:\n%s", text)
	}
	front.Do(apitest.Request{Method: "GET", Path: "/verify-email?token=x"}).Expect(t, http.StatusNotFound)
	front.Do(apitest.Request{Method: "GET", Path: "/reset-password"}).Expect(t, http.StatusNotFound)
}

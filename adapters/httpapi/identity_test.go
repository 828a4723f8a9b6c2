package httpapi_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
)

const pw = "correct horse battery"

type grant struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Session      struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	} `json:"session"`
}

type user struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	EmailVerified bool   `json:"email_verified"`
}

func register(t *testing.T, h *apitest.Harness, email string) user {
	t.Helper()
	var u user
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": email, "password": pw, "name": "Ann"}}).Expect(t, 201).JSON(t, &u)
	return u
}

func login(t *testing.T, h *apitest.Harness, email, password string) grant {
	t.Helper()
	var g grant
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": email, "password": password}}).Expect(t, 201).JSON(t, &g)
	return g
}

func TestRegister(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	t.Run("201 with Location, normalised email, verification mail", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": "  Ann@Example.COM ", "password": pw, "name": " Ann "}}).Expect(t, 201)
		if res.Header.Get("Location") != "/api/v1/users/me" {
			t.Errorf("Location = %q", res.Header.Get("Location"))
		}
		var u user
		res.JSON(t, &u)
		if u.Email != "ann@example.com" || u.Name != "Ann" || u.EmailVerified {
			t.Errorf("user = %+v", u)
		}
		if strings.Contains(string(res.Body), "password") {
			t.Error("response mentions the password")
		}
		msgs := h.Mail.Await(t, "ann@example.com", 1)
		if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "http://dashtam.test/verify-email?token=") {
			t.Errorf("verification mail = %+v", msgs)
		}
	})
	t.Run("a taken email, in any case, answers like a new one and mails the owner a notice", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": "ANN@example.com", "password": pw, "name": "Other"}}).Expect(t, 201)
		var u user
		res.JSON(t, &u)
		if res.Header.Get("Location") != "/api/v1/users/me" || u.Email != "ann@example.com" || u.Name != "Other" || u.EmailVerified {
			t.Errorf("answer %s %v, want the answer of a new registration", res.Body, res.Header)
		}
		msgs := h.Mail.Await(t, "ann@example.com", 2)
		if len(msgs) != 2 || !strings.Contains(msgs[1].Subject, "tried to register") {
			t.Errorf("mails to the owner = %+v, want the verification mail and a notice", msgs)
		}
	})
	t.Run("422 for a too common password", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": "bob@example.com", "password": "password123", "name": "Bob"}}).Expect(t, 422)
		if p := res.Problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "password" || p.Errors[0].Code != "too_common" {
			t.Errorf("problem = %s", res.Body)
		}
		if strings.Contains(string(res.Body), "password123") {
			t.Error("the rejected password is echoed")
		}
	})
}

func TestEmailVerification(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	register(t, h, "ann@example.com")
	token := h.Mail.LastToken(t, "ann@example.com", "Verify")

	t.Run("400 for an unknown token", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications", Body: map[string]any{"token": "nope"}}).Expect(t, 400)
		if res.Problem(t).Code != "INVALID_OR_EXPIRED_TOKEN" {
			t.Errorf("problem = %s", res.Body)
		}
	})
	t.Run("422 without a token", func(t *testing.T) {
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications", Body: map[string]any{}}).Expect(t, 422)
	})
	t.Run("200 verifies, then the token is spent (400)", func(t *testing.T) {
		var u user
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications", Body: map[string]any{"token": token}}).Expect(t, 200).JSON(t, &u)
		if !u.EmailVerified {
			t.Error("not verified")
		}
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications", Body: map[string]any{"token": token}}).Expect(t, 400)
	})
	t.Run("202 resend needs a bearer token (401) and mails only the unverified", func(t *testing.T) {
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verification-requests"}).Expect(t, 401)
		g := login(t, h, "ann@example.com", pw)
		before := len(h.Mail.Messages("ann@example.com"))
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verification-requests", Token: g.AccessToken}).Expect(t, 202)
		if after := len(h.Mail.Messages("ann@example.com")); after != before {
			t.Error("a verified address got another verification mail")
		}
		register(t, h, "bob@example.com")
		gb := login(t, h, "bob@example.com", pw)
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verification-requests", Token: gb.AccessToken}).Expect(t, 202)
		if n := len(h.Mail.Await(t, "bob@example.com", 2)); n != 2 {
			t.Errorf("bob has %d mails, want 2", n)
		}
	})
}

func TestLogin(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	register(t, h, "ann@example.com")
	t.Run("201 with tokens, Location and no-store", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "ANN@example.com", "password": pw}}).Expect(t, 201)
		var g grant
		res.JSON(t, &g)
		if g.AccessToken == "" || g.RefreshToken == "" || g.TokenType != "Bearer" || g.ExpiresIn != 1800 || !g.Session.Current {
			t.Errorf("grant = %+v", g)
		}
		if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Location") != "/api/v1/sessions/"+g.Session.ID {
			t.Errorf("headers = %v", res.Header)
		}
	})
	t.Run("401 is identical for an unknown email and a wrong password", func(t *testing.T) {
		a := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "nobody@example.com", "password": pw}, Header: map[string]string{"X-Request-ID": "same"}}).Expect(t, 401)
		b := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "ann@example.com", "password": pw + "!"}, Header: map[string]string{"X-Request-ID": "same"}}).Expect(t, 401)
		if string(a.Body) != string(b.Body) {
			t.Errorf("bodies differ:\n%s\n%s", a.Body, b.Body)
		}
	})
	t.Run("422 without a password", func(t *testing.T) {
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "ann@example.com"}}).Expect(t, 422)
	})
}

func TestProfile(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	register(t, h, "ann@example.com")
	g := login(t, h, "ann@example.com", pw)
	var u user
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: g.AccessToken}).Expect(t, 200).JSON(t, &u)
	if u.Email != "ann@example.com" {
		t.Errorf("me = %+v", u)
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me"}).Expect(t, 401)
	res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: g.AccessToken + "x"}).Expect(t, 401)
	if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") || !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", got)
	}

	h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/users/me", Token: g.AccessToken, Body: map[string]any{"name": "Ann B."}}).Expect(t, 200).JSON(t, &u)
	if u.Name != "Ann B." {
		t.Errorf("name = %q", u.Name)
	}
	h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/users/me", Token: g.AccessToken, Body: `{"name":"Ann C."}`, ContentType: "application/merge-patch+json"}).Expect(t, 200).JSON(t, &u)
	if u.Name != "Ann C." {
		t.Errorf("merge-patch name = %q", u.Name)
	}
	for name, body := range map[string]any{
		"empty object":  map[string]any{},
		"blank name":    map[string]any{"name": "   "},
		"mass-assign":   map[string]any{"email": "evil@example.com"},
		"name too long": map[string]any{"name": strings.Repeat("x", 101)},
	} {
		t.Run("422 "+name, func(t *testing.T) {
			h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/users/me", Token: g.AccessToken, Body: body}).Expect(t, 422)
		})
	}
	h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/users/me", Body: map[string]any{"name": "x"}}).Expect(t, 401)
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	// No grace: the replay below is theft at once (the grace has its own test).
	h := apitest.New(t, apitest.Options{Env: map[string]string{"REFRESH_REUSE_GRACE": "0s"}})
	register(t, h, "ann@example.com")
	first := login(t, h, "ann@example.com", pw)

	var second grant
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": first.RefreshToken}}).Expect(t, 201)
	res.JSON(t, &second)
	if second.RefreshToken == first.RefreshToken || second.Session.ID != first.Session.ID || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("rotation: %+v", second)
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: second.AccessToken}).Expect(t, 200)

	// The rotated token again: theft. The whole session dies, new tokens included.
	res = h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": first.RefreshToken}}).Expect(t, 401)
	if res.Problem(t).Code != "REFRESH_TOKEN_REUSED" {
		t.Errorf("problem = %s", res.Body)
	}
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": second.RefreshToken}}).Expect(t, 401)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: second.AccessToken}).Expect(t, 401)

	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": "unknown"}}).Expect(t, 401)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{}}).Expect(t, 422)
	// A refresh token is not an access token.
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: first.RefreshToken}).Expect(t, 401)
}

func TestSessions(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	register(t, h, "ann@example.com")
	register(t, h, "bob@example.com")
	a1 := login(t, h, "ann@example.com", pw)
	a2 := login(t, h, "ann@example.com", pw)
	b1 := login(t, h, "bob@example.com", pw)

	t.Run("list with current flag and pagination headers", func(t *testing.T) {
		var page struct {
			Items []struct {
				ID      string `json:"id"`
				Current bool   `json:"current"`
			} `json:"items"`
			Total, Pages int
		}
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions?per_page=1", Token: a1.AccessToken}).Expect(t, 200)
		res.JSON(t, &page)
		if page.Total != 2 || page.Pages != 2 || len(page.Items) != 1 || res.Header.Get("X-Total-Count") != "2" || !strings.Contains(res.Header.Get("Link"), `rel="next"`) {
			t.Errorf("page = %+v headers = %v", page, res.Header)
		}
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions?per_page=2", Token: a1.AccessToken}).Expect(t, 200).JSON(t, &page)
		var current int
		for _, s := range page.Items {
			if s.Current {
				current++
				if s.ID != a1.Session.ID {
					t.Errorf("current session is %s, want %s", s.ID, a1.Session.ID)
				}
			}
		}
		if current != 1 {
			t.Errorf("%d current sessions", current)
		}
	})
	t.Run("422 for out-of-range paging, naming the parameter", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions?per_page=101", Token: a1.AccessToken}).Expect(t, 422)
		if p := res.Problem(t); len(p.Errors) == 0 || p.Errors[0].Field != "per_page" {
			t.Errorf("problem = %s", res.Body)
		}
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions?page=0", Token: a1.AccessToken}).Expect(t, 422)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions?page=abc", Token: a1.AccessToken}).Expect(t, 422)
	})
	t.Run("get own 200, another user's 404, malformed id 422", func(t *testing.T) {
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions/" + a2.Session.ID, Token: a1.AccessToken}).Expect(t, 200)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions/" + b1.Session.ID, Token: a1.AccessToken}).Expect(t, 404)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions/not-a-uuid", Token: a1.AccessToken}).Expect(t, 422)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions/" + a2.Session.ID}).Expect(t, 401)
	})
	t.Run("revoking another user's session is 404 and changes nothing", func(t *testing.T) {
		h.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/sessions/" + b1.Session.ID, Token: a1.AccessToken}).Expect(t, 404)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: b1.AccessToken}).Expect(t, 200)
	})
	t.Run("revoke own other session: its tokens die at once", func(t *testing.T) {
		h.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/sessions/" + a2.Session.ID, Token: a1.AccessToken}).Expect(t, 204)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: a2.AccessToken}).Expect(t, 401)
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": a2.RefreshToken}}).Expect(t, 401)
		h.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/sessions/" + a2.Session.ID, Token: a1.AccessToken}).Expect(t, 404)
	})
	t.Run("logout: access and refresh token rejected on the next request", func(t *testing.T) {
		h.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/sessions/current", Token: a1.AccessToken}).Expect(t, 204)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: a1.AccessToken}).Expect(t, 401)
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": a1.RefreshToken}}).Expect(t, 401)
		h.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/sessions/current", Token: a1.AccessToken}).Expect(t, 401)
	})
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	register(t, h, "ann@example.com")
	keep := login(t, h, "ann@example.com", pw)
	other := login(t, h, "ann@example.com", pw)
	const next = "a brand new passphrase"

	res := h.Do(apitest.Request{Method: "PUT", Path: "/api/v1/users/me/password", Token: keep.AccessToken, Body: map[string]any{"current_password": "wrong one!", "new_password": next}}).Expect(t, 422)
	if p := res.Problem(t); p.Errors[0].Field != "current_password" {
		t.Errorf("problem = %s", res.Body)
	}
	h.Do(apitest.Request{Method: "PUT", Path: "/api/v1/users/me/password", Token: keep.AccessToken, Body: map[string]any{"current_password": pw, "new_password": "short"}}).Expect(t, 422)
	h.Do(apitest.Request{Method: "PUT", Path: "/api/v1/users/me/password", Body: map[string]any{"current_password": pw, "new_password": next}}).Expect(t, 401)

	h.Do(apitest.Request{Method: "PUT", Path: "/api/v1/users/me/password", Token: keep.AccessToken, Body: map[string]any{"current_password": pw, "new_password": next}}).Expect(t, 204)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: keep.AccessToken}).Expect(t, 200)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: other.AccessToken}).Expect(t, 401)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "ann@example.com", "password": pw}}).Expect(t, 401)
	login(t, h, "ann@example.com", next)
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	register(t, h, "ann@example.com")
	s := login(t, h, "ann@example.com", pw)

	known := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-reset-requests", Body: map[string]any{"email": "ann@example.com"}}).Expect(t, 202)
	unknown := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-reset-requests", Body: map[string]any{"email": "nobody@example.com"}}).Expect(t, 202)
	if string(known.Body) != string(unknown.Body) {
		t.Errorf("answers differ: %s vs %s", known.Body, unknown.Body)
	}
	if len(h.Mail.Messages("nobody@example.com")) != 0 {
		t.Error("mailed an unknown address")
	}
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-reset-requests", Body: map[string]any{}}).Expect(t, 422)

	token := h.Mail.LastToken(t, "ann@example.com", "Reset")
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-resets", Body: map[string]any{"token": token, "new_password": "short"}}).Expect(t, 422)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-resets", Body: map[string]any{"token": "forged", "new_password": "a brand new passphrase"}}).Expect(t, 400)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-resets", Body: map[string]any{"token": token, "new_password": "a brand new passphrase"}}).Expect(t, 204)
	// Every session is gone, the old password is dead, the token is spent.
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: s.AccessToken}).Expect(t, 401)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": s.RefreshToken}}).Expect(t, 401)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "ann@example.com", "password": pw}}).Expect(t, 401)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-resets", Body: map[string]any{"token": token, "new_password": "yet another passphrase"}}).Expect(t, 400)
	login(t, h, "ann@example.com", "a brand new passphrase")
}

// The identity journey runs the same on Postgres (in CI) as on SQLite.
func TestIdentityJourneyOnPostgres(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Postgres: true, Env: map[string]string{"REFRESH_REUSE_GRACE": "0s"}}) // reuse below is theft at once
	register(t, h, "ann@example.com")
	token := h.Mail.LastToken(t, "ann@example.com", "Verify")
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications", Body: map[string]any{"token": token}}).Expect(t, http.StatusOK)
	g := login(t, h, "ann@example.com", pw)
	var next grant
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": g.RefreshToken}}).Expect(t, 201).JSON(t, &next)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": g.RefreshToken}}).Expect(t, 401)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": next.RefreshToken}}).Expect(t, 401)
	g = login(t, h, "ann@example.com", pw)
	h.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/sessions/current", Token: g.AccessToken}).Expect(t, 204)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: g.AccessToken}).Expect(t, 401)
}

// Hardening item 15: a User-Agent that is not UTF-8 (Latin-1, as old clients
// send it) or carries a NUL is stored cleaned, so a login succeeds on Postgres
// too instead of failing with a 500, and the session shows the cleaned text.
func TestLoginWithALatin1UserAgent(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o apitest.Options) {
		h := apitest.New(t, o)
		verifiedUser(t, h, "ann@example.com")
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions",
			Header: map[string]string{"User-Agent": "Caf\xe9Browser/1.0 \x00(x)"},
			Body:   map[string]any{"email": "ann@example.com", "password": pw}}).Expect(t, 201)
		var g grant
		res.JSON(t, &g)
		var sessions struct {
			Items []struct {
				UserAgent string `json:"user_agent"`
			} `json:"items"`
		}
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions", Token: g.AccessToken}).Expect(t, 200).JSON(t, &sessions)
		found := false
		for _, s := range sessions.Items {
			found = found || s.UserAgent == "Caf\uFFFDBrowser/1.0 (x)"
		}
		if !found {
			t.Errorf("sessions %+v, want one with user agent %q", sessions.Items, "Caf\uFFFDBrowser/1.0 (x)")
		}
	})
}

// Hardening item 20: GET /sessions/current shows the session of the bearer
// token (before, "current" was taken for a malformed session id: 422).
func TestGetCurrentSession(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	verifiedUser(t, h, "ann@example.com")
	g := login(t, h, "ann@example.com", pw)
	login(t, h, "ann@example.com", pw) // another session, which must not be the one shown
	var got struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions/current", Token: g.AccessToken}).Expect(t, 200).JSON(t, &got)
	if got.ID != g.Session.ID || !got.Current {
		t.Errorf("GET /sessions/current = %+v, want session %s marked current", got, g.Session.ID)
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions/current"}).Expect(t, 401)
}

// Hardening item 11, on the real stores: twenty parallel refreshes of one
// token all succeed and leave the user logged in (REFRESH_REUSE_GRACE).
func TestTwentyParallelRefreshesOfOneTokenLeaveTheUserLoggedIn(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, opts apitest.Options) {
		h := apitest.New(t, opts)
		register(t, h, "ann@example.com")
		g := login(t, h, "ann@example.com", pw)
		var (
			wg       sync.WaitGroup
			statuses [20]int
			access   [20]string
		)
		for i := range statuses {
			wg.Go(func() {
				res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": g.RefreshToken}})
				statuses[i] = res.Status
				if res.Status == http.StatusCreated || res.Status == http.StatusOK {
					var next grant
					res.JSON(t, &next)
					access[i] = next.AccessToken
				}
			})
		}
		wg.Wait()
		for i, status := range statuses {
			if access[i] == "" {
				t.Fatalf("refresh %d of 20 answered %d, want a new pair", i+1, status)
			}
		}
		for _, token := range []string{access[0], access[19]} {
			h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: token}).Expect(t, http.StatusOK)
		}
	})
}

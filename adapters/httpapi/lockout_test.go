package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
)

// Hardening item 10, lockout without locking out the owner. The harness's
// requests come from 192.0.2.1; trusting it as a proxy lets each client have
// its own address through X-Forwarded-For.

func fromIP(ip string, header map[string]string) map[string]string {
	out := map[string]string{"X-Forwarded-For": ip}
	for k, v := range header {
		out[k] = v
	}
	return out
}

// deviceGrant is a login's answer with the device token.
type deviceGrant struct {
	grant
	DeviceToken string `json:"device_token"`
}

// The owner's device logs in while an attacker has spent the account's login
// budget from elsewhere: its device token (in the body, or the cookie a
// browser keeps) counts it per device. Without one, or with a forged one or
// another account's, the account stays locked; and a password reset is
// never blocked by the lockout.
func TestOwnersKnownDeviceLogsInWhileTheAccountIsLockedOut(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{"RATE_LIMIT_AUTH": "3-M", "TRUSTED_PROXIES": "192.0.2.1"}})
	const owner = "owner@example.com"
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Header: fromIP("198.51.100.1", nil),
		Body: map[string]any{"email": owner, "password": pw, "name": "Ann"}}).Expect(t, http.StatusCreated)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Header: fromIP("198.51.100.2", nil),
		Body: map[string]any{"email": "other@example.com", "password": pw, "name": "Bob"}}).Expect(t, http.StatusCreated)

	// The owner logs in on their device and keeps its token.
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Header: fromIP("198.51.100.10", nil),
		Body: map[string]any{"email": owner, "password": pw}}).Expect(t, http.StatusCreated)
	var g deviceGrant
	res.JSON(t, &g)
	cookie := res.Header.Get("Set-Cookie")
	if g.DeviceToken == "" || !strings.HasPrefix(cookie, "dashtam_device="+g.DeviceToken+";") {
		t.Fatalf("login: device token %q, Set-Cookie %q", g.DeviceToken, cookie)
	}
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/sessions"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("the device cookie lacks %s: %q", attr, cookie)
		}
	}
	var other deviceGrant
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Header: fromIP("198.51.100.11", nil),
		Body: map[string]any{"email": "other@example.com", "password": pw}}).Expect(t, http.StatusCreated).JSON(t, &other)

	// An attacker spends what is left of the account's budget of three (the
	// owner's first login, with no token yet, took one), from three addresses.
	for i := range 3 {
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Header: fromIP(fmt.Sprintf("203.0.113.%d", 1+i), nil),
			Body: map[string]any{"email": owner, "password": fmt.Sprintf("guess number %d", i)}})
		if res.Status != http.StatusUnauthorized && res.Status != http.StatusTooManyRequests {
			t.Fatalf("guess %d: %d", i+1, res.Status)
		}
	}
	locked := func(name string, body map[string]any, header map[string]string) {
		t.Helper()
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Header: fromIP("198.51.100.20", header), Body: body})
		if res.Status != http.StatusTooManyRequests {
			t.Errorf("%s: %d, want 429 (the account is locked)", name, res.Status)
		}
	}
	locked("the right password from a new device", map[string]any{"email": owner, "password": pw}, nil)
	forged := g.DeviceToken[:len(g.DeviceToken)-2] + "AA"
	locked("a forged device token", map[string]any{"email": owner, "password": pw, "device_token": forged}, nil)
	locked("another account's device token", map[string]any{"email": owner, "password": pw, "device_token": other.DeviceToken}, nil)

	// The owner's device gets in, by its token in the body or its cookie.
	var again deviceGrant
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Header: fromIP("198.51.100.10", nil),
		Body: map[string]any{"email": owner, "password": pw, "device_token": g.DeviceToken}}).Expect(t, http.StatusCreated).JSON(t, &again)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Header: fromIP("198.51.100.12", map[string]string{"Cookie": "dashtam_device=" + again.DeviceToken}),
		Body: map[string]any{"email": owner, "password": pw}}).Expect(t, http.StatusCreated)

	// A password reset is never blocked by the lockout.
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-reset-requests", Header: fromIP("198.51.100.13", nil),
		Body: map[string]any{"email": owner}}).Expect(t, http.StatusAccepted)
	token := h.Mail.LastToken(t, owner, "Reset")
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-resets", Header: fromIP("198.51.100.14", nil),
		Body: map[string]any{"token": token, "new_password": "cobalt-lynx-orchard-88"}}).Expect(t, http.StatusNoContent)
}

// Token refresh has its own tier, per session: ten people behind one address
// refresh more often than the auth tier allows that address, without a 429,
// while one session presenting its token again and again is refused.
func TestRefreshIsLimitedPerSessionNotPerAddress(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{
		"RATE_LIMIT_AUTH": "5-M", "RATE_LIMIT_REFRESH": "3-M", "TRUSTED_PROXIES": "192.0.2.1",
	}})
	const nat = "198.51.100.200"
	refresh := make([]string, 10)
	for i := range refresh {
		email := fmt.Sprintf("user%d@example.com", i)
		ip := fmt.Sprintf("203.0.113.%d", 1+i) // each registers and logs in from home
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Header: fromIP(ip, nil),
			Body: map[string]any{"email": email, "password": pw, "name": "Ann"}}).Expect(t, http.StatusCreated)
		var g grant
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Header: fromIP(ip, nil),
			Body: map[string]any{"email": email, "password": pw}}).Expect(t, http.StatusCreated).JSON(t, &g)
		refresh[i] = g.RefreshToken
	}
	// Twenty refreshes from the office's one address: four times the auth
	// tier's five a minute.
	for round := range 2 {
		for i, token := range refresh {
			res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Header: fromIP(nat, nil), Body: map[string]any{"refresh_token": token}})
			if res.Status != http.StatusCreated || res.Header.Get("X-RateLimit-Limit") != "3" {
				t.Fatalf("round %d, session %d: %d (X-RateLimit-Limit %q), want 201 counted per session", round+1, i+1, res.Status, res.Header.Get("X-RateLimit-Limit"))
			}
			var g grant
			res.JSON(t, &g)
			refresh[i] = g.RefreshToken
		}
	}
	// One session hammering with its token: within the reuse grace the first
	// three are answered, the fourth is refused.
	for range 3 {
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Header: fromIP(nat, nil), Body: map[string]any{"refresh_token": refresh[0]}}).
			Expect(t, http.StatusCreated)
	}
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Header: fromIP(nat, nil), Body: map[string]any{"refresh_token": refresh[0]}})
	res.Expect(t, http.StatusTooManyRequests)
	if res.Problem(t).Code != "RATE_LIMITED" || res.Header.Get("Retry-After") == "" {
		t.Errorf("429: %s %v", res.Body, res.Header)
	}
	// The other sessions behind the address are not affected.
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Header: fromIP(nat, nil), Body: map[string]any{"refresh_token": refresh[1]}}).
		Expect(t, http.StatusCreated)
}

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// reuseGrace is the REFRESH_REUSE_GRACE of the journeys that replay a rotated
// refresh token: short, so they wait out the grace instead of the default 5 s.
const reuseGrace = 300 * time.Millisecond

// devMailMessage is the msg of the log line the development mailer writes instead
// of sending an email.
const devMailMessage = "email (development: not sent)"

// account is a person who registers in a journey.
type account struct {
	Email, Password, Name string
}

// newAccount returns an account with a unique email and a strong password.
func newAccount() account {
	id := randomHex(8)
	return account{
		Email:    "e2e-" + id + "@example.com",
		Password: "E2e-Passw0rd-" + id,
		Name:     "E2E " + id,
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// register creates a's account and checks the answer.
func register(t *testing.T, in *Instance, a account) {
	t.Helper()
	header, user := in.expect(t, http.StatusCreated, http.MethodPost, "/api/v1/users",
		map[string]string{"email": a.Email, "password": a.Password, "name": a.Name}, "")
	if got := header.Get("Location"); got != "/api/v1/users/me" {
		t.Errorf("register: Location = %q, want /api/v1/users/me", got)
	}
	if user["email"] != a.Email || user["name"] != a.Name || user["email_verified"] != false {
		t.Errorf("register: body = %v, want the unverified account of %s", user, a.Email)
	}
	for key := range user {
		if strings.Contains(key, "password") {
			t.Errorf("register: the user representation has a %q field", key)
		}
	}
}

// verifyLink matches a verification link in an email body.
var verifyLink = regexp.MustCompile(`\S+/verify-email\?token=\S+`)

// verificationToken finds the verification link in an email body, checks that it
// points at the instance's PUBLIC_BASE_URL and returns its token.
func verificationToken(t *testing.T, in *Instance, body string) string {
	t.Helper()
	link := verifyLink.FindString(body)
	if link == "" {
		t.Fatalf("no verification link in the email:\n%s", body)
	}
	if !strings.HasPrefix(link, in.PublicBaseURL+"/verify-email?token=") {
		t.Errorf("verification link %q does not start with PUBLIC_BASE_URL %s", link, in.PublicBaseURL)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("verification link %q: %v", link, err)
	}
	token := u.Query().Get("token")
	if token == "" {
		t.Fatalf("verification link %q has an empty token", link)
	}
	return token
}

// verifyEmail consumes a verification token and checks that the account is now
// verified.
func verifyEmail(t *testing.T, in *Instance, a account, token string) {
	t.Helper()
	_, user := in.expect(t, http.StatusOK, http.MethodPost, "/api/v1/email-verifications", map[string]string{"token": token}, "")
	if user["email"] != a.Email || user["email_verified"] != true {
		t.Errorf("verify email: body = %v, want the verified account of %s", user, a.Email)
	}
}

// tokenPair is what a login or a refresh hands out.
type tokenPair struct {
	Access, Refresh, SessionID string
}

// grant checks a 201 token grant (login or refresh) and returns its tokens.
func grant(t *testing.T, what string, header http.Header, body map[string]any) tokenPair {
	t.Helper()
	p := tokenPair{}
	p.Access, _ = body["access_token"].(string)
	p.Refresh, _ = body["refresh_token"].(string)
	if session, ok := body["session"].(map[string]any); ok {
		p.SessionID, _ = session["id"].(string)
	}
	if p.Access == "" || p.Refresh == "" || p.SessionID == "" {
		t.Fatalf("%s: body %v lacks access_token, refresh_token or session.id", what, body)
	}
	if body["token_type"] != "Bearer" {
		t.Errorf("%s: token_type = %v, want Bearer", what, body["token_type"])
	}
	if n, ok := body["expires_in"].(float64); !ok || n <= 0 {
		t.Errorf("%s: expires_in = %v, want a positive number of seconds", what, body["expires_in"])
	}
	if cc := header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("%s: Cache-Control = %q, want no-store on a response carrying tokens", what, cc)
	}
	return p
}

// login opens a session for a.
func login(t *testing.T, in *Instance, a account) tokenPair {
	t.Helper()
	header, body := in.expect(t, http.StatusCreated, http.MethodPost, "/api/v1/sessions",
		map[string]string{"email": a.Email, "password": a.Password}, "")
	p := grant(t, "login", header, body)
	if got, want := header.Get("Location"), "/api/v1/sessions/"+p.SessionID; got != want {
		t.Errorf("login: Location = %q, want %q", got, want)
	}
	return p
}

// refresh exchanges a refresh token for a new pair.
func refresh(t *testing.T, in *Instance, refreshToken string) tokenPair {
	t.Helper()
	header, body := in.expect(t, http.StatusCreated, http.MethodPost, "/api/v1/tokens",
		map[string]string{"refresh_token": refreshToken}, "")
	return grant(t, "refresh", header, body)
}

// me fetches the caller's profile with accessToken and checks it is a's.
func me(t *testing.T, in *Instance, a account, accessToken string) {
	t.Helper()
	_, user := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/users/me", nil, accessToken)
	if user["email"] != a.Email || user["email_verified"] != true {
		t.Errorf("GET /users/me: body = %v, want the verified account of %s", user, a.Email)
	}
}

// expectUnauthorized checks that a request is refused with 401, the given problem
// code and an RFC 6750 challenge.
func expectUnauthorized(t *testing.T, in *Instance, why, code, method, path string, body any, token string) {
	t.Helper()
	status, header, problem := in.do(t, method, path, body, token)
	if status != http.StatusUnauthorized {
		t.Fatalf("%s: %s %s answered %d, want 401; body: %v", why, method, path, status, problem)
	}
	if problem["code"] != code {
		t.Errorf("%s: problem code = %v, want %s", why, problem["code"], code)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: Content-Type = %q, want application/problem+json", why, ct)
	}
	if token != "" && !strings.Contains(header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("%s: WWW-Authenticate = %q, want error=\"invalid_token\"", why, header.Get("WWW-Authenticate"))
	}
}

// secret is a value that must not appear in an instance's log.
type secret struct {
	name, value string
	// allowedIn, when set, tells the log lines that may carry it.
	allowedIn func(logRecord) bool
}

// assertLogsKeepSecrets fails the test for every secret found in the log outside
// the lines allowed to carry it. Call it after the instance has stopped, so that
// the log is complete.
func assertLogsKeepSecrets(t *testing.T, in *Instance, secrets []secret) {
	t.Helper()
	for i, line := range strings.Split(in.Logs(), "\n") {
		var rec logRecord
		_ = json.Unmarshal([]byte(line), &rec)
		for _, s := range secrets {
			if s.value == "" {
				t.Fatalf("secret %s is empty", s.name)
			}
			if strings.Contains(line, s.value) && (s.allowedIn == nil || rec == nil || !s.allowedIn(rec)) {
				t.Errorf("log line %d leaks the %s: %s", i+1, s.name, line)
			}
		}
	}
}

// devKeySecrets returns the generated development keys in dataDir as secrets.
func devKeySecrets(t *testing.T, dataDir string) []secret {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, "dev-keys.json"))
	if err != nil {
		t.Fatalf("development keys: %v", err)
	}
	var keys map[string]string
	if err := json.Unmarshal(raw, &keys); err != nil || len(keys) == 0 {
		t.Fatalf("development keys: %v (%d keys)", err, len(keys))
	}
	var out []secret
	for name, value := range keys {
		out = append(out, secret{name: "development key " + name, value: value})
	}
	return out
}

// stopCleanly stops the instance and checks that it exited 0 after saying so.
func stopCleanly(t *testing.T, in *Instance) {
	t.Helper()
	if code := in.Stop(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	in.waitForLog(t, `"stopped"`, func(r logRecord) bool { return r.str("msg") == "stopped" })
}

// TestIdentityJourneyDevelopmentLog walks the whole identity journey on the
// embedded defaults (SQLite, development keys, emails written to the log):
// register, verify the email with the link from the log, log in, refresh with
// rotation and reuse detection, log out, and check that nothing secret reached
// the log.
func TestIdentityJourneyDevelopmentLog(t *testing.T) {
	t.Parallel()
	in := startInstance(t, map[string]string{"REFRESH_REUSE_GRACE": reuseGrace.String()})
	a := newAccount()
	wrongPassword := "Wr0ng-Passw0rd-" + randomHex(8)
	secrets := []secret{{name: "password", value: a.Password}, {name: "wrong password", value: wrongPassword}}
	bearer := func(name string, p tokenPair) {
		secrets = append(secrets, secret{name: name + " access token", value: p.Access}, secret{name: name + " refresh token", value: p.Refresh})
	}

	register(t, in, a)
	mail := in.waitForLog(t, "with the verification email to "+a.Email, func(r logRecord) bool {
		return r.str("msg") == devMailMessage && r.str("to") == a.Email && strings.Contains(r.str("body"), "/verify-email?token=")
	})
	token := verificationToken(t, in, mail.str("body"))
	secrets = append(secrets, secret{name: "verification token", value: token, allowedIn: func(r logRecord) bool {
		return r.str("msg") == devMailMessage // documented: development only
	}})
	verifyEmail(t, in, a, token)
	_, problem := in.expect(t, http.StatusBadRequest, http.MethodPost, "/api/v1/email-verifications", map[string]string{"token": token}, "")
	if problem["code"] != "INVALID_OR_EXPIRED_TOKEN" {
		t.Errorf("second use of the verification link: code = %v, want INVALID_OR_EXPIRED_TOKEN", problem["code"])
	}

	first := login(t, in, a)
	bearer("first", first)
	me(t, in, a, first.Access)

	// Refresh rotates the pair.
	second := refresh(t, in, first.Refresh)
	bearer("second", second)
	if second.Refresh == first.Refresh || second.Access == first.Access {
		t.Fatal("refresh handed out a token it had handed out before")
	}
	if second.SessionID != first.SessionID {
		t.Errorf("refresh moved to session %s, want the same session %s", second.SessionID, first.SessionID)
	}
	me(t, in, a, second.Access)

	// Presenting the used refresh token again, once REFRESH_REUSE_GRACE (for a
	// client retrying a refresh whose answer it lost) is over, revokes the
	// whole session: the thief and the rightful holder both have to log in
	// again.
	time.Sleep(reuseGrace + 100*time.Millisecond)
	expectUnauthorized(t, in, "reused refresh token", "REFRESH_TOKEN_REUSED", http.MethodPost, "/api/v1/tokens", map[string]string{"refresh_token": first.Refresh}, "")
	in.waitForLog(t, "warning of the refresh-token reuse in session "+first.SessionID, func(r logRecord) bool {
		return r.str("level") == "WARN" && r.str("session_id") == first.SessionID && strings.Contains(r.str("msg"), "reuse")
	})
	expectUnauthorized(t, in, "refresh token of the revoked session", "INVALID_REFRESH_TOKEN", http.MethodPost, "/api/v1/tokens", map[string]string{"refresh_token": second.Refresh}, "")
	expectUnauthorized(t, in, "access token of the revoked session", "INVALID_TOKEN", http.MethodGet, "/api/v1/users/me", nil, second.Access)
	expectUnauthorized(t, in, "older access token of the revoked session", "INVALID_TOKEN", http.MethodGet, "/api/v1/users/me", nil, first.Access)

	// Log in again and log out: the access token dies on the very next request,
	// and so does the session's refresh token.
	third := login(t, in, a)
	bearer("third", third)
	me(t, in, a, third.Access)
	if third.SessionID == first.SessionID {
		t.Errorf("a new login reused session %s", third.SessionID)
	}
	in.expect(t, http.StatusNoContent, http.MethodDelete, "/api/v1/sessions/current", nil, third.Access)
	expectUnauthorized(t, in, "access token after logout", "INVALID_TOKEN", http.MethodGet, "/api/v1/users/me", nil, third.Access)
	expectUnauthorized(t, in, "refresh token after logout", "INVALID_REFRESH_TOKEN", http.MethodPost, "/api/v1/tokens", map[string]string{"refresh_token": third.Refresh}, "")

	// An unknown email and a wrong password are indistinguishable.
	unknownStatus, unknownHeader, unknown := in.do(t, http.MethodPost, "/api/v1/sessions",
		map[string]string{"email": "nobody-" + randomHex(8) + "@example.com", "password": a.Password}, "")
	wrongStatus, wrongHeader, wrong := in.do(t, http.MethodPost, "/api/v1/sessions",
		map[string]string{"email": a.Email, "password": wrongPassword}, "")
	if unknownStatus != http.StatusUnauthorized || wrongStatus != unknownStatus {
		t.Errorf("login status: unknown email %d, wrong password %d; want 401 for both", unknownStatus, wrongStatus)
	}
	if unknown["request_id"] == "" || unknown["request_id"] == wrong["request_id"] {
		t.Errorf("request ids %v and %v: want two different ones", unknown["request_id"], wrong["request_id"])
	}
	delete(unknown, "request_id")
	delete(wrong, "request_id")
	if !reflect.DeepEqual(unknown, wrong) {
		t.Errorf("login bodies differ:\nunknown email:  %v\nwrong password: %v", unknown, wrong)
	}
	for _, h := range []string{"Content-Type", "WWW-Authenticate", "Cache-Control"} {
		if unknownHeader.Get(h) != wrongHeader.Get(h) {
			t.Errorf("login %s differs: unknown email %q, wrong password %q", h, unknownHeader.Get(h), wrongHeader.Get(h))
		}
	}

	stopCleanly(t, in)
	assertLogsKeepSecrets(t, in, append(secrets, devKeySecrets(t, in.DataDir)...))
}

// TestIdentityJourneySMTP runs the binary against an in-process SMTP server: the
// verification email is really sent (authenticated, over loopback), its link
// verifies the account, the account can log in, and neither the link nor the
// SMTP password appears in the log.
func TestIdentityJourneySMTP(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	smtpPassword := "smtp-S3cret-" + randomHex(8)
	keys := sharedKeys()
	env := map[string]string{
		"SMTP_URL":  mb.URL("e2e-mailer", smtpPassword),
		"SMTP_FROM": "Dashtam E2E <e2e@dashtam.test>",
	}
	for k, v := range keys {
		env[k] = v
	}
	in := startInstance(t, env)
	a := newAccount()

	register(t, in, a)
	msg := mb.waitForMessage(t, a.Email)
	if msg.From != "e2e@dashtam.test" {
		t.Errorf("MAIL FROM = %q, want SMTP_FROM's address e2e@dashtam.test", msg.From)
	}
	if msg.AuthUser != "e2e-mailer" {
		t.Errorf("SMTP AUTH user = %q, want e2e-mailer from SMTP_URL", msg.AuthUser)
	}
	mail := msg.parse(t)
	if !strings.Contains(mail.To, a.Email) || mail.Subject == "" {
		t.Errorf("email To %q, Subject %q: want the account's address and a subject", mail.To, mail.Subject)
	}
	token := verificationToken(t, in, mail.Body)
	verifyEmail(t, in, a, token)
	p := login(t, in, a)
	me(t, in, a, p.Access)

	stopCleanly(t, in)
	if got := len(mb.messages()); got != 1 {
		t.Errorf("the SMTP server received %d messages, want 1", got)
	}
	for _, r := range in.LogRecords() {
		if r.str("msg") == devMailMessage {
			t.Errorf("with SMTP_URL set, an email went to the log instead: %v", r)
		}
	}
	if _, err := os.Stat(filepath.Join(in.DataDir, "dev-keys.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("with both keyrings in the environment, DATA_DIR has development keys (stat: %v)", err)
	}
	assertLogsKeepSecrets(t, in, []secret{
		{name: "password", value: a.Password},
		{name: "SMTP password", value: smtpPassword},
		{name: "verification token", value: token},
		{name: "access token", value: p.Access},
		{name: "refresh token", value: p.Refresh},
		{name: "JWT signing key", value: strings.TrimPrefix(keys["JWT_SIGNING_KEYS"], "e2e:")},
		{name: "token encryption key", value: strings.TrimPrefix(keys["TOKEN_ENCRYPTION_KEYS"], "e2e:")},
	})
}

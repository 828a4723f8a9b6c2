package identity_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/accesstoken"
	"github.com/dashtam/dashtam/application/audit"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/fakehash"
	"github.com/dashtam/dashtam/test/fakes/memory"
	"github.com/dashtam/dashtam/test/testlog"
)

const (
	publicBaseURL = "https://app.dashtam.test"
	refreshTTL    = 7 * 24 * time.Hour
	accessTTL     = accesstoken.DefaultTTL
	accessLeeway  = accesstoken.DefaultLeeway

	// Passwords that pass ValidatePassword (long enough, not on the common list).
	alicePassword = "violet-otter-harbour-42"
	bobPassword   = "amber-falcon-meadow-17"
	newPassword   = "cobalt-lynx-orchard-88"
	wrongPassword = "wrong-password-99x"
)

// start is a whole second, so access-token times (whole seconds) line up with the
// clock and expiry boundaries can be hit to the microsecond.
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// countingHasher wraps fakehash.Hasher, counting calls, and can claim every hash
// needs re-hashing.
type countingHasher struct {
	fakehash.Hasher
	hashes, verifies atomic.Int64
	needsRehash      atomic.Bool
	// afterVerify, when set, runs once inside the next Verify, after the password
	// was checked: it stands for whatever another request does while a hash is
	// being verified.
	afterVerify atomic.Pointer[func()]
}

func (h *countingHasher) Hash(ctx context.Context, password string) (string, error) {
	h.hashes.Add(1)
	return h.Hasher.Hash(ctx, password)
}

func (h *countingHasher) Verify(ctx context.Context, password, encoded string) (bool, bool, error) {
	h.verifies.Add(1)
	ok, _, err := h.Hasher.Verify(ctx, password, encoded)
	if f := h.afterVerify.Swap(nil); f != nil {
		(*f)()
	}
	return ok, ok && h.needsRehash.Load(), err
}

// recordingMailer keeps every message it is asked to send.
type recordingMailer struct {
	mu   sync.Mutex
	sent []identityapp.Message
	// fail, when set, is what Send answers instead of sending.
	fail error
}

func (m *recordingMailer) Send(_ context.Context, msg identityapp.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, msg)
	return nil
}

func (m *recordingMailer) messages() []identityapp.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]identityapp.Message(nil), m.sent...)
}

// harness is a Service wired to in-memory fakes, a fake clock and a real access
// token issuer.
type harness struct {
	t      *testing.T
	ctx    context.Context
	svc    *identityapp.Service
	store  *memory.IdentityStore
	jobs   *memory.JobQueue
	clock  *fakeclock.Clock
	mailer *recordingMailer
	hasher *countingHasher
	tokens *accesstoken.Issuer
	logs   *testlog.Buffer
	audit  *memory.AuditLog
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, identityapp.Config{RefreshTTL: refreshTTL, PublicBaseURL: publicBaseURL})
}

// newHarnessWith is newHarness with the service configured by cfg.
func newHarnessWith(t *testing.T, cfg identityapp.Config) *harness {
	t.Helper()
	tokens, err := accesstoken.New(accesstoken.Config{
		Keys:     []accesstoken.Key{{ID: "test", Secret: bytes.Repeat([]byte{0x5a}, accesstoken.MinSecretLen)}},
		Issuer:   "https://api.dashtam.test",
		Audience: "dashtam-api",
	})
	if err != nil {
		t.Fatalf("accesstoken.New: %v", err)
	}
	jobs := &memory.JobQueue{}
	h := &harness{
		t:      t,
		ctx:    t.Context(),
		store:  memory.NewIdentityStore(jobs),
		jobs:   jobs,
		clock:  fakeclock.New(start),
		mailer: &recordingMailer{},
		hasher: &countingHasher{},
		tokens: tokens,
		logs:   &testlog.Buffer{},
		audit:  memory.NewAuditLog(),
	}
	h.svc, err = identityapp.NewService(h.ctx, cfg, identityapp.Deps{
		Users:         h.store,
		Sessions:      h.store,
		OneTimeTokens: h.store,
		Retention:     h.store,
		Hasher:        h.hasher,
		Tokens:        tokens,
		Mailer:        h.mailer,
		Jobs:          h.jobs,
		Clock:         h.clock,
		Log:           slog.New(slog.NewTextHandler(h.logs, nil)),
		Audit:         audit.NewService(h.audit, h.clock, slog.New(slog.NewTextHandler(h.logs, nil)), 0),
	})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	// Forget the dummy hash NewService prepares, so counts start at zero.
	h.hasher.hashes.Store(0)
	return h
}

// mail runs the queued jobs, as the job engine would, and returns every
// message sent so far.
func (h *harness) mail() []identityapp.Message {
	h.t.Helper()
	for _, job := range h.jobs.Take() {
		var err error
		switch job := job.(type) {
		case identityapp.VerificationMail:
			err = h.svc.DeliverVerification(h.ctx, job)
		case identityapp.PasswordResetMail:
			err = h.svc.DeliverPasswordReset(h.ctx, job)
		case identityapp.RegistrationAttemptMail:
			err = h.svc.DeliverRegistrationAttempt(h.ctx, job)
		default:
			h.t.Fatalf("unexpected job %s", job.Kind())
		}
		if err != nil {
			h.t.Fatalf("job %s: %v", job.Kind(), err)
		}
	}
	return h.mailer.messages()
}

// register creates an account and returns it with the token of the verification
// link it was mailed.
func (h *harness) register(email, password, name string) (*identity.User, string) {
	h.t.Helper()
	before := len(h.mail())
	u, err := h.svc.Register(h.ctx, identityapp.RegisterInput{Email: email, Password: password, Name: name})
	if err != nil {
		h.t.Fatalf("Register(%q): %v", email, err)
	}
	msgs := h.mail()
	if len(msgs) != before+1 {
		h.t.Fatalf("Register sent %d emails, want 1", len(msgs)-before)
	}
	return u, h.linkToken(msgs[len(msgs)-1], "/verify-email")
}

func (h *harness) registerAlice() *identity.User {
	h.t.Helper()
	u, _ := h.register("alice@example.com", alicePassword, "Alice")
	return u
}

func (h *harness) registerBob() *identity.User {
	h.t.Helper()
	u, _ := h.register("bob@example.com", bobPassword, "Bob")
	return u
}

// linkToken returns the token of the link to path under publicBaseURL in msg.
func (h *harness) linkToken(msg identityapp.Message, path string) string {
	h.t.Helper()
	prefix := publicBaseURL + path + "?token="
	i := strings.Index(msg.Text, prefix)
	if i < 0 {
		h.t.Fatalf("email %q has no link starting %q:\n%s", msg.Subject, prefix, msg.Text)
	}
	raw, _, _ := strings.Cut(msg.Text[i+len(prefix):], "\n")
	token, err := url.QueryUnescape(strings.TrimSpace(raw))
	if err != nil || len(token) != 43 {
		h.t.Fatalf("link token %q: %v (len %d, want 43)", raw, err, len(token))
	}
	return token
}

func (h *harness) login(email, password string) identityapp.Grant {
	h.t.Helper()
	g, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: email, Password: password, UserAgent: "test-agent", IP: "192.0.2.1"})
	if err != nil {
		h.t.Fatalf("Login(%q): %v", email, err)
	}
	return g
}

// principal authenticates g's access token, which must be accepted.
func (h *harness) principal(g identityapp.Grant) identityapp.Principal {
	h.t.Helper()
	p, err := h.svc.Authenticate(h.ctx, g.AccessToken)
	if err != nil {
		h.t.Fatalf("Authenticate: %v", err)
	}
	return p
}

func (h *harness) refresh(token string) identityapp.Grant {
	h.t.Helper()
	g, err := h.svc.Refresh(h.ctx, token)
	if err != nil {
		h.t.Fatalf("Refresh: %v", err)
	}
	return g
}

func (h *harness) user(id uuid.UUID) *identity.User {
	h.t.Helper()
	u, err := h.store.UserByID(h.ctx, id)
	if err != nil {
		h.t.Fatalf("UserByID: %v", err)
	}
	return u
}

func (h *harness) session(id uuid.UUID) *identity.Session {
	h.t.Helper()
	s, err := h.store.SessionByID(h.ctx, id)
	if err != nil {
		h.t.Fatalf("SessionByID: %v", err)
	}
	return s
}

// requestReset asks for a password reset for email and returns the mailed token.
func (h *harness) requestReset(email string) string {
	h.t.Helper()
	before := len(h.mailer.messages())
	if err := h.svc.RequestPasswordReset(h.ctx, email); err != nil {
		h.t.Fatalf("RequestPasswordReset: %v", err)
	}
	msgs := h.mail()
	if len(msgs) != before+1 {
		h.t.Fatalf("RequestPasswordReset sent %d emails, want 1", len(msgs)-before)
	}
	return h.linkToken(msgs[len(msgs)-1], "/reset-password")
}

// mustBeUnauthenticated checks err is an authentication failure.
func mustBeUnauthenticated(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("%s: err = %v, want domain.ErrUnauthenticated", what, err)
	}
}

// fieldCodes returns field -> code of a *domain.ValidationError, failing otherwise.
func fieldCodes(t *testing.T, err error) map[string]string {
	t.Helper()
	var verr *domain.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v (%T), want *domain.ValidationError", err, err)
	}
	out := map[string]string{}
	for _, f := range verr.Fields {
		out[f.Field] = f.Code
	}
	return out
}

package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/adapters/vault"
	"github.com/dashtam/dashtam/adapters/webhookhttp"
	jobsapp "github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/application/webhooks"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/webhook"
	"github.com/dashtam/dashtam/test/contract/providercontract"
	"github.com/dashtam/dashtam/test/dbtest"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/testlog"
)

// queue keeps the jobs enqueued, for the test to run the delivery ones.
type queue struct {
	mu   sync.Mutex
	jobs []jobsapp.Job
}

func (q *queue) EnqueueTx(_ context.Context, _ *sql.Tx, job jobsapp.Job) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, job)
	return false, nil
}

// take returns the delivery jobs enqueued since the last take.
func (q *queue) take() []webhooks.DeliverJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []webhooks.DeliverJob
	for _, j := range q.jobs {
		if d, ok := j.(webhooks.DeliverJob); ok {
			out = append(out, d)
		}
	}
	q.jobs = nil
	return out
}

type harness struct {
	svc    *webhooks.Service
	store  *persistence.WebhookStore
	users  *persistence.IdentityStore
	clock  *fakeclock.Clock
	queue  *queue
	logs   *testlog.Buffer
	events *persistence.EventStore
	userID uuid.UUID
}

// newHarness runs the service on SQLite with the real sender under policy;
// delays are not jittered, so the schedule is exact.
func newHarness(t *testing.T, policy webhookhttp.Policy, timeout time.Duration, opts ...func(*webhooks.Deps)) *harness {
	t.Helper()
	return newHarnessOn(t, dbtest.SQLite(t), policy, timeout, opts...)
}

// newHarnessOn is newHarness on db; opts change the service's ports.
func newHarnessOn(t *testing.T, db *persistence.DB, policy webhookhttp.Policy, timeout time.Duration, opts ...func(*webhooks.Deps)) *harness {
	t.Helper()
	key := make([]byte, vault.KeySize)
	_, _ = rand.Read(key)
	cipher, err := vault.New([]vault.Key{{ID: "k1", Secret: key}})
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{}
	users := persistence.NewIdentityStore(db, 0, q)
	userID, err := providercontract.UsersVia(users)(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	store := persistence.NewWebhookStore(db, cipher, q)
	client := webhookhttp.New(webhookhttp.Config{Policy: policy, Timeout: timeout})
	clk := fakeclock.New(time.Now())
	logs := &testlog.Buffer{}
	events := persistence.NewEventStore(db)
	deps := webhooks.Deps{Endpoints: store, Deliveries: store, Events: events, Guard: client,
		Sender: client, Clock: clk, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, o := range opts {
		o(&deps)
	}
	svc := webhooks.New(deps, webhooks.Config{Jitter: func(d time.Duration) time.Duration { return d }})
	return &harness{svc: svc, store: store, users: users, clock: clk, queue: q, logs: logs, events: events, userID: userID}
}

// register creates an endpoint for the harness's user receiving
// password.changed.
func (h *harness) register(t *testing.T, url string) webhooks.Created {
	t.Helper()
	c, err := h.svc.Create(t.Context(), h.userID, webhooks.CreateInput{URL: url, EventTypes: []string{"password.changed"}, Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// emit writes a password.changed event of the user and dispatches it,
// returning the delivery jobs made.
func (h *harness) emit(t *testing.T) []webhooks.DeliverJob {
	t.Helper()
	h.queue.take()
	if err := h.users.UpdateUser(t.Context(), h.userID, func(u *identity.User) error {
		u.ChangePassword("new-hash", h.clock.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Dispatch(t.Context()); err != nil {
		t.Fatal(err)
	}
	return h.queue.take()
}

func (h *harness) delivery(t *testing.T, id uuid.UUID) webhooks.Delivery {
	t.Helper()
	d, err := h.store.DeliveryByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver answers each request with the next of codes (the last one
// again when they run out) and keeps what it received.
type receiver struct {
	mu    sync.Mutex
	codes []int
	got   []received
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, received{header: req.Header.Clone(), body: body})
	code := r.codes[min(len(r.got)-1, len(r.codes)-1)]
	r.mu.Unlock()
	w.WriteHeader(code)
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// verify checks a delivery as the Standard Webhooks specification says a
// receiver should, written here from the specification, not with the
// production signer: the signed content is "id.timestamp.body", the key the
// base64 after "whsec_", each signature "v1," + base64 of its HMAC-SHA256,
// several separated by spaces. It returns how many of the signatures verify
// with secret, and fails the test on a missing header or a stale timestamp.
func verify(t *testing.T, secret string, r received, now time.Time) int {
	t.Helper()
	id, ts, sigs := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp"), r.header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		t.Fatalf("missing Standard Webhooks headers: %v", r.header)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		t.Fatalf("webhook-timestamp %q is not within 5 minutes of %v", ts, now)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q is not whsec_ + base64", secret)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(r.body)))
	want := mac.Sum(nil)
	ok := 0
	for _, s := range strings.Fields(sigs) {
		version, b64, found := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if found && version == "v1" && err == nil && hmac.Equal(got, want) {
			ok++
		}
	}
	return ok
}

func TestADeliveryIsSignedSoThatAStandardWebhooksVerifierAcceptsIt(t *testing.T) {
	h := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, time.Second)
	rcv := &receiver{codes: []int{204}}
	created := h.register(t, serve(t, rcv).URL+"/hooks")
	jobs := h.emit(t)
	if len(jobs) != 1 {
		t.Fatalf("%d delivery jobs, want 1", len(jobs))
	}
	if err := h.svc.Deliver(t.Context(), jobs[0]); err != nil {
		t.Fatal(err)
	}
	got := rcv.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	if n := verify(t, created.Secret.Reveal(), got[0], time.Now()); n != 1 {
		t.Fatalf("%d signatures verify, want 1: %q", n, got[0].header.Get("webhook-signature"))
	}
	var body struct {
		Type      string         `json:"type"`
		Timestamp time.Time      `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(got[0].body, &body); err != nil || body.Type != "password.changed" || body.Timestamp.IsZero() ||
		body.Data["user_id"] != h.userID.String() {
		t.Fatalf("body %s (%v)", got[0].body, err)
	}
	if d := h.delivery(t, jobs[0].DeliveryID); d.Status != webhooks.Delivered || d.Attempts != 1 || d.LastStatusCode != 204 {
		t.Fatalf("delivery %+v", d)
	}
	// A body altered after signing does not verify.
	tampered := got[0]
	tampered.body = append([]byte(nil), tampered.body...)
	tampered.body[len(tampered.body)-2] ^= 1
	if verify(t, created.Secret.Reveal(), tampered, time.Now()) != 0 {
		t.Fatal("a tampered body verified")
	}
	// Dispatching again delivers nothing twice.
	if _, err := h.svc.Dispatch(t.Context()); err != nil || len(h.queue.take()) != 0 {
		t.Fatalf("a second dispatch made jobs (%v)", err)
	}
	// The log's clean-up deletes finished deliveries past its retention only.
	pending := h.emit(t)[0]
	if n, err := h.store.DeleteDeliveriesBefore(t.Context(), time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("clean-up deleted %d (%v), want the delivered one", n, err)
	}
	h.delivery(t, pending.DeliveryID)
}

// A delivery's data reads as the API's does (Deps.Render: a
// transactions.changed event carries the changes feed's sealed cursor there),
// not as it is stored.
func TestADeliveryCarriesTheDataAsClientsReadIt(t *testing.T) {
	render := func(e event.Logged) json.RawMessage {
		return json.RawMessage(`{"rendered_from":"` + e.Type.String() + `"}`)
	}
	h := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, time.Second, func(d *webhooks.Deps) { d.Render = render })
	rcv := &receiver{codes: []int{204}}
	h.register(t, serve(t, rcv).URL+"/hooks")
	jobs := h.emit(t)
	if len(jobs) != 1 {
		t.Fatalf("%d delivery jobs, want 1", len(jobs))
	}
	if err := h.svc.Deliver(t.Context(), jobs[0]); err != nil {
		t.Fatal(err)
	}
	got := rcv.requests()
	var body struct {
		Data map[string]any `json:"data"`
	}
	if len(got) != 1 || json.Unmarshal(got[0].body, &body) != nil || body.Data["rendered_from"] != "password.changed" || len(body.Data) != 1 {
		t.Fatalf("delivered %d requests, body %s: want the rendered data", len(got), got[0].body)
	}
}

// On Postgres too: one delivery per (endpoint, event), whoever dispatches,
// and a 410 disables the endpoint in the attempt's transaction.
func TestDispatchAndGoneOnPostgres(t *testing.T) {
	h := newHarnessOn(t, dbtest.Postgres(t), webhookhttp.Policy{AllowLoopback: true}, time.Second)
	gone := &receiver{codes: []int{410}}
	ok := &receiver{codes: []int{200}}
	goneEndpoint := h.register(t, serve(t, gone).URL)
	h.register(t, serve(t, ok).URL)
	jobs := h.emit(t)
	if len(jobs) != 2 {
		t.Fatalf("%d delivery jobs, want 2", len(jobs))
	}
	if n, err := h.svc.Dispatch(t.Context()); err != nil || n != 0 || len(h.queue.take()) != 0 {
		t.Fatalf("a second dispatch read %d events (%v)", n, err)
	}
	for _, j := range jobs {
		if err := h.svc.Deliver(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	e, err := h.svc.Get(t.Context(), h.userID, goneEndpoint.Endpoint.ID())
	if err != nil || e.Enabled() {
		t.Fatalf("after a 410 the endpoint is enabled=%v (%v)", e.Enabled(), err)
	}
	if len(ok.requests()) != 1 || len(gone.requests()) != 1 {
		t.Fatalf("requests: ok %d, gone %d", len(ok.requests()), len(gone.requests()))
	}
}

func TestAReceiverAnswering500TwiceGetsTheThirdAttemptOnTheSchedule(t *testing.T) {
	h := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, time.Second)
	rcv := &receiver{codes: []int{500, 500, 200}}
	h.register(t, serve(t, rcv).URL)
	job := h.emit(t)[0]
	var delays []time.Duration
	for range 3 {
		err := h.svc.Deliver(t.Context(), job)
		if ra, ok := errors.AsType[*jobsapp.RetryAfter](err); ok {
			delays = append(delays, ra.Delay)
			// The job engine would run it again then; run early, it waits.
			if err := h.svc.Deliver(t.Context(), job); !errors.As(err, &ra) || ra.Delay != delays[len(delays)-1] {
				t.Fatalf("an early run: %v", err)
			}
			h.clock.Advance(ra.Delay)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := webhooks.DefaultSchedule[:2]; len(delays) != 2 || delays[0] != want[0] || delays[1] != want[1] {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	if n := len(rcv.requests()); n != 3 {
		t.Fatalf("receiver got %d attempts, want 3", n)
	}
	if d := h.delivery(t, job.DeliveryID); d.Status != webhooks.Delivered || d.Attempts != 3 {
		t.Fatalf("delivery %+v", d)
	}
}

func TestAfterTheLastAttemptTheDeliveryIsFailedAndARetryMakesOneMore(t *testing.T) {
	h := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, time.Second)
	rcv := &receiver{codes: []int{503}}
	created := h.register(t, serve(t, rcv).URL)
	job := h.emit(t)[0]
	for {
		err := h.svc.Deliver(t.Context(), job)
		ra, ok := errors.AsType[*jobsapp.RetryAfter](err)
		if !ok {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		h.clock.Advance(ra.Delay)
	}
	d := h.delivery(t, job.DeliveryID)
	if want := len(webhooks.DefaultSchedule) + 1; d.Status != webhooks.Failed || d.Attempts != want || d.LastError != "HTTP 503" {
		t.Fatalf("delivery %+v, want failed after %d attempts", d, want)
	}
	rcv.mu.Lock()
	rcv.codes = []int{200}
	rcv.mu.Unlock()
	if _, err := h.svc.Retry(t.Context(), h.userID, created.Endpoint.ID(), d.ID); err != nil {
		t.Fatal(err)
	}
	jobs := h.queue.take()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs after a retry", len(jobs))
	}
	if _, err := h.svc.Retry(t.Context(), h.userID, created.Endpoint.ID(), d.ID); !errors.Is(err, webhooks.ErrDeliveryPending) {
		t.Fatalf("a second retry while pending: %v", err)
	}
	if err := h.svc.Deliver(t.Context(), jobs[0]); err != nil {
		t.Fatal(err)
	}
	if d := h.delivery(t, job.DeliveryID); d.Status != webhooks.Delivered {
		t.Fatalf("after the retry: %+v", d)
	}
}

// An endpoint whose attempts have failed for three days with no success is
// disabled, and its owner gets webhook_endpoint.disabled in the event log
// (which reaches the stream, GET /events and the owner's other endpoints).
func TestAnEndpointFailingForDaysIsDisabledAndItsOwnerGetsAnEvent(t *testing.T) {
	h := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, time.Second)
	rcv := &receiver{codes: []int{500}}
	created := h.register(t, serve(t, rcv).URL+"/hooks")
	attempt := func() {
		t.Helper()
		jobs := h.emit(t)
		if len(jobs) != 1 {
			t.Fatalf("%d delivery jobs, want 1", len(jobs))
		}
		var ra *jobsapp.RetryAfter
		if err := h.svc.Deliver(t.Context(), jobs[0]); err != nil && !errors.As(err, &ra) {
			t.Fatal(err)
		}
	}
	attempt()
	h.clock.Advance(webhook.FailingDisableAfter - time.Hour)
	attempt()
	if e, err := h.store.EndpointByID(t.Context(), created.Endpoint.ID()); err != nil || !e.Enabled() {
		t.Fatalf("after failing for less than FailingDisableAfter: %v (%v), want still enabled", e.Enabled(), err)
	}
	h.clock.Advance(time.Hour)
	attempt()
	e, err := h.store.EndpointByID(t.Context(), created.Endpoint.ID())
	if err != nil || e.Enabled() || e.DisabledReason() != webhook.DisabledFailing {
		t.Fatalf("after failing for FailingDisableAfter: enabled %v, reason %q (%v); want disabled as failing", e.Enabled(), e.DisabledReason(), err)
	}
	evs, err := h.events.EventsAfter(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var disabled []event.Logged
	for _, ev := range evs {
		if ev.Type == event.WebhookEndpointDisabled {
			disabled = append(disabled, ev)
		}
	}
	if len(disabled) != 1 || disabled[0].UserID != h.userID || !strings.Contains(string(disabled[0].Data), created.Endpoint.ID().String()) ||
		!strings.Contains(string(disabled[0].Data), `"reason":"failing"`) {
		t.Fatalf("webhook_endpoint.disabled events %+v, want one for the owner naming the endpoint and the reason", disabled)
	}
}

func TestAReceiverAnswering410DisablesTheEndpoint(t *testing.T) {
	h := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, time.Second)
	created := h.register(t, serve(t, &receiver{codes: []int{410}}).URL)
	job := h.emit(t)[0]
	if err := h.svc.Deliver(t.Context(), job); err != nil {
		t.Fatalf("a 410 is final: %v", err)
	}
	e, err := h.svc.Get(t.Context(), h.userID, created.Endpoint.ID())
	if err != nil {
		t.Fatal(err)
	}
	if e.Enabled() || e.DisabledReason() != webhook.DisabledGone {
		t.Fatalf("endpoint enabled=%v reason %q", e.Enabled(), e.DisabledReason())
	}
	if d := h.delivery(t, job.DeliveryID); d.Status != webhooks.Failed || d.LastStatusCode != 410 {
		t.Fatalf("delivery %+v", d)
	}
	if jobs := h.emit(t); len(jobs) != 0 {
		t.Fatalf("a disabled endpoint got %d deliveries", len(jobs))
	}
}

func TestALoopbackReceiverIsRefusedInProduction(t *testing.T) {
	prod := webhookhttp.Policy{RequireHTTPS: true}
	h := newHarness(t, prod, time.Second)
	rcv := &receiver{codes: []int{200}}
	srv := serve(t, rcv)
	for _, u := range []string{srv.URL, "https://127.0.0.1:8443/hooks", "https://[::1]/x", "https://169.254.169.254/latest", "https://10.1.2.3/", "https://localhost/x"} {
		_, err := h.svc.Create(t.Context(), h.userID, webhooks.CreateInput{URL: u, EventTypes: []string{"password.changed"}})
		var v *domain.ValidationError
		if !errors.As(err, &v) || v.Fields[0].Field != "url" {
			t.Fatalf("%s: %v, want a validation error on url", u, err)
		}
	}
	// An endpoint that got past registration (a name that resolved elsewhere
	// then) is refused when the delivery dials 127.0.0.1.
	dev := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, time.Second)
	dev.register(t, strings.Replace(srv.URL, "http://", "https://", 1))
	job := dev.emit(t)[0]
	prodClient := webhookhttp.New(webhookhttp.Config{Policy: webhookhttp.Policy{}, Timeout: time.Second})
	refusing := webhooks.New(webhooks.Deps{Endpoints: dev.store, Deliveries: dev.store, Guard: prodClient, Sender: prodClient,
		Clock: dev.clock, Log: slog.New(slog.DiscardHandler)}, webhooks.Config{})
	if err := refusing.Deliver(t.Context(), job); !errors.As(err, new(*jobsapp.RetryAfter)) {
		t.Fatalf("a refused attempt is retried later: %v", err)
	}
	d := dev.delivery(t, job.DeliveryID)
	if !strings.Contains(d.LastError, "127.0.0.1 is a loopback address") || d.LastStatusCode != 0 {
		t.Fatalf("delivery log %+v, want the refusal's reason", d)
	}
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("the refused receiver got %d requests", n)
	}
}

func TestARedirectIsNotFollowed(t *testing.T) {
	h := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, time.Second)
	target := &receiver{codes: []int{200}}
	tsrv := serve(t, target)
	h.register(t, serve(t, http.RedirectHandler(tsrv.URL, http.StatusTemporaryRedirect)).URL)
	job := h.emit(t)[0]
	_ = h.svc.Deliver(t.Context(), job)
	if n := len(target.requests()); n != 0 {
		t.Fatalf("the redirect's target got %d requests", n)
	}
	if d := h.delivery(t, job.DeliveryID); d.LastError != "redirect (307) not followed" || d.Status != webhooks.Pending {
		t.Fatalf("delivery %+v", d)
	}
}

func TestAHangingReceiverTimesOutWithoutBlockingAnother(t *testing.T) {
	h := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, 300*time.Millisecond)
	release := make(chan struct{})
	hanging := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	fast := &receiver{codes: []int{200}}
	h.register(t, hanging.URL)
	h.register(t, serve(t, fast).URL)
	jobs := h.emit(t)
	if len(jobs) != 2 {
		t.Fatalf("%d jobs", len(jobs))
	}
	done := make(chan error, 2)
	for _, j := range jobs {
		go func() { done <- h.svc.Deliver(context.Background(), j) }()
	}
	if err := <-done; err != nil { // the fast one, while the other hangs
		t.Fatalf("the fast delivery: %v", err)
	}
	if n := len(fast.requests()); n != 1 {
		t.Fatalf("the fast receiver got %d requests while the other hung", n)
	}
	if err := <-done; !errors.As(err, new(*jobsapp.RetryAfter)) {
		t.Fatalf("the hanging attempt: %v", err)
	}
	var timedOut bool
	for _, j := range jobs {
		d := h.delivery(t, j.DeliveryID)
		timedOut = timedOut || d.LastError == "timed out"
	}
	if !timedOut {
		t.Fatal("no delivery timed out")
	}
}

func TestRotationSendsBothSignaturesAndTheSecretIsNeverLogged(t *testing.T) {
	h := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, time.Second)
	rcv := &receiver{codes: []int{200}}
	created := h.register(t, serve(t, rcv).URL)
	rotated, err := h.svc.RotateSecret(t.Context(), h.userID, created.Endpoint.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Secret.Reveal() == created.Secret.Reveal() {
		t.Fatal("the rotation kept the secret")
	}
	_ = h.svc.Deliver(t.Context(), h.emit(t)[0])
	first := rcv.requests()[0]
	if len(strings.Fields(first.header.Get("webhook-signature"))) != 2 ||
		verify(t, created.Secret.Reveal(), first, time.Now()) != 1 || verify(t, rotated.Secret.Reveal(), first, time.Now()) != 1 {
		t.Fatalf("during the overlap, both secrets must sign: %q", first.header.Get("webhook-signature"))
	}
	h.clock.Advance(webhook.RotationOverlap + time.Second)
	_ = h.svc.Deliver(t.Context(), h.emit(t)[0])
	second := rcv.requests()[1]
	if len(strings.Fields(second.header.Get("webhook-signature"))) != 1 || verify(t, rotated.Secret.Reveal(), second, time.Now().Add(webhook.RotationOverlap)) != 1 {
		t.Fatalf("after the overlap, only the new secret signs: %q", second.header.Get("webhook-signature"))
	}
	for _, s := range []string{created.Secret.Reveal(), rotated.Secret.Reveal(),
		strings.TrimPrefix(created.Secret.Reveal(), "whsec_"), strings.TrimPrefix(rotated.Secret.Reveal(), "whsec_")} {
		if strings.Contains(h.logs.String(), s) {
			t.Fatal("a secret is in the logs")
		}
	}
	if got := created.Secret.String(); strings.Contains(got, strings.TrimPrefix(created.Secret.Reveal(), "whsec_")) {
		t.Fatalf("Secret.String shows it: %s", got)
	}
}

func TestAUserHasAtMostTenEndpoints(t *testing.T) {
	h := newHarness(t, webhookhttp.Policy{AllowLoopback: true}, time.Second)
	for range webhooks.DefaultMaxEndpointsPerUser {
		h.register(t, "http://127.0.0.1:9/hooks")
	}
	_, err := h.svc.Create(t.Context(), h.userID, webhooks.CreateInput{URL: "http://127.0.0.1:9/x", EventTypes: []string{"sync.completed"}})
	if !errors.Is(err, webhooks.ErrTooManyEndpoints) {
		t.Fatalf("the 11th endpoint: %v", err)
	}
}

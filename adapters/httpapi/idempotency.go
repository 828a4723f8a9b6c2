package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/idempotency"
	"github.com/dashtam/dashtam/domain"
)

// Idempotency headers.
const (
	headerIdempotencyKey    = "Idempotency-Key"
	headerIdempotencyReplay = "Idempotency-Replay"
)

// Idempotency defaults.
const (
	// IdempotencyTTL is how long a completed request is replayed.
	IdempotencyTTL = 24 * time.Hour
	// IdempotencyLockTimeout is how long a claim may stay "running" before it is
	// taken for abandoned (its instance died mid-request) and may be claimed
	// again. It is far above the request deadline, which bounds every handler.
	IdempotencyLockTimeout = 5 * time.Minute
	// maxReplayBody caps what is stored for replay; larger answers are not.
	maxReplayBody = 1 << 20
)

// extIdempotency is the vendor extension with which every POST and PATCH
// operation declares what it does with an Idempotency-Key: idempotencyHonoured,
// or idempotencyIgnored for the operations whose successful answers carry
// tokens, since storing those would keep access and refresh tokens in clear in
// the database for a day, and for institutions' webhooks, which send no key
// and whose copies are told by their body. (As a safety net, no successful
// answer marked Cache-Control: no-store is ever stored either.) Other methods
// are idempotent by definition and may not declare it.
const extIdempotency = "x-idempotency"

// The values of extIdempotency.
const (
	idempotencyHonoured = "key"
	idempotencyIgnored  = "ignored"
)

// honoursIdempotencyKeyOf reads the x-idempotency of the operation, whose
// method is given: whether it honours Idempotency-Key. A POST or PATCH
// operation without it, one with a value it does not know, and another method
// with it are errors, so that whether a retry runs twice is never decided by
// omission or typo.
func honoursIdempotencyKeyOf(method string, op *openapi3.Operation) (bool, error) {
	v, declared := op.Extensions[extIdempotency]
	if method != http.MethodPost && method != http.MethodPatch {
		if declared {
			return false, fmt.Errorf("%s is only for POST and PATCH operations; %s is idempotent without a key", extIdempotency, method)
		}
		return false, nil
	}
	if !declared {
		return false, fmt.Errorf("%s is missing (%s or %s)", extIdempotency, idempotencyHonoured, idempotencyIgnored)
	}
	switch s, _ := v.(string); s {
	case idempotencyHonoured:
		return true, nil
	case idempotencyIgnored:
		return false, nil
	}
	return false, fmt.Errorf("%s is %q, not %s or %s", extIdempotency, fmt.Sprint(v), idempotencyHonoured, idempotencyIgnored)
}

// honoursIdempotencyKey reports whether the request's operation honours
// Idempotency-Key (its x-idempotency is idempotencyHonoured). route is the
// matched Gin template; a request that matched no operation does not.
func (s *Spec) honoursIdempotencyKey(method, route string) bool {
	op := s.lookup(method, route)
	return op != nil && op.honoursIdempotencyKey
}

// replayedHeaders are the response headers stored and replayed with the status
// and body. Everything else (X-Request-ID, rate-limit headers) belongs to the
// replaying request.
var replayedHeaders = []string{"Content-Type", "Location", "ETag", "Last-Modified", "Cache-Control", headerSyncJoined}

// IdempotencyStore keeps idempotency records. The persistence adapter implements
// it over the database, whose unique key on (scope, method, route, key) decides
// between concurrent claims; it does not import this package, so the compile-time
// check that it fits is in this package's tests.
type IdempotencyStore interface {
	// Claim stores rec (without response) as the running claim of rec.Key and
	// returns claimed=true, unless the key already has a live record: then it
	// returns that record and claimed=false. A record is not live once it has
	// expired (ExpiresAt not after rec.LockedAt), nor while it is a running claim
	// locked at or before staleBefore (abandoned); such records are replaced.
	Claim(ctx context.Context, rec idempotency.Record, staleBefore time.Time) (existing idempotency.Record, claimed bool, err error)
	// Complete stores res as the outcome of the claim owner holds on key; the
	// record stays until it expires. A claim that was lost (taken over as
	// abandoned) is domain.ErrNotFound, and nothing is stored.
	Complete(ctx context.Context, key idempotency.Key, owner string, res idempotency.Response) error
	// Release deletes the claim owner holds on key, so the key can be used again.
	// A claim that was lost is not an error.
	Release(ctx context.Context, key idempotency.Key, owner string) error
}

// idempotencyOptions are the idempotency middleware's dependencies.
type idempotencyOptions struct {
	// spec says which operations honour Idempotency-Key (x-idempotency).
	spec  *Spec
	store IdempotencyStore
	log   *slog.Logger
	now   func() time.Time
	// secret keys the request fingerprints (at least 32 bytes).
	secret []byte
	// ttl and lockTimeout default to IdempotencyTTL and IdempotencyLockTimeout.
	ttl, lockTimeout time.Duration
	// maxBody bounds the body read for the fingerprint when validateRequest has
	// not already read it.
	maxBody int64
}

// idempotencyKeys makes POST and PATCH requests that carry an Idempotency-Key safe
// to retry: the first request runs and its answer is stored; the same key with
// the same request within IdempotencyTTL replays that answer (status, the
// replayed headers and body, byte for byte, plus Idempotency-Replay: true)
// without running the handler again. The same key while the first request still
// runs is 409 IDEMPOTENCY_IN_PROGRESS; with a different request it is 422
// IDEMPOTENCY_KEY_REUSED. Answers of 500 and above are not stored (the key is
// released, so a retry runs again), nor successful answers marked no-store.
//
// Keys are scoped to the caller: the user, or the client IP when anonymous.
// Requests without the header, and requests to operations that do not declare
// x-idempotency: key (other methods, and the token-minting operations), pass
// through untouched.
//
// It must run last, after validateRequest: requests that fail authentication,
// rate limiting or validation never reach a handler, so nothing is stored for
// them, and the validated body is reused for the fingerprint.
func idempotencyKeys(o idempotencyOptions) gin.HandlerFunc {
	if o.ttl == 0 {
		o.ttl = IdempotencyTTL
	}
	if o.lockTimeout == 0 {
		o.lockTimeout = IdempotencyLockTimeout
	}
	return func(c *gin.Context) {
		method, route := c.Request.Method, c.FullPath()
		values, present := c.Request.Header[headerIdempotencyKey]
		if !present || !o.spec.honoursIdempotencyKey(method, route) {
			c.Next()
			return
		}
		if err := checkIdempotencyKey(values); err != nil {
			writeProblem(c, o.log, err)
			return
		}
		body, err := idempotencyBody(c, o.maxBody)
		if err != nil {
			writeProblem(c, o.log, err)
			return
		}
		now := o.now()
		rec := idempotency.Record{
			Key:         idempotency.Key{Scope: idempotencyScope(c), Method: method, Route: route, Key: values[0]},
			Fingerprint: requestFingerprint(o.secret, c.Request, body),
			Owner:       uuid.NewString(),
			LockedAt:    now,
			ExpiresAt:   now.Add(o.ttl),
		}
		ctx := c.Request.Context()
		existing, claimed, err := o.store.Claim(ctx, rec, now.Add(-o.lockTimeout))
		if err != nil {
			writeProblem(c, o.log, err)
			return
		}
		if !claimed {
			answerExisting(c, o.log, rec, existing)
			return
		}
		runAndRecord(c, o, rec)
	}
}

// answerExisting answers a request whose key already has a live record.
func answerExisting(c *gin.Context, log *slog.Logger, rec, existing idempotency.Record) {
	switch {
	case !bytes.Equal(existing.Fingerprint, rec.Fingerprint):
		writeProblem(c, log, &withFields{err: errIdempotencyKeyReused, fields: []fieldError{{
			Field: headerIdempotencyKey, Code: "reused",
			Message: "This key was already used with a different request (path, query or body).",
		}}})
	case existing.Response == nil:
		c.Header(headerRetryAfter, "1")
		writeProblem(c, log, errIdempotencyInProgress)
	default:
		res := existing.Response
		h := c.Writer.Header()
		for _, name := range replayedHeaders {
			h.Del(name)
			for _, v := range res.Header.Values(name) {
				h.Add(name, v)
			}
		}
		h.Set(headerIdempotencyReplay, "true")
		c.Writer.WriteHeader(res.Status)
		c.Writer.WriteHeaderNow()
		if len(res.Body) > 0 {
			_, _ = c.Writer.Write(res.Body)
		}
		c.Abort()
	}
}

// runAndRecord runs the handler on the claimed key and stores its answer, or
// releases the key when the answer must not be replayed.
func runAndRecord(c *gin.Context, o idempotencyOptions, rec idempotency.Record) {
	// The request's context may be over (deadline, client gone) by the time the
	// outcome is stored; the bookkeeping gets its own short budget.
	bookkeeping := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(c.Request.Context()), 5*time.Second)
	}
	release := func() {
		ctx, cancel := bookkeeping()
		defer cancel()
		if err := o.store.Release(ctx, rec.Key, rec.Owner); err != nil {
			o.log.WarnContext(ctx, "could not release an idempotency key; it frees itself once abandoned",
				"route", rec.Key.Route, "error", err.Error())
		}
	}
	recorder := &recordingWriter{ResponseWriter: c.Writer}
	c.Writer = recorder
	defer func() {
		c.Writer = recorder.ResponseWriter
		if r := recover(); r != nil {
			release()
			panic(r)
		}
	}()
	c.Next()

	status := recorder.Status()
	if status >= http.StatusInternalServerError || recorder.overflow ||
		(status < http.StatusMultipleChoices && noStore(recorder.Header())) {
		release()
		return
	}
	res := idempotency.Response{Status: status, Header: http.Header{}, Body: recorder.body.Bytes()}
	for _, name := range replayedHeaders {
		for _, v := range recorder.Header().Values(name) {
			res.Header.Add(name, v)
		}
	}
	ctx, cancel := bookkeeping()
	defer cancel()
	if err := o.store.Complete(ctx, rec.Key, rec.Owner, res); err != nil {
		o.log.WarnContext(ctx, "could not store an idempotent answer; a retry will run again",
			"route", rec.Key.Route, "error", err.Error())
		release()
	}
}

// checkIdempotencyKey accepts exactly one key of 1 to 255 printable ASCII
// characters.
func checkIdempotencyKey(values []string) error {
	const field = headerIdempotencyKey
	if len(values) != 1 {
		return domain.NewValidationError(field, "invalid", "Send exactly one Idempotency-Key header.")
	}
	key := values[0]
	switch {
	case key == "":
		return domain.NewValidationError(field, "too_short", "The Idempotency-Key must not be empty.")
	case len(key) > 255:
		return domain.NewValidationError(field, "too_long", "The Idempotency-Key must be at most 255 characters.")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return domain.NewValidationError(field, "invalid_format", "The Idempotency-Key must be printable ASCII (a UUID is a good choice).")
		}
	}
	return nil
}

// idempotencyScope is the caller the key belongs to.
func idempotencyScope(c *gin.Context) string {
	if p, ok := principalOf(c); ok {
		return idempotency.UserScope(p.UserID.String())
	}
	return "ip:" + c.ClientIP()
}

// idempotencyBody returns the request body: the one validateRequest kept, or,
// for a chain without validation, the body read here (and put back).
func idempotencyBody(c *gin.Context, maxBody int64) ([]byte, error) {
	if v, ok := c.Get(ctxBody); ok {
		b, _ := v.([]byte)
		return b, nil
	}
	if c.Request.Body == nil || c.Request.Body == http.NoBody {
		return nil, nil
	}
	if maxBody <= 0 {
		maxBody = 256 << 10
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxBody+1))
	if err != nil {
		return nil, errMalformedJSON
	}
	if int64(len(body)) > maxBody {
		return nil, errBodyTooLarge
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// requestFingerprint is the keyed hash of what makes two requests the same
// request: the path (two providers share one route template), the query and the
// body. Each part is length-prefixed, so that no two different requests hash
// alike.
func requestFingerprint(secret []byte, r *http.Request, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	for _, part := range [][]byte{[]byte(r.URL.Path), []byte(r.URL.RawQuery), body} {
		_ = binary.Write(h, binary.BigEndian, uint64(len(part)))
		h.Write(part)
	}
	return h.Sum(nil)
}

// noStore reports whether the answer forbids storing it (it carries tokens).
func noStore(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-store") {
				return true
			}
		}
	}
	return false
}

// recordingWriter passes the answer through and keeps a copy of its body, up to
// maxReplayBody.
type recordingWriter struct {
	gin.ResponseWriter
	body     bytes.Buffer
	overflow bool
}

// keep records what was written, until it grows past maxReplayBody.
func (w *recordingWriter) keep(p []byte) {
	if w.overflow {
		return
	}
	if w.body.Len()+len(p) > maxReplayBody {
		w.overflow = true
		w.body = bytes.Buffer{}
		return
	}
	w.body.Write(p)
}

// Write passes b on and records what was written.
func (w *recordingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.keep(b[:n])
	return n, err
}

// WriteString passes s on and records what was written.
func (w *recordingWriter) WriteString(s string) (int, error) {
	n, err := w.ResponseWriter.WriteString(s)
	w.keep([]byte(s[:n]))
	return n, err
}

package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/ratelimit"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain/identity"
)

// Rate-limit tiers. Each operation names its tier in openapi.yaml
// (x-rate-limit-tier). The names appear in metrics and name the limiters that
// bootstrap configures (RATE_LIMIT_AUTH, RATE_LIMIT_REFRESH,
// RATE_LIMIT_REFRESH_IP, RATE_LIMIT_READ, RATE_LIMIT_WRITE,
// RATE_LIMIT_WEBHOOK).
const (
	// TierAuth throttles the operations a credential-guessing or mail-bombing
	// client would hammer (they check or mint credentials or send email), per
	// client IP and per email (or per user when authenticated); a login per
	// account, or per device when it presents a device token of the account
	// (devicetoken.go). They fail closed when the rate-limit store is down.
	TierAuth = "auth"
	// TierRefresh throttles token refresh per session, not per IP, so that the
	// people behind one NAT do not refresh on one budget: the key is a digest
	// of the presented refresh token, which the session holds alone, computed
	// without reading the database. TierRefreshIP is its per-IP backstop, far
	// larger, against floods of made-up tokens. Both fail closed.
	TierRefresh   = "refresh"
	TierRefreshIP = "refresh_ip"
	// TierRead throttles reads (GET, and HEAD with it), per user (per IP when
	// anonymous).
	TierRead = "read"
	// TierWrite throttles changes, per user (per IP when anonymous).
	TierWrite = "write"
	// TierWebhook throttles the webhooks institutions send, per client IP:
	// an institution posts from a few addresses for every user at once, so
	// the write tier's per-IP budget would throttle it.
	TierWebhook = "webhook"
	// TierAdmin throttles every admin route, reads and writes, per admin
	// (RATE_LIMIT_ADMIN).
	TierAdmin = "admin"
	// tierNone is the x-rate-limit-tier of operations no tier limits: the
	// operational endpoints outside /api/v1 (probes, metrics, documentation).
	tierNone = "none"
)

// extRateLimitTier is the vendor extension with which every operation declares
// its rate-limit tier: TierAuth, TierRefresh, TierRead, TierWrite, TierAdmin, or tierNone for the
// operational endpoints that are never limited. Declaring it on the operation
// keeps the policy next to the route it applies to and visible to clients in
// /openapi.json (docs/api-conventions.md).
const extRateLimitTier = "x-rate-limit-tier"

// Rate-limit response headers.
const (
	headerRateLimit     = "X-RateLimit-Limit"
	headerRateRemaining = "X-RateLimit-Remaining"
	headerRateReset     = "X-RateLimit-Reset"
	headerRetryAfter    = "Retry-After"
)

// storeWarnInterval spaces the warnings about a failing rate-limit store, so an
// outage costs one log line per interval rather than one per request.
const storeWarnInterval = 10 * time.Second

// RateLimiter counts requests per key in one fixed window per tier.
type RateLimiter interface {
	// Take counts one request against key in tier and says whether it is within
	// the limit. A store that cannot be reached is an error wrapping
	// domain.ErrUnavailable; the request was then not counted.
	Take(ctx context.Context, tier, key string) (ratelimit.Result, error)
}

var _ RateLimiter = (*ratelimit.Limiters)(nil)

// rateLimitOptions are the rate-limit middleware's dependencies.
type rateLimitOptions struct {
	// spec says each operation's tier (Spec.rateTier).
	spec    *Spec
	limiter RateLimiter
	log     *slog.Logger
	metrics rateLimitObserver // nil: no metrics
	// maxBody bounds how much of an auth- or refresh-tier request body is read
	// to find its email, device token or refresh token; a larger body is left
	// for validateRequest to refuse (413).
	maxBody int64
	// devices checks the device tokens of logins.
	devices *deviceTokens
	now     func() time.Time
}

// rateLimitObserver is told about refusals and store failures (*Metrics).
type rateLimitObserver interface {
	rateLimited(tier string)
	rateLimitStoreFailed(tier string)
}

// rateLimit counts each request against its operation's tier (Spec.rateTier)
// and refuses it with 429 beyond the tier's limits. Operational endpoints
// (/api/health, /healthz, /readyz, /metrics, /openapi.json, /docs, /redoc) are
// outside /api/v1 and declare no tier: they are never limited.
//
// It must run after authenticate (read and write requests are counted per user)
// and before validateRequest: auth-tier requests are counted whether or not
// their body is valid, and the middleware reads the body's "email" itself, with
// the same size cap, leaving the body intact for validation.
//
// Keys come from c.ClientIP(), which believes X-Forwarded-For only from the
// configured trusted proxies, so a client cannot pick its own key.
//
// When the store fails, the auth and refresh tiers fail closed (503:
// brute-force protection must not silently disappear) and the read and write tiers fail open (the
// request proceeds without rate-limit headers; a warning is logged at most once
// per storeWarnInterval).
func rateLimit(o rateLimitOptions) gin.HandlerFunc {
	warn := &throttledLog{every: storeWarnInterval}
	return func(c *gin.Context) {
		tier, limited := o.spec.rateTier(c.Request.Method, c.FullPath(), c.Request.URL.Path)
		if !limited {
			c.Next()
			return
		}
		ctx := c.Request.Context()
		var (
			worst ratelimit.Result
			taken bool
		)
		for _, key := range rateLimitKeys(c, tier, o) {
			res, err := o.limiter.Take(ctx, key.tier, key.key)
			if err != nil {
				if o.metrics != nil {
					o.metrics.rateLimitStoreFailed(tier)
				}
				if tier == TierAuth || tier == TierRefresh {
					writeProblem(c, o.log, err)
					return
				}
				if ok, suppressed := warn.allow(time.Now()); ok {
					o.log.WarnContext(ctx, "rate-limit store failed; letting requests through",
						"tier", tier, "error", err.Error(), "suppressed_warnings", suppressed)
				}
				c.Next()
				return
			}
			if !taken || moreRestrictive(res, worst) {
				worst, taken = res, true
			}
			if !res.Allowed {
				// Do not spend the next key's budget on a request already refused.
				break
			}
		}
		// The limiter's windows run on the real clock, so Retry-After does too.
		now := time.Now()
		h := c.Writer.Header()
		h.Set(headerRateLimit, strconv.FormatInt(worst.Limit, 10))
		h.Set(headerRateRemaining, strconv.FormatInt(worst.Remaining, 10))
		h.Set(headerRateReset, strconv.FormatInt(worst.Reset.Unix(), 10))
		if !worst.Allowed {
			if o.metrics != nil {
				o.metrics.rateLimited(tier)
			}
			h.Set(headerRetryAfter, strconv.FormatInt(retryAfterSeconds(worst.Reset, now), 10))
			writeProblem(c, o.log, errRateLimited)
			return
		}
		c.Next()
	}
}

// rateTierOf reads the operation's x-rate-limit-tier: the tier that limits it,
// or "" for tierNone. A missing or unknown tier is an error, so that an
// operation cannot go unlimited, or be limited by a tier nobody configured, by
// omission or typo.
func rateTierOf(op *openapi3.Operation) (string, error) {
	tiers := []string{TierAuth, TierRefresh, TierRead, TierWrite, TierWebhook, TierAdmin, tierNone}
	v, ok := op.Extensions[extRateLimitTier]
	if !ok {
		return "", fmt.Errorf("%s is missing (one of %s)", extRateLimitTier, strings.Join(tiers, ", "))
	}
	tier, _ := v.(string)
	switch tier {
	case TierAuth, TierRefresh, TierRead, TierWrite, TierWebhook, TierAdmin:
		return tier, nil
	case tierNone:
		return "", nil
	}
	return "", fmt.Errorf("%s is %q, not one of %s", extRateLimitTier, fmt.Sprint(v), strings.Join(tiers, ", "))
}

// rateTier says which tier limits a request, if any: its operation's
// x-rate-limit-tier. route is the matched Gin template ("" when nothing
// matched). A request under /api/v1 that matches no operation (404, 405, or an
// OPTIONS that is not a CORS preflight) is counted all the same, so that probing
// the API for routes is not free: in the read tier when its method is safe, in
// the write tier otherwise.
func (s *Spec) rateTier(method, route, path string) (string, bool) {
	if op := s.lookup(method, route); op != nil {
		return op.rateTier, op.rateTier != ""
	}
	if !strings.HasPrefix(path, apiBase+"/") {
		return "", false
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return TierRead, true
	}
	return TierWrite, true
}

// limitKey is one count a request makes: key in tier.
type limitKey struct{ tier, key string }

// loginRoute is the login operation, whose per-account key a device token
// replaces.
const loginRoute = apiBase + "/sessions"

// rateLimitKeys lists the keys a request is counted against, each in its tier.
//
// Auth-tier requests count against the client IP and, when known, the email
// in the body or else the authenticated user (the verification resend has no
// body). A login counts against the account ("login:" and the email's
// digest, apart from the other auth operations' "email:" key, so that failed
// logins never spend the budget of a password reset), or, when it presents a
// device token the account was given at an earlier login on this device,
// against that device instead: an attacker's attempts from elsewhere do not
// lock the owner's known devices out.
//
// Refresh-tier requests count against the presented refresh token's digest
// (its session's one token), and against the client IP in TierRefreshIP.
//
// Other requests count against the user, or the client IP when anonymous.
func rateLimitKeys(c *gin.Context, tier string, o rateLimitOptions) []limitKey {
	ip := "ip:" + clientNetwork(c.ClientIP())
	user, authenticated := principalOf(c)
	switch tier {
	case TierAuth:
	case TierRefresh:
		keys := []limitKey{{TierRefreshIP, ip}}
		if body := peekBody(c, o.maxBody); body.RefreshToken != "" {
			sum := sha256.Sum256([]byte(body.RefreshToken))
			keys = append(keys, limitKey{TierRefresh, "session:" + hex.EncodeToString(sum[:16])})
		}
		return keys
	default:
		if authenticated {
			return []limitKey{{tier, "user:" + user.UserID.String()}}
		}
		return []limitKey{{tier, ip}}
	}
	keys := []limitKey{{TierAuth, ip}}
	body := peekBody(c, o.maxBody)
	email, err := identity.ParseEmail(body.Email)
	switch {
	case body.Email != "" && err == nil && c.Request.Method == http.MethodPost && c.FullPath() == loginRoute:
		digest := emailDigest(email)
		if claim, ok := o.devices.check(presentedDeviceToken(c, body.DeviceToken), digest, o.now()); ok {
			keys = append(keys, limitKey{TierAuth, "device:" + claim.device.String()})
		} else {
			keys = append(keys, limitKey{TierAuth, "login:" + digest})
		}
	case body.Email != "" && err == nil:
		keys = append(keys, limitKey{TierAuth, "email:" + emailDigest(email)})
	case authenticated:
		keys = append(keys, limitKey{TierAuth, "user:" + user.UserID.String()})
	}
	return keys
}

// clientNetwork is what one client is counted by: an IPv4 address, or the /64
// network of an IPv6 address. A single host is routinely given a whole /64,
// so counting IPv6 addresses one by one would let one client rotate through
// 2^64 fresh limits.
func clientNetwork(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// principalOf returns the caller when the request was authenticated.
func principalOf(c *gin.Context) (identityapp.Principal, bool) {
	v, ok := c.Get(ctxPrincipal)
	if !ok {
		return identityapp.Principal{}, false
	}
	p, ok := v.(identityapp.Principal)
	return p, ok
}

// peekedBody is what the limiter reads of a request body to pick its keys.
type peekedBody struct {
	Email        string `json:"email"`
	DeviceToken  string `json:"device_token"`
	RefreshToken string `json:"refresh_token"`
}

// peekBody reads the request body's email, device token and refresh token
// without consuming the body: what it read is put back in front of the rest.
// A body that is larger than maxBody or not JSON yields nothing; validation
// deals with it.
func peekBody(c *gin.Context, maxBody int64) peekedBody {
	var body peekedBody
	if c.Request.Body == nil || c.Request.Body == http.NoBody {
		return body
	}
	orig := c.Request.Body
	buf, err := io.ReadAll(io.LimitReader(orig, maxBody+1))
	c.Request.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(buf), orig), Closer: orig}
	if err != nil || int64(len(buf)) > maxBody {
		return body
	}
	if json.Unmarshal(buf, &body) != nil {
		body = peekedBody{}
	}
	return body
}

type readCloser struct {
	io.Reader
	io.Closer
}

// moreRestrictive reports whether a binds tighter than b: a refusal first, then
// fewer remaining requests, then the later reset.
func moreRestrictive(a, b ratelimit.Result) bool {
	if a.Allowed != b.Allowed {
		return !a.Allowed
	}
	if a.Remaining != b.Remaining {
		return a.Remaining < b.Remaining
	}
	return a.Reset.After(b.Reset)
}

// retryAfterSeconds is how long to wait until reset, in whole seconds, at least 1.
func retryAfterSeconds(reset, now time.Time) int64 {
	return max(1, int64(math.Ceil(reset.Sub(now).Seconds())))
}

// throttledLog lets one log line through per interval and counts the rest.
type throttledLog struct {
	every      time.Duration
	last       atomic.Int64 // UnixNano of the last line let through
	suppressed atomic.Int64
}

// allow reports whether a line may be logged now and how many were suppressed
// since the last one.
func (t *throttledLog) allow(now time.Time) (bool, int64) {
	last := t.last.Load()
	if last != 0 && now.UnixNano()-last < int64(t.every) {
		t.suppressed.Add(1)
		return false, 0
	}
	if !t.last.CompareAndSwap(last, now.UnixNano()) {
		t.suppressed.Add(1)
		return false, 0
	}
	return true, t.suppressed.Swap(0)
}

// RateLimitStore is what the health check needs from the rate limiters
// (*ratelimit.Limiters).
type RateLimitStore interface {
	// Shared is true for a store outside the process (Redis).
	Shared() bool
	Ping(ctx context.Context) error
}

// RateLimitStoreCheck is the "rate_limit_store" entry of /api/health and
// /readyz: "memory" for an in-process store, otherwise up or down. It is never
// Required: while the store is down the API keeps answering (read and write
// requests unlimited, auth requests 503), so instances must stay in rotation.
func RateLimitStoreCheck(store RateLimitStore) Check {
	chk := Check{Name: "rate_limit_store"}
	if store.Shared() {
		chk.Probe = store.Ping
	}
	return chk
}

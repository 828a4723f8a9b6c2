package plaid

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

// Webhook verification (PROVIDERS.md, Plaid webhooks). Each delivery carries
// a Plaid-Verification header: a JWT signed with ES256 whose kid names a key
// Plaid serves at /webhook_verification_key/get, and whose claims are iat and
// request_body_sha256 (the hex SHA-256 of the raw body).
const (
	// HeaderVerification is the header holding the delivery's JWT.
	HeaderVerification = "Plaid-Verification"
	// WebhookMaxAge is how old a delivery's signature (iat) may be.
	WebhookMaxAge = 5 * time.Minute
	// webhookSkew is how far in the future iat may be: clock skew.
	webhookSkew = 30 * time.Second
	// maxCachedKeys bounds the key cache; Plaid rotates its keys rarely.
	maxCachedKeys = 16
	// keyCacheTTL: a cached key is fetched again after it, so that an
	// expiry Plaid sets later is seen.
	keyCacheTTL = time.Hour
	// keyFetchWindow and maxKeyFetches bound the fetches of keys not in the
	// cache, so that deliveries naming made-up kids cannot make Dashtam
	// hammer Plaid: beyond the bound, an unknown kid is refused unfetched.
	keyFetchWindow = time.Minute
	maxKeyFetches  = 10
	// maxJWTBytes bounds the header's JWT before it is parsed.
	maxJWTBytes = 4 << 10
)

// errKeyFetchLimited: the bound on fetches of unknown keys is reached.
var errKeyFetchLimited = errors.New("too many verification key fetches")

var _ providers.WebhookVerifier = (*Connector)(nil)

// webhookKeys caches Plaid's verification keys by kid.
type webhookKeys struct {
	mu      sync.Mutex
	keys    map[string]cachedKey
	fetches []time.Time // fetch times within keyFetchWindow, oldest first
}

type cachedKey struct {
	key       *ecdsa.PublicKey
	expiredAt time.Time // zero: not expired
	fetchedAt time.Time
}

type webhookKeyRequest struct {
	credentials
	KeyID string `json:"key_id"`
}

type webhookKeyResponse struct {
	Key struct {
		Alg       string `json:"alg"`
		Crv       string `json:"crv"`
		Kid       string `json:"kid"`
		Kty       string `json:"kty"`
		Use       string `json:"use"`
		X         string `json:"x"`
		Y         string `json:"y"`
		CreatedAt int64  `json:"created_at"`
		ExpiredAt *int64 `json:"expired_at"`
	} `json:"key"`
	RequestID string `json:"request_id"`
}

// webhookClaims are the claims of Plaid-Verification.
type webhookClaims struct {
	IssuedAt   *jwt.NumericDate `json:"iat"`
	BodySHA256 string           `json:"request_body_sha256"`
}

// The registered-claims methods jwt.Claims asks for; only iat is used, and
// checked here (validation by the library is off: it would read the system
// clock).
func (c *webhookClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *webhookClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *webhookClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *webhookClaims) GetIssuer() (string, error)                   { return "", nil }
func (c *webhookClaims) GetSubject() (string, error)                  { return "", nil }
func (c *webhookClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// webhookBody is the part of a delivery's JSON Dashtam reads.
type webhookBody struct {
	WebhookType string `json:"webhook_type"`
	WebhookCode string `json:"webhook_code"`
	ItemID      string `json:"item_id"`
	Error       *struct {
		ErrorType string `json:"error_type"`
		ErrorCode string `json:"error_code"`
	} `json:"error"`
	ConsentExpirationTime *string `json:"consent_expiration_time"`
}

// VerifyWebhook authenticates a Plaid webhook delivery: the Plaid-Verification
// JWT must be ES256 (nothing else is accepted: not none, not HS*, not RS*),
// signed by the P-256 key its kid names (fetched from Plaid, cached), issued
// at most WebhookMaxAge ago by the connector's clock and not in the future
// beyond a small skew, and its request_body_sha256 must be the SHA-256 of
// body exactly as received (compared in constant time). Then the body says
// which item it is about and what it asks for.
func (c *Connector) VerifyWebhook(ctx context.Context, header map[string][]string, body []byte) (providers.WebhookNotice, error) {
	raw := http.Header(header).Get(HeaderVerification)
	if raw == "" || len(raw) > maxJWTBytes {
		return providers.WebhookNotice{}, fmt.Errorf("plaid webhook: %s missing or oversized: %w", HeaderVerification, providers.ErrWebhookSignature)
	}
	var fetchErr error
	claims := &webhookClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithoutClaimsValidation())
	_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid")
		}
		key, err := c.webhookKey(ctx, kid)
		fetchErr = err
		return key, err
	})
	if err != nil {
		if errors.Is(fetchErr, domain.ErrProviderUnavailable) || errors.Is(fetchErr, domain.ErrProviderTimeout) {
			return providers.WebhookNotice{}, fetchErr
		}
		// The parser's text names the reason (bad signature, wrong alg),
		// never the token.
		return providers.WebhookNotice{}, fmt.Errorf("plaid webhook: %v: %w", reason(err, fetchErr), providers.ErrWebhookSignature)
	}
	if claims.IssuedAt == nil {
		return providers.WebhookNotice{}, fmt.Errorf("plaid webhook: no iat: %w", providers.ErrWebhookSignature)
	}
	now, signed := c.now(), claims.IssuedAt.Time
	if now.Sub(signed) > WebhookMaxAge || signed.Sub(now) > webhookSkew {
		return providers.WebhookNotice{}, fmt.Errorf("plaid webhook: signed at %s, outside %s of now: %w",
			signed.UTC().Format(time.RFC3339), WebhookMaxAge, providers.ErrWebhookSignature)
	}
	claimed, err := hex.DecodeString(strings.ToLower(claims.BodySHA256))
	sum := sha256.Sum256(body)
	if err != nil || subtle.ConstantTimeCompare(claimed, sum[:]) != 1 {
		return providers.WebhookNotice{}, fmt.Errorf("plaid webhook: the body is not the one signed: %w", providers.ErrWebhookSignature)
	}
	return parseWebhook(body, signed)
}

// reason is why parsing failed, without the token.
func reason(err, fetchErr error) string {
	switch {
	case fetchErr != nil:
		return "verification key: " + fetchErr.Error()
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unverifiable token (algorithm or key refused)"
	}
	return "token refused"
}

// parseWebhook reads a verified delivery.
func parseWebhook(body []byte, signed time.Time) (providers.WebhookNotice, error) {
	var in webhookBody
	if err := json.Unmarshal(body, &in); err != nil || in.WebhookType == "" || in.WebhookCode == "" {
		return providers.WebhookNotice{}, fmt.Errorf("plaid webhook: body without webhook_type and webhook_code: %w", domain.ErrInvalidRequest)
	}
	n := providers.WebhookNotice{ExternalID: in.ItemID, Type: in.WebhookType, Code: in.WebhookCode,
		Action: providers.WebhookIgnore, SignedAt: signed.UTC()}
	if in.Error != nil {
		n.ErrorCode = in.Error.ErrorCode
	}
	switch in.WebhookType + "/" + in.WebhookCode {
	case "TRANSACTIONS/SYNC_UPDATES_AVAILABLE", "HOLDINGS/DEFAULT_UPDATE", "INVESTMENTS_TRANSACTIONS/DEFAULT_UPDATE":
		n.Action = providers.WebhookSync
	case "ITEM/ERROR":
		// The codes that need the user are the ones a data call classifies
		// as re-authorization required.
		if in.Error != nil && errors.Is((&apiError{ErrorType: in.Error.ErrorType, ErrorCode: in.Error.ErrorCode}).kind(), domain.ErrReauthorizationRequired) {
			n.Action = providers.WebhookReauthorize
		}
	case "ITEM/USER_PERMISSION_REVOKED":
		n.Action = providers.WebhookReauthorize
	case "ITEM/LOGIN_REPAIRED":
		n.Action = providers.WebhookRepaired
	case "ITEM/PENDING_EXPIRATION", "ITEM/PENDING_DISCONNECT":
		n.Action = providers.WebhookExpiring
		if in.ConsentExpirationTime != nil {
			if t, err := time.Parse(time.RFC3339, *in.ConsentExpirationTime); err == nil {
				n.ExpiresAt = t.UTC()
			}
		}
	}
	if n.Action != providers.WebhookIgnore && n.ExternalID == "" {
		return providers.WebhookNotice{}, fmt.Errorf("plaid webhook: %s/%s without item_id: %w", in.WebhookType, in.WebhookCode, domain.ErrInvalidRequest)
	}
	return n, nil
}

// webhookKey returns the verification key kid names: from the cache while
// it is fresh, else from Plaid, within the fetch bound. An expired key is
// refused.
func (c *Connector) webhookKey(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	now := c.now()
	k := &c.hookKeys
	k.mu.Lock()
	cached, ok := k.keys[kid]
	if ok && now.Sub(cached.fetchedAt) < keyCacheTTL {
		k.mu.Unlock()
		return usableKey(cached, now)
	}
	for len(k.fetches) > 0 && now.Sub(k.fetches[0]) >= keyFetchWindow {
		k.fetches = k.fetches[1:]
	}
	if len(k.fetches) >= maxKeyFetches {
		k.mu.Unlock()
		return nil, errKeyFetchLimited
	}
	k.fetches = append(k.fetches, now)
	k.mu.Unlock()

	fetched, err := c.fetchWebhookKey(ctx, kid)
	if err != nil {
		return nil, err
	}
	fetched.fetchedAt = now
	k.mu.Lock()
	if k.keys == nil {
		k.keys = map[string]cachedKey{}
	}
	if _, present := k.keys[kid]; !present && len(k.keys) >= maxCachedKeys {
		oldest := ""
		for id, ck := range k.keys {
			if oldest == "" || ck.fetchedAt.Before(k.keys[oldest].fetchedAt) {
				oldest = id
			}
		}
		delete(k.keys, oldest)
	}
	k.keys[kid] = fetched
	k.mu.Unlock()
	return usableKey(fetched, now)
}

func usableKey(k cachedKey, now time.Time) (*ecdsa.PublicKey, error) {
	if !k.expiredAt.IsZero() && !now.Before(k.expiredAt) {
		return nil, errors.New("the key expired")
	}
	return k.key, nil
}

// fetchWebhookKey asks Plaid for the key kid names. A kid Plaid refuses
// (INVALID_INPUT, such as INVALID_WEBHOOK_VERIFICATION_KEY_ID, or
// INVALID_REQUEST) is an error that is not domain.ErrProviderUnavailable:
// the delivery is refused as unauthenticated. Plaid failing is
// domain.ErrProviderUnavailable: the delivery is answered 502 and Plaid
// retries it.
func (c *Connector) fetchWebhookKey(ctx context.Context, kid string) (cachedKey, error) {
	const op = "plaid: get webhook verification key"
	var out webhookKeyResponse
	err := c.call(ctx, op, "/webhook_verification_key/get", webhookKeyRequest{credentials: c.credentials(), KeyID: kid}, &out)
	var apiErr *apiError
	if errors.As(err, &apiErr) && (apiErr.ErrorType == "INVALID_INPUT" || apiErr.ErrorType == "INVALID_REQUEST") {
		return cachedKey{}, errors.New("unknown kid")
	}
	if err != nil {
		return cachedKey{}, err
	}
	key := out.Key
	if key.Kty != "EC" || key.Crv != "P-256" || (key.Alg != "" && key.Alg != "ES256") || key.Kid != kid {
		return cachedKey{}, httpx.Fail(domain.ErrProviderUnavailable, op, "the key is not the P-256 key asked for", nil)
	}
	x, errX := base64.RawURLEncoding.DecodeString(key.X)
	y, errY := base64.RawURLEncoding.DecodeString(key.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return cachedKey{}, httpx.Fail(domain.ErrProviderUnavailable, op, "malformed key coordinates", nil)
	}
	// The uncompressed point 04 || X || Y; it must be on the curve.
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return cachedKey{}, httpx.Fail(domain.ErrProviderUnavailable, op, "the key is not a point of P-256", nil)
	}
	ck := cachedKey{key: pub}
	if key.ExpiredAt != nil {
		ck.expiredAt = time.Unix(*key.ExpiredAt, 0)
	}
	return ck, nil
}

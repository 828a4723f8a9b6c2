// Package accesstoken issues and verifies Dashtam's short-lived access tokens:
// HS256-signed JWTs in the RFC 9068 shape ("typ": "at+jwt"), signed with a keyring
// so the signing key can be rotated without logging everybody out.
package accesstoken

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/identity"
)

var _ identity.AccessTokens = (*Issuer)(nil)

// Defaults for Config's durations. Thirty minutes bounds how long a stolen access
// token is useful (a logout also takes effect at once, because every request
// checks the session); thirty seconds of leeway absorbs clock skew between
// instances without noticeably extending a token's life.
const (
	DefaultTTL    = 30 * time.Minute
	DefaultLeeway = 30 * time.Second
)

// MinSecretLen is the shortest signing secret New accepts: HS256 is only as
// strong as its key, and RFC 7518 requires a key at least as long as the hash.
const MinSecretLen = 32

const (
	// tokenType is the JOSE "typ" header of an access token (RFC 9068). Checking it
	// keeps any other JWT we might one day sign with the same keys (an ID token, an
	// email link) from being accepted as an access token.
	tokenType = "at+jwt"
	// maxTokenLen rejects absurd inputs before any decoding work; our tokens are
	// about 400 bytes.
	maxTokenLen = 4096
	maxKeyIDLen = 32
)

var signingMethod = jwt.SigningMethodHS256

// Key is one signing key of the keyring. ID travels in every token's "kid" header
// so a verifier can pick the right key without trying them all.
type Key struct {
	// ID is 1 to 32 characters of [A-Za-z0-9_-]. It is not secret.
	ID string
	// Secret is at least MinSecretLen random bytes.
	Secret []byte
}

// Config configures an Issuer.
type Config struct {
	// Keys is the keyring: the first key signs new tokens and every key verifies,
	// so a new key is introduced by putting it first and the old one is removed
	// once the tokens it signed have expired (TTL later).
	Keys []Key
	// Issuer and Audience are the "iss" and "aud" claims; tokens carrying others
	// are rejected, so a token minted for another service or environment that
	// shares a key is not accepted here.
	Issuer, Audience string
	// TTL is the lifetime of a token (DefaultTTL when zero).
	TTL time.Duration
	// Leeway is the clock skew tolerated when checking "exp" and "iat"
	// (DefaultLeeway when zero). It must be shorter than TTL.
	Leeway time.Duration
}

// Issuer is an identity.AccessTokens backed by HS256 JWTs. It is safe for
// concurrent use.
type Issuer struct {
	signingID  string
	signingKey []byte
	// keys holds each secret already boxed in an interface, as the parser's key
	// function returns it, so looking a key up does not allocate.
	keys     map[string]any
	issuer   string
	audience string
	ttl      time.Duration
	leeway   time.Duration

	// verified remembers recently verified tokens: parsing and checking a JWT
	// is about a tenth of an authenticated request's CPU.
	verified verifiedCache

	// Built once: the parser only decodes and checks the algorithm and signature;
	// the claims are checked per call against the caller's clock.
	parser    *jwt.Parser
	keyFunc   jwt.Keyfunc
	claimOpts [5]jwt.ParserOption
}

// New checks cfg and builds an Issuer. Secrets are copied, so the caller may wipe
// or reuse its slices.
func New(cfg Config) (*Issuer, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("accesstoken: no signing keys")
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("accesstoken: issuer and audience are required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.TTL < 0 || cfg.Leeway < 0 {
		return nil, errors.New("accesstoken: TTL and leeway must not be negative")
	}
	if cfg.Leeway >= cfg.TTL {
		return nil, errors.New("accesstoken: leeway must be shorter than TTL")
	}
	keys := make(map[string]any, len(cfg.Keys))
	for i, k := range cfg.Keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("accesstoken: key %d: id must be 1 to %d characters of [A-Za-z0-9_-]", i, maxKeyIDLen)
		}
		if len(k.Secret) < MinSecretLen {
			return nil, fmt.Errorf("accesstoken: key %q: secret shorter than %d bytes", k.ID, MinSecretLen)
		}
		if _, dup := keys[k.ID]; dup {
			return nil, fmt.Errorf("accesstoken: key id %q appears twice", k.ID)
		}
		keys[k.ID] = append([]byte(nil), k.Secret...)
	}

	i := &Issuer{
		signingID:  cfg.Keys[0].ID,
		signingKey: keys[cfg.Keys[0].ID].([]byte),
		keys:       keys,
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		ttl:        cfg.TTL,
		leeway:     cfg.Leeway,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{signingMethod.Alg()}),
			jwt.WithStrictDecoding(),
			jwt.WithoutClaimsValidation(),
		),
		claimOpts: [5]jwt.ParserOption{
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
		},
	}
	i.keyFunc = i.verificationKey
	return i, nil
}

func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > maxKeyIDLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// claims is the token payload: the registered claims plus the session id, which
// lets every request check that the session is still active.
type claims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
}

// Issue signs a new access token for the session with the primary key. Times are
// whole seconds (JWT's resolution), and the returned claims are exactly what Verify
// will report for the token.
func (i *Issuer) Issue(userID, sessionID uuid.UUID, now time.Time) (string, identity.AccessClaims, error) {
	if userID == uuid.Nil || sessionID == uuid.Nil {
		return "", identity.AccessClaims{}, errors.New("accesstoken: user and session ids are required")
	}
	jti, err := uuid.NewRandom()
	if err != nil {
		return "", identity.AccessClaims{}, fmt.Errorf("accesstoken: token id: %w", err)
	}
	iat := now.UTC().Truncate(time.Second)
	exp := iat.Add(i.ttl).Truncate(time.Second)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   userID.String(),
			Audience:  jwt.ClaimStrings{i.audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(iat),
			ID:        jti.String(),
		},
		SessionID: sessionID.String(),
	}
	t := jwt.NewWithClaims(signingMethod, c)
	t.Header["typ"] = tokenType
	t.Header["kid"] = i.signingID
	token, err := t.SignedString(i.signingKey)
	if err != nil {
		return "", identity.AccessClaims{}, fmt.Errorf("accesstoken: sign: %w", err)
	}
	return token, identity.AccessClaims{
		UserID:    userID,
		SessionID: sessionID,
		TokenID:   c.ID,
		IssuedAt:  iat,
		ExpiresAt: exp,
	}, nil
}

// Verify checks the token's algorithm (HS256 only), type header, key id,
// signature, issuer, audience, expiry and issue time against now, with the
// configured leeway, and returns its claims. Every failure wraps
// domain.ErrUnauthenticated; the error says which check failed but never contains
// the token.
func (i *Issuer) Verify(token string, now time.Time) (identity.AccessClaims, error) {
	if len(token) > maxTokenLen {
		return identity.AccessClaims{}, errMalformed
	}
	// A token verified before needs only its times checked again: signature,
	// algorithm, type, key, issuer, audience and claims cannot have changed,
	// since the cache is keyed by the token's exact bytes.
	if cached, ok := i.verified.get(token); ok {
		if now.Before(cached.ExpiresAt.Add(i.leeway)) && !now.Before(cached.IssuedAt.Add(-i.leeway)) {
			return cached, nil
		}
	}
	claims, err := i.verify(token, now)
	if err == nil {
		i.verified.put(token, claims)
	}
	return claims, err
}

// verify fully parses and checks token.
func (i *Issuer) verify(token string, now time.Time) (identity.AccessClaims, error) {
	var c claims
	parsed, err := i.parser.ParseWithClaims(token, &c, i.keyFunc)
	if err != nil {
		return identity.AccessClaims{}, classify(parsed, err)
	}

	// The clock is the caller's, so the validator is built per call (a few small
	// allocations; the static options are built once in New).
	v := jwt.NewValidator(i.claimOpts[0], i.claimOpts[1], i.claimOpts[2], i.claimOpts[3], i.claimOpts[4],
		jwt.WithTimeFunc(func() time.Time { return now }))
	if err := v.Validate(&c); err != nil {
		return identity.AccessClaims{}, classify(parsed, err)
	}
	if c.IssuedAt == nil {
		// WithIssuedAt checks iat only when present; we require it.
		return identity.AccessClaims{}, errMissingClaim
	}
	if c.ID == "" || len(c.ID) > 64 {
		return identity.AccessClaims{}, errBadClaim
	}
	userID, ok := parseUUID(c.Subject)
	if !ok {
		return identity.AccessClaims{}, errBadClaim
	}
	sessionID, ok := parseUUID(c.SessionID)
	if !ok {
		return identity.AccessClaims{}, errBadClaim
	}
	return identity.AccessClaims{
		UserID:    userID,
		SessionID: sessionID,
		TokenID:   c.ID,
		IssuedAt:  c.IssuedAt.UTC(),
		ExpiresAt: c.ExpiresAt.UTC(),
	}, nil
}

// verificationKey is the parser's key function. It runs after the algorithm check
// and before the signature check, so a token of another type or from an unknown
// key is refused without spending an HMAC on it.
func (i *Issuer) verificationKey(t *jwt.Token) (any, error) {
	if typ, _ := t.Header["typ"].(string); typ != tokenType {
		return nil, errWrongType
	}
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errMissingKeyID
	}
	key, ok := i.keys[kid]
	if !ok {
		return nil, errUnknownKeyID
	}
	return key, nil
}

// parseUUID accepts only the canonical 36-character form we issue, and not the
// nil UUID; uuid.Parse alone would also take braces, "urn:uuid:" and no hyphens.
func parseUUID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil && id != uuid.Nil
}

// verifiedCacheSize bounds the verified-token cache: about 4,096 tokens of a few
// hundred bytes each, a couple of MiB at most.
const verifiedCacheSize = 4096

// verifiedCache maps tokens that passed every check to their claims. When full,
// an arbitrary entry makes room (Go's map iteration order): hot tokens are
// re-added on their next request.
type verifiedCache struct {
	mu sync.Mutex
	m  map[string]identity.AccessClaims
}

func (c *verifiedCache) get(token string) (identity.AccessClaims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	claims, ok := c.m[token]
	return claims, ok
}

func (c *verifiedCache) put(token string, claims identity.AccessClaims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]identity.AccessClaims, verifiedCacheSize)
	}
	if len(c.m) >= verifiedCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[token] = claims
}

package accesstoken

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain"
)

var (
	testNow     = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	testUser    = uuid.MustParse("0b3c5f7e-4a21-4d6e-9f10-2a3b4c5d6e7f")
	testSession = uuid.MustParse("9e8d7c6b-5a49-4382-b716-05f4e3d2c1b0")
	primaryKey  = Key{ID: "k2026", Secret: []byte("primary-secret-0123456789abcdef-0123")}
	oldKey      = Key{ID: "k2025", Secret: []byte("retiring-secret-0123456789abcdef-012")}
	strangerKey = Key{ID: "k2026", Secret: []byte("somebody-elses-secret-0123456789abcd")}
)

func testConfig() Config {
	return Config{
		Keys:     []Key{primaryKey, oldKey},
		Issuer:   "https://api.dashtam.test",
		Audience: "dashtam-api",
	}
}

func newTestIssuer(t testing.TB) *Issuer {
	t.Helper()
	i, err := New(testConfig())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return i
}

// baseClaims are the claims of a valid token issued at testNow.
func baseClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "https://api.dashtam.test",
		"aud": []string{"dashtam-api"},
		"sub": testUser.String(),
		"sid": testSession.String(),
		"jti": "6f1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b",
		"iat": testNow.Unix(),
		"exp": testNow.Add(30 * time.Minute).Unix(),
	}
}

// forge signs claims with any method and key, starting from our header
// (typ at+jwt, kid of the primary key) changed by editHeader.
func forge(t testing.TB, method jwt.SigningMethod, key any, editClaims func(jwt.MapClaims), editHeader func(map[string]any)) string {
	t.Helper()
	c := baseClaims()
	if editClaims != nil {
		editClaims(c)
	}
	tok := jwt.NewWithClaims(method, c)
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = primaryKey.ID
	if editHeader != nil {
		editHeader(tok.Header)
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return s
}

func hs256(t testing.TB, editClaims func(jwt.MapClaims), editHeader func(map[string]any)) string {
	t.Helper()
	return forge(t, jwt.SigningMethodHS256, primaryKey.Secret, editClaims, editHeader)
}

func TestIssueThenVerify(t *testing.T) {
	i := newTestIssuer(t)
	token, issued, err := i.Issue(testUser, testSession, testNow)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	want := identity.AccessClaims{
		UserID:    testUser,
		SessionID: testSession,
		TokenID:   issued.TokenID,
		IssuedAt:  testNow.Truncate(time.Second),
		ExpiresAt: testNow.Truncate(time.Second).Add(DefaultTTL),
	}
	if issued != want {
		t.Fatalf("Issue claims = %+v, want %+v", issued, want)
	}
	if _, err := uuid.Parse(issued.TokenID); err != nil || len(issued.TokenID) != 36 {
		t.Errorf("jti %q is not a UUID: %v", issued.TokenID, err)
	}

	got, err := i.Verify(token, testNow)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got != issued {
		t.Errorf("Verify = %+v, want what Issue returned %+v", got, issued)
	}

	// The wire format is what SECURITY.md promises.
	parts := strings.Split(token, ".")
	header := decodeSegment(t, parts[0])
	for _, want := range []string{`"alg":"HS256"`, `"typ":"at+jwt"`, `"kid":"k2026"`} {
		if !strings.Contains(header, want) {
			t.Errorf("header %s lacks %s", header, want)
		}
	}
	payload := decodeSegment(t, parts[1])
	for _, claim := range []string{"iss", "aud", "sub", "sid", "jti", "iat", "exp"} {
		if !strings.Contains(payload, `"`+claim+`":`) {
			t.Errorf("payload %s lacks %q", payload, claim)
		}
	}

	again, _, err := i.Issue(testUser, testSession, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if again == token {
		t.Error("two tokens issued at the same instant are identical: jti is not random")
	}
}

func decodeSegment(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVerify(t *testing.T) {
	i := newTestIssuer(t)
	leeway := DefaultLeeway

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		token   string
		now     time.Time // testNow when zero
		wantErr error     // nil: accepted
	}{
		{name: "valid", token: hs256(t, nil, nil)},
		{name: "valid with audience among several", token: hs256(t, func(c jwt.MapClaims) { c["aud"] = []string{"other", "dashtam-api"} }, nil)},
		{name: "valid with audience as a single string", token: hs256(t, func(c jwt.MapClaims) { c["aud"] = "dashtam-api" }, nil)},

		// Algorithm pinning.
		{name: "alg none", token: forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, nil), wantErr: errAlgorithm},
		{name: "alg none with empty signature and HS256 claimed elsewhere", token: noneWithTrailingDot(t), wantErr: errAlgorithm},
		{name: "RS256 with our kid", token: forge(t, jwt.SigningMethodRS256, rsaKey, nil, nil), wantErr: errAlgorithm},
		{name: "ES256 with our kid", token: forge(t, jwt.SigningMethodES256, ecKey, nil, nil), wantErr: errAlgorithm},
		{name: "HS512 with our secret", token: forge(t, jwt.SigningMethodHS512, primaryKey.Secret, nil, nil), wantErr: errAlgorithm},
		{name: "unknown alg", token: hs256(t, nil, func(h map[string]any) { h["alg"] = "XX999" }), wantErr: errAlgorithm},
		{name: "missing alg", token: hs256(t, nil, func(h map[string]any) { delete(h, "alg") }), wantErr: errAlgorithm},

		// Signature.
		{name: "signed with another HMAC key under our kid", token: forge(t, jwt.SigningMethodHS256, strangerKey.Secret, nil, nil), wantErr: errSignature},
		{name: "payload swapped after signing", token: swapPayload(hs256(t, nil, nil), hs256(t, func(c jwt.MapClaims) { c["sub"] = uuid.NewString() }, nil)), wantErr: errSignature},
		{name: "signature stripped", token: strings.TrimRightFunc(hs256(t, nil, nil), func(r rune) bool { return r != '.' }), wantErr: errSignature},

		// Header.
		{name: "typ missing", token: hs256(t, nil, func(h map[string]any) { delete(h, "typ") }), wantErr: errWrongType},
		{name: "typ JWT", token: hs256(t, nil, func(h map[string]any) { h["typ"] = "JWT" }), wantErr: errWrongType},
		{name: "typ not a string", token: hs256(t, nil, func(h map[string]any) { h["typ"] = 1 }), wantErr: errWrongType},
		{name: "kid missing", token: hs256(t, nil, func(h map[string]any) { delete(h, "kid") }), wantErr: errMissingKeyID},
		{name: "kid empty", token: hs256(t, nil, func(h map[string]any) { h["kid"] = "" }), wantErr: errMissingKeyID},
		{name: "kid not a string", token: hs256(t, nil, func(h map[string]any) { h["kid"] = []int{1} }), wantErr: errMissingKeyID},
		{name: "kid unknown", token: hs256(t, nil, func(h map[string]any) { h["kid"] = "k1999" }), wantErr: errUnknownKeyID},

		// Issuer and audience.
		{name: "wrong aud", token: hs256(t, func(c jwt.MapClaims) { c["aud"] = []string{"dashtam-admin"} }, nil), wantErr: errAudience},
		{name: "missing aud", token: hs256(t, func(c jwt.MapClaims) { delete(c, "aud") }, nil), wantErr: errMissingClaim},
		{name: "wrong iss", token: hs256(t, func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }, nil), wantErr: errIssuer},
		{name: "missing iss", token: hs256(t, func(c jwt.MapClaims) { delete(c, "iss") }, nil), wantErr: errMissingClaim},

		// Times.
		{name: "expired beyond leeway", token: hs256(t, nil, nil), now: testNow.Add(30*time.Minute + leeway + time.Second), wantErr: errExpired},
		{name: "expired exactly at the leeway", token: hs256(t, nil, nil), now: testNow.Add(30*time.Minute + leeway), wantErr: errExpired},
		{name: "expired within leeway is accepted", token: hs256(t, nil, nil), now: testNow.Add(30*time.Minute + leeway - time.Second)},
		{name: "iat in the future beyond leeway", token: hs256(t, nil, nil), now: testNow.Add(-leeway - time.Second), wantErr: errIssuedInFuture},
		{name: "iat in the future within leeway is accepted", token: hs256(t, nil, nil), now: testNow.Add(-leeway + time.Second)},
		{name: "nbf in the future", token: hs256(t, func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Hour).Unix() }, nil), wantErr: errNotYetValid},
		{name: "missing exp", token: hs256(t, func(c jwt.MapClaims) { delete(c, "exp") }, nil), wantErr: errMissingClaim},
		{name: "missing iat", token: hs256(t, func(c jwt.MapClaims) { delete(c, "iat") }, nil), wantErr: errMissingClaim},
		{name: "exp not a number", token: hs256(t, func(c jwt.MapClaims) { c["exp"] = "tomorrow" }, nil), wantErr: errMalformed},

		// Subject, session and token id.
		{name: "sub not a UUID", token: hs256(t, func(c jwt.MapClaims) { c["sub"] = "alice" }, nil), wantErr: errBadClaim},
		{name: "sub UUID without hyphens", token: hs256(t, func(c jwt.MapClaims) { c["sub"] = strings.ReplaceAll(testUser.String(), "-", "") }, nil), wantErr: errBadClaim},
		{name: "sub urn UUID", token: hs256(t, func(c jwt.MapClaims) { c["sub"] = "urn:uuid:" + testUser.String() }, nil), wantErr: errBadClaim},
		{name: "sub nil UUID", token: hs256(t, func(c jwt.MapClaims) { c["sub"] = uuid.Nil.String() }, nil), wantErr: errBadClaim},
		{name: "sub missing", token: hs256(t, func(c jwt.MapClaims) { delete(c, "sub") }, nil), wantErr: errBadClaim},
		{name: "sid not a UUID", token: hs256(t, func(c jwt.MapClaims) { c["sid"] = "session-1" }, nil), wantErr: errBadClaim},
		{name: "sid missing", token: hs256(t, func(c jwt.MapClaims) { delete(c, "sid") }, nil), wantErr: errBadClaim},
		{name: "sid not a string", token: hs256(t, func(c jwt.MapClaims) { c["sid"] = 42 }, nil), wantErr: errMalformed},
		{name: "jti missing", token: hs256(t, func(c jwt.MapClaims) { delete(c, "jti") }, nil), wantErr: errBadClaim},

		// Not JWTs at all.
		{name: "opaque refresh token sent as bearer", token: base64.RawURLEncoding.EncodeToString(make32()), wantErr: errMalformed},
		{name: "empty", token: "", wantErr: errMalformed},
		{name: "two segments", token: "eyJhbGciOiJIUzI1NiJ9.e30", wantErr: errMalformed},
		{name: "four segments", token: hs256(t, nil, nil) + ".x", wantErr: errMalformed},
		{name: "header not base64", token: "!!!." + strings.SplitN(hs256(t, nil, nil), ".", 2)[1], wantErr: errMalformed},
		{name: "padded base64", token: padFirstSegment(hs256(t, nil, nil)), wantErr: errMalformed},
		{name: "oversized", token: hs256(t, func(c jwt.MapClaims) { c["pad"] = strings.Repeat("a", 5000) }, nil), wantErr: errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = testNow
			}
			got, err := i.Verify(tt.token, now)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.UserID != testUser || got.SessionID != testSession || got.TokenID == "" ||
					!got.IssuedAt.Equal(testNow.Truncate(time.Second)) || !got.ExpiresAt.Equal(testNow.Truncate(time.Second).Add(30*time.Minute)) {
					t.Errorf("Verify claims = %+v", got)
				}
				return
			}
			if !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("Verify error = %v, want it to wrap domain.ErrUnauthenticated", err)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Verify error = %q, want %q", err, tt.wantErr)
			}
			if got != (identity.AccessClaims{}) {
				t.Errorf("Verify returned claims %+v alongside an error", got)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Error("error text contains the token")
			}
			for _, segment := range strings.Split(tt.token, ".") {
				if len(segment) > 8 && strings.Contains(err.Error(), segment) {
					t.Errorf("error text %q contains part of the token", err)
				}
			}
		})
	}
}

func make32() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// noneWithTrailingDot is the classic hand-made "alg":"none" token.
func noneWithTrailingDot(t *testing.T) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"k2026"}`))
	payload := strings.Split(hs256(t, nil, nil), ".")[1]
	return header + "." + payload + "."
}

func swapPayload(signed, other string) string {
	a, b := strings.Split(signed, "."), strings.Split(other, ".")
	return a[0] + "." + b[1] + "." + a[2]
}

// padFirstSegment adds base64 padding, which JWS forbids and strict decoding rejects.
func padFirstSegment(token string) string {
	header, rest, _ := strings.Cut(token, ".")
	return header + "=." + rest
}

func TestKeyRotation(t *testing.T) {
	// Before the rotation, the old key was primary.
	before, err := New(Config{Keys: []Key{oldKey}, Issuer: "https://api.dashtam.test", Audience: "dashtam-api"})
	if err != nil {
		t.Fatal(err)
	}
	oldToken, _, err := before.Issue(testUser, testSession, testNow)
	if err != nil {
		t.Fatal(err)
	}

	after := newTestIssuer(t) // [primaryKey, oldKey]
	if _, err := after.Verify(oldToken, testNow.Add(time.Minute)); err != nil {
		t.Errorf("token signed by the second key was rejected after rotation: %v", err)
	}
	newToken, _, err := after.Issue(testUser, testSession, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if header := decodeSegment(t, strings.Split(newToken, ".")[0]); !strings.Contains(header, `"kid":"k2026"`) {
		t.Errorf("new token header %s is not signed by the first key", header)
	}
	if _, err := before.Verify(newToken, testNow); !errors.Is(err, errUnknownKeyID) {
		t.Errorf("an issuer without the new key accepted its token: %v", err)
	}

	// Once the old key is retired, its tokens stop working.
	retired, err := New(Config{Keys: []Key{primaryKey}, Issuer: "https://api.dashtam.test", Audience: "dashtam-api"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := retired.Verify(oldToken, testNow); !errors.Is(err, errUnknownKeyID) {
		t.Errorf("token of a retired key: error = %v, want unknown key id", err)
	}
	if _, err := retired.Verify(newToken, testNow); err != nil {
		t.Errorf("token of the primary key rejected: %v", err)
	}
}

func TestIssueHonoursTTL(t *testing.T) {
	cfg := testConfig()
	cfg.TTL = 5*time.Minute + 500*time.Millisecond // sub-second part is dropped
	i, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, claims, err := i.Issue(testUser, testSession, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := claims.ExpiresAt.Sub(claims.IssuedAt); got != 5*time.Minute {
		t.Errorf("lifetime = %v, want 5m", got)
	}
	if got, err := i.Verify(token, testNow); err != nil || got != claims {
		t.Errorf("Verify = %+v, %v; want %+v", got, err, claims)
	}
}

func TestIssueRejectsNilIDs(t *testing.T) {
	i := newTestIssuer(t)
	for _, ids := range [][2]uuid.UUID{{uuid.Nil, testSession}, {testUser, uuid.Nil}} {
		if token, _, err := i.Issue(ids[0], ids[1], testNow); err == nil || token != "" {
			t.Errorf("Issue(%v, %v) = %q, %v; want an error", ids[0], ids[1], token, err)
		}
	}
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr bool
	}{
		{name: "valid", edit: func(*Config) {}},
		{name: "single key", edit: func(c *Config) { c.Keys = c.Keys[:1] }},
		{name: "no keys", edit: func(c *Config) { c.Keys = nil }, wantErr: true},
		{name: "short secret", edit: func(c *Config) { c.Keys = []Key{{ID: "a", Secret: make([]byte, 31)}} }, wantErr: true},
		{name: "empty key id", edit: func(c *Config) { c.Keys = []Key{{ID: "", Secret: make([]byte, 32)}} }, wantErr: true},
		{name: "key id too long", edit: func(c *Config) { c.Keys = []Key{{ID: strings.Repeat("a", 33), Secret: make([]byte, 32)}} }, wantErr: true},
		{name: "key id with a space", edit: func(c *Config) { c.Keys = []Key{{ID: "key 1", Secret: make([]byte, 32)}} }, wantErr: true},
		{name: "duplicate key id", edit: func(c *Config) { c.Keys = []Key{primaryKey, {ID: primaryKey.ID, Secret: oldKey.Secret}} }, wantErr: true},
		{name: "missing issuer", edit: func(c *Config) { c.Issuer = "" }, wantErr: true},
		{name: "missing audience", edit: func(c *Config) { c.Audience = "" }, wantErr: true},
		{name: "negative TTL", edit: func(c *Config) { c.TTL = -time.Minute }, wantErr: true},
		{name: "negative leeway", edit: func(c *Config) { c.Leeway = -time.Second }, wantErr: true},
		{name: "leeway as long as TTL", edit: func(c *Config) { c.TTL = time.Minute; c.Leeway = time.Minute }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.edit(&cfg)
			i, err := New(cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				for _, k := range cfg.Keys {
					if len(k.Secret) > 0 && strings.Contains(err.Error(), string(k.Secret)) {
						t.Errorf("error %q contains a secret", err)
					}
				}
				return
			}
			if i.ttl != DefaultTTL || i.leeway != DefaultLeeway {
				t.Errorf("defaults: ttl %v leeway %v, want %v %v", i.ttl, i.leeway, DefaultTTL, DefaultLeeway)
			}
		})
	}
}

func TestNewCopiesSecrets(t *testing.T) {
	secret := append([]byte(nil), primaryKey.Secret...)
	i, err := New(Config{Keys: []Key{{ID: "k", Secret: secret}}, Issuer: "iss", Audience: "aud"})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := i.Issue(testUser, testSession, testNow)
	if err != nil {
		t.Fatal(err)
	}
	clear(secret) // the caller wipes its copy
	if _, err := i.Verify(token, testNow); err != nil {
		t.Errorf("Verify after the caller wiped its secret: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	i := newTestIssuer(t)
	var wg sync.WaitGroup
	for n := range 8 {
		wg.Go(func() {
			for range 50 {
				now := testNow.Add(time.Duration(n) * time.Minute)
				token, want, err := i.Issue(testUser, testSession, now)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := i.Verify(token, now); err != nil || got != want {
					t.Errorf("Verify = %+v, %v; want %+v", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkVerify(b *testing.B) {
	i := newTestIssuer(b)
	token, _, err := i.Issue(testUser, testSession, testNow)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := i.Verify(token, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyOpaqueToken(b *testing.B) {
	i := newTestIssuer(b)
	token := base64.RawURLEncoding.EncodeToString(make32())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := i.Verify(token, testNow); err == nil {
			b.Fatal("accepted")
		}
	}
}

package plaidfake

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// PathWebhookKeyGet serves the webhook verification keys, as on Plaid.
const PathWebhookKeyGet = "/webhook_verification_key/get"

// webhookSigner holds the real P-256 key the fake signs its webhooks with,
// made on first use, and counts the key fetches.
type webhookSigner struct {
	once      sync.Once
	key       *ecdsa.PrivateKey
	kid       string
	expiredAt *int64
}

func (w *webhookSigner) init() {
	w.once.Do(func() {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err) // crypto/rand does not fail
		}
		w.key, w.kid = k, "kid-"+uuid.NewString()
	})
}

func (s *Server) routeWebhooks(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathWebhookKeyGet, s.webhookKeyGet)
}

// WebhookKeyID is the kid of the fake's signing key.
func (s *Server) WebhookKeyID() string {
	s.hooks.init()
	return s.hooks.kid
}

// ExpireWebhookKey makes the key endpoint report the signing key expired
// at at (Plaid's expired_at), for callers that honour it.
func (s *Server) ExpireWebhookKey(at time.Time) {
	s.hooks.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := at.Unix()
	s.hooks.expiredAt = &v
}

// ItemID returns the item id of an access token the fake granted ("" when
// unknown).
func (s *Server) ItemID(accessToken string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items[accessToken]
}

// ItemIDs returns the ids of the items the fake granted and has not
// removed, sorted.
func (s *Server) ItemIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.items))
	for _, id := range s.items {
		if !s.removed[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (s *Server) webhookKeyGet(w http.ResponseWriter, r *http.Request) {
	var in struct {
		credentials
		KeyID string `json:"key_id"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	s.hooks.init()
	if in.KeyID != s.hooks.kid {
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
			"invalid webhook verification key id "+in.KeyID)
		return
	}
	point, err := s.hooks.key.PublicKey.Bytes() // 04 || X || Y
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	expired := s.hooks.expiredAt
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"key": map[string]any{
			"alg": "ES256", "crv": "P-256", "kid": s.hooks.kid, "kty": "EC", "use": "sig",
			"x":          base64.RawURLEncoding.EncodeToString(point[1:33]),
			"y":          base64.RawURLEncoding.EncodeToString(point[33:]),
			"created_at": s.clock.Now().Add(-24 * time.Hour).Unix(),
			"expired_at": expired,
		},
		"request_id": uuid.NewString(),
	})
}

// Delivery is one webhook as Plaid would POST it: the JSON body and the
// Plaid-Verification header. Change it (Tamper) before Fire to test refusals.
type Delivery struct {
	Body   []byte
	Header http.Header
}

// SignOption changes how a delivery is signed.
type SignOption func(*signing)

type signing struct {
	at     time.Time
	forged bool
	alg    string
	kid    string
}

// SignedAt signs with iat at t instead of the fake clock's now (a stale
// delivery: SignedAt(now - 6 minutes)).
func SignedAt(t time.Time) SignOption { return func(o *signing) { o.at = t } }

// Forged signs with another P-256 key under the fake's kid: the signature
// does not verify.
func Forged() SignOption { return func(o *signing) { o.forged = true } }

// WithAlg signs with "none" or "HS256" (keyed with the fake's API secret)
// instead of ES256: a verifier must refuse both.
func WithAlg(alg string) SignOption { return func(o *signing) { o.alg = alg } }

// WithKeyID names another kid, one the key endpoint does not know.
func WithKeyID(kid string) SignOption { return func(o *signing) { o.kid = kid } }

// Sign signs body as Plaid does: an ES256 JWT whose kid is the fake's key,
// with iat and request_body_sha256 (hex SHA-256 of body).
func (s *Server) Sign(body []byte, opts ...SignOption) *Delivery {
	s.hooks.init()
	o := signing{at: s.clock.Now(), alg: "ES256", kid: s.hooks.kid}
	for _, opt := range opts {
		opt(&o)
	}
	sum := sha256.Sum256(body)
	claims := jwt.MapClaims{"iat": o.at.Unix(), "request_body_sha256": hex.EncodeToString(sum[:])}
	var (
		signed string
		err    error
	)
	switch o.alg {
	case "none":
		t := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
		t.Header["kid"] = o.kid
		signed, err = t.SignedString(jwt.UnsafeAllowNoneSignatureType)
	case "HS256":
		t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		t.Header["kid"] = o.kid
		signed, err = t.SignedString([]byte(s.cfg.Secret))
	default:
		key := s.hooks.key
		if o.forged {
			if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				panic(err)
			}
		}
		t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		t.Header["kid"] = o.kid
		signed, err = t.SignedString(key)
	}
	if err != nil {
		panic(fmt.Sprintf("plaidfake: signing a webhook: %v", err))
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Plaid-Verification", signed)
	return &Delivery{Body: body, Header: h}
}

// webhook builds and signs one delivery about itemID.
func (s *Server) webhook(fields map[string]any, opts ...SignOption) *Delivery {
	fields["environment"] = "sandbox"
	body, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return s.Sign(body, opts...)
}

// SyncUpdatesAvailable is TRANSACTIONS SYNC_UPDATES_AVAILABLE for the item.
func (s *Server) SyncUpdatesAvailable(itemID string, opts ...SignOption) *Delivery {
	return s.webhook(map[string]any{"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE",
		"item_id": itemID, "initial_update_complete": true, "historical_update_complete": true}, opts...)
}

// HoldingsUpdate is HOLDINGS DEFAULT_UPDATE for the item.
func (s *Server) HoldingsUpdate(itemID string, opts ...SignOption) *Delivery {
	return s.webhook(map[string]any{"webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE",
		"item_id": itemID, "new_holdings": 1, "updated_holdings": 0, "error": nil}, opts...)
}

// ItemLoginRequired is ITEM ERROR with ITEM_LOGIN_REQUIRED for the item.
func (s *Server) ItemLoginRequired(itemID string, opts ...SignOption) *Delivery {
	return s.webhook(map[string]any{"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": itemID,
		"error": map[string]any{"error_type": "ITEM_ERROR", "error_code": "ITEM_LOGIN_REQUIRED",
			"error_message": "the login details of this item have changed", "display_message": nil, "status": 400}}, opts...)
}

// LoginRepaired is ITEM LOGIN_REPAIRED for the item.
func (s *Server) LoginRepaired(itemID string, opts ...SignOption) *Delivery {
	return s.webhook(map[string]any{"webhook_type": "ITEM", "webhook_code": "LOGIN_REPAIRED", "item_id": itemID}, opts...)
}

// PendingExpiration is ITEM PENDING_EXPIRATION for the item, whose consent
// ends at at.
func (s *Server) PendingExpiration(itemID string, at time.Time, opts ...SignOption) *Delivery {
	return s.webhook(map[string]any{"webhook_type": "ITEM", "webhook_code": "PENDING_EXPIRATION", "item_id": itemID,
		"consent_expiration_time": at.UTC().Format(time.RFC3339)}, opts...)
}

// Tamper changes the body after it was signed (a space before the closing
// brace: the same JSON, another hash), and returns d.
func (d *Delivery) Tamper() *Delivery {
	d.Body = append(bytes.TrimSuffix(bytes.Clone(d.Body), []byte("}")), []byte(" }")...)
	return d
}

// Fire POSTs the delivery to url, as Plaid does, and returns the status.
func (d *Delivery) Fire(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return 0, err
	}
	req.Header = d.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

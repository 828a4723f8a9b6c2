// Package plaidfake is an httptest fake of the Plaid endpoints Dashtam uses,
// reproducing PROVIDERS.md:
//   - JSON POSTs with client_id and secret in the body (or the PLAID-CLIENT-ID
//     and PLAID-SECRET headers); unknown fields are refused, as Plaid does;
//   - /link/token/create answers a link token that lives 4 hours; with an
//     item's access_token (and no products) it is for Link's update mode,
//     which repairs that item in place;
//   - FinishLink stands in for a user finishing Link with a link token: a
//     new item's public token, or in update mode a public token whose
//     exchange is not needed (the item keeps its access token; an exchange
//     anyway is answered with it, and counted like every call);
//   - /sandbox/public_token/create mints a public token (as Plaid's sandbox
//     does), which /item/public_token/exchange accepts once within 30 minutes;
//   - /item/remove removes the item and retires its access token;
//   - errors are {error_type, error_code, error_message, display_message,
//     request_id}, and callers must branch on them, not on the status;
//   - the data endpoints serve a seeded item that tests script (data.go);
//   - /webhook_verification_key/get serves the P-256 key the fake signs its
//     webhooks with, and the fake fires them, good or bad (webhooks.go).
//
// Error messages deliberately quote the token they refuse, so tests prove
// connectors keep such text out of errors. The fake has its own manual clock
// and is safe for concurrent use.
package plaidfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/fakekit"
)

// Paths served by the fake, as on sandbox.plaid.com.
const (
	PathLinkTokenCreate   = "/link/token/create"
	PathPublicTokenCreate = "/sandbox/public_token/create"
	PathPublicTokenSwap   = "/item/public_token/exchange"
	PathItemRemove        = "/item/remove"
)

// Defaults applied when Config leaves a field at its zero value.
const (
	DefaultClientID       = "fake-plaid-client"
	DefaultSecret         = "fake-plaid-secret-DO-NOT-LEAK"
	DefaultLinkTokenTTL   = 4 * time.Hour
	DefaultPublicTokenTTL = 30 * time.Minute
)

// Config configures a fake.
type Config struct {
	// ClientID and Secret are the API keys the fake accepts.
	ClientID string
	Secret   string
	// Clock is the fake's own clock (a new one stopped at time.Now when nil).
	Clock *fakeclock.Clock
	// LinkTokenTTL and PublicTokenTTL are the lifetimes of link and public
	// tokens.
	LinkTokenTTL   time.Duration
	PublicTokenTTL time.Duration
}

// LinkTokenRequest is one /link/token/create body as received, without the
// credentials. Its fields mirror Plaid's JSON names.
type LinkTokenRequest struct {
	ClientName   string   `json:"client_name"`
	Language     string   `json:"language"`
	CountryCodes []string `json:"country_codes"`
	User         struct {
		ClientUserID string `json:"client_user_id"`
	} `json:"user"`
	Products    []string `json:"products"`
	RedirectURI string   `json:"redirect_uri"`
	// Webhook is where Plaid would send the item's webhooks.
	Webhook string `json:"webhook"`
	// AccessToken is set for Link's update mode: the item to repair.
	AccessToken string `json:"access_token"`
}

type publicToken struct {
	itemID  string
	expires time.Time
	used    bool
	// access is the item's access token for a public token of update mode.
	access string
}

// linkToken is a link token the fake issued.
type linkToken struct {
	expires time.Time
	// access is the access token of the item an update-mode token repairs.
	access string
}

// Server is a running fake. Its embedded Instrument counts calls per path and
// switches failure modes.
type Server struct {
	*fakekit.Instrument
	// URL is the fake's base URL, like "https://sandbox.plaid.com".
	URL string

	cfg   Config
	clock *fakeclock.Clock
	srv   *httptest.Server

	mu           sync.Mutex
	publicTokens map[string]*publicToken
	items        map[string]string // access token -> item id
	removed      map[string]bool   // item id -> removed
	linkRequests []LinkTokenRequest
	linkTokens   map[string]linkToken
	repairs      map[string]int       // item id -> Link update-mode completions
	data         map[string]*itemData // access token -> the item's data (data.go)
	hooks        webhookSigner        // signs webhooks (webhooks.go)
}

// New starts a fake. Call Close when done.
func New(cfg Config) *Server {
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Secret == "" {
		cfg.Secret = DefaultSecret
	}
	if cfg.Clock == nil {
		cfg.Clock = fakeclock.New(time.Now())
	}
	if cfg.LinkTokenTTL == 0 {
		cfg.LinkTokenTTL = DefaultLinkTokenTTL
	}
	if cfg.PublicTokenTTL == 0 {
		cfg.PublicTokenTTL = DefaultPublicTokenTTL
	}
	s := &Server{
		Instrument:   &fakekit.Instrument{},
		cfg:          cfg,
		clock:        cfg.Clock,
		publicTokens: make(map[string]*publicToken),
		items:        make(map[string]string),
		removed:      make(map[string]bool),
		linkTokens:   make(map[string]linkToken),
		repairs:      make(map[string]int),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathLinkTokenCreate, s.linkTokenCreate)
	mux.HandleFunc("POST "+PathPublicTokenCreate, s.publicTokenCreate)
	mux.HandleFunc("POST "+PathPublicTokenSwap, s.publicTokenExchange)
	mux.HandleFunc("POST "+PathItemRemove, s.itemRemove)
	s.routeData(mux)
	s.routeWebhooks(mux)
	s.srv = httptest.NewServer(s.Wrap(mux))
	s.URL = s.srv.URL
	return s
}

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// Config returns the fake's effective configuration (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// Clock returns the fake's clock; advance it to expire public tokens.
func (s *Server) Clock() *fakeclock.Clock { return s.clock }

// LinkTokenRequests returns every accepted /link/token/create body, oldest
// first.
func (s *Server) LinkTokenRequests() []LinkTokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LinkTokenRequest(nil), s.linkRequests...)
}

// ItemRemoved reports whether the item has been removed with /item/remove.
func (s *Server) ItemRemoved(itemID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removed[itemID]
}

// ItemRepairs returns how many times Link in update mode was finished for
// the item (FinishLink with an update-mode link token).
func (s *Server) ItemRepairs(itemID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repairs[itemID]
}

// FinishLink stands in for a user finishing Link started with linkToken and
// returns the public token Link hands the client. A link token of update
// mode repairs its item: the public token names the item, and its exchange is
// not needed (the item's access token stays the same; exchanged anyway, it
// answers that same access token). Any other link token links a new item,
// as CreatePublicToken does. An unknown or expired link token is an error.
func (s *Server) FinishLink(linkTokenValue string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lt, ok := s.linkTokens[linkTokenValue]
	if !ok || !s.clock.Now().Before(lt.expires) {
		return "", errors.New("plaidfake: FinishLink with an unknown or expired link token")
	}
	p := &publicToken{itemID: randomItemID(), expires: s.clock.Now().Add(s.cfg.PublicTokenTTL)}
	if lt.access != "" {
		item, ok := s.items[lt.access]
		if !ok {
			return "", errors.New("plaidfake: FinishLink in update mode for an item that was removed")
		}
		p.itemID, p.access = item, lt.access
		s.repairs[item]++
		s.repairedLocked(lt.access)
	}
	tok := "public-sandbox-" + uuid.NewString()
	s.publicTokens[tok] = p
	return tok, nil
}

// CreatePublicToken mints a public token through /sandbox/public_token/create,
// as a test would with Plaid's sandbox, standing in for a user finishing Link.
func (s *Server) CreatePublicToken(ctx context.Context) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"client_id":        s.cfg.ClientID,
		"secret":           s.cfg.Secret,
		"institution_id":   "ins_109508",
		"initial_products": []string{"transactions"},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+PathPublicTokenCreate, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		PublicToken string `json:"public_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.PublicToken == "" {
		return "", fmt.Errorf("plaidfake: minting a public token failed (HTTP %d)", resp.StatusCode)
	}
	return out.PublicToken, nil
}

// Error is a fault answering with Plaid's error JSON.
func Error(status int, errorType, errorCode, message string) fakekit.Fault {
	body, _ := json.Marshal(apiError{
		ErrorType:    errorType,
		ErrorCode:    errorCode,
		ErrorMessage: message,
		RequestID:    uuid.NewString(),
	})
	return fakekit.Reply(status, "application/json", string(body))
}

// apiError is Plaid's error body.
type apiError struct {
	ErrorType      string  `json:"error_type"`
	ErrorCode      string  `json:"error_code"`
	ErrorMessage   string  `json:"error_message"`
	DisplayMessage *string `json:"display_message"`
	RequestID      string  `json:"request_id"`
}

func writeError(w http.ResponseWriter, status int, errorType, errorCode, message string) {
	writeJSON(w, status, apiError{
		ErrorType:    errorType,
		ErrorCode:    errorCode,
		ErrorMessage: message,
		RequestID:    uuid.NewString(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a strict JSON body into v (which embeds credentials) and checks
// the API keys. It writes Plaid's error and returns false when it fails.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v interface{ creds() *credentials }) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "INVALID_BODY", "body could not be parsed as JSON")
		} else {
			writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "UNKNOWN_FIELDS", "the request contained unknown or mistyped fields: "+err.Error())
		}
		return false
	}
	c := v.creds()
	if c.ClientID == "" {
		c.ClientID = r.Header.Get("PLAID-CLIENT-ID")
	}
	if c.Secret == "" {
		c.Secret = r.Header.Get("PLAID-SECRET")
	}
	switch {
	case c.ClientID == "" || c.Secret == "":
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "MISSING_FIELDS", "client_id and secret are required")
		return false
	case c.ClientID != s.cfg.ClientID || c.Secret != s.cfg.Secret:
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", "INVALID_API_KEYS", "invalid client_id or secret provided")
		return false
	}
	return true
}

type credentials struct {
	ClientID string `json:"client_id"`
	Secret   string `json:"secret"`
}

func (c *credentials) creds() *credentials { return c }

func (s *Server) linkTokenCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		credentials
		LinkTokenRequest
	}
	if !s.decode(w, r, &in) {
		return
	}
	l := in.LinkTokenRequest
	if l.ClientName == "" || l.Language == "" || len(l.CountryCodes) == 0 || l.User.ClientUserID == "" ||
		(len(l.Products) == 0 && l.AccessToken == "") {
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "MISSING_FIELDS",
			"client_name, language, country_codes, user.client_user_id and products (unless access_token) are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.items[l.AccessToken]; l.AccessToken != "" && !ok {
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", "INVALID_ACCESS_TOKEN",
			fmt.Sprintf("provided access token %s is not valid", l.AccessToken))
		return
	}
	s.linkRequests = append(s.linkRequests, l)
	tok, expires := "link-sandbox-"+uuid.NewString(), s.clock.Now().Add(s.cfg.LinkTokenTTL)
	s.linkTokens[tok] = linkToken{expires: expires, access: l.AccessToken}
	writeJSON(w, http.StatusOK, map[string]string{
		"link_token": tok,
		"expiration": expires.UTC().Format(time.RFC3339),
		"request_id": uuid.NewString(),
	})
}

func (s *Server) publicTokenCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		credentials
		InstitutionID   string   `json:"institution_id"`
		InitialProducts []string `json:"initial_products"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	if in.InstitutionID == "" || len(in.InitialProducts) == 0 {
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "MISSING_FIELDS", "institution_id and initial_products are required")
		return
	}
	tok := "public-sandbox-" + uuid.NewString()
	s.mu.Lock()
	s.publicTokens[tok] = &publicToken{itemID: randomItemID(), expires: s.clock.Now().Add(s.cfg.PublicTokenTTL)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"public_token": tok, "request_id": uuid.NewString()})
}

func (s *Server) publicTokenExchange(w http.ResponseWriter, r *http.Request) {
	var in struct {
		credentials
		PublicToken string `json:"public_token"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.publicTokens[in.PublicToken]
	if !ok || p.used || !s.clock.Now().Before(p.expires) {
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN",
			fmt.Sprintf("provided public token %s is expired, already exchanged or not valid", in.PublicToken))
		return
	}
	p.used = true
	access := p.access // update mode: the item keeps its access token
	if access == "" {
		access = "access-sandbox-" + uuid.NewString()
		s.items[access] = p.itemID
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": access,
		"item_id":      p.itemID,
		"request_id":   uuid.NewString(),
	})
}

func (s *Server) itemRemove(w http.ResponseWriter, r *http.Request) {
	var in struct {
		credentials
		AccessToken string `json:"access_token"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	item, ok := s.items[in.AccessToken]
	if !ok {
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", "INVALID_ACCESS_TOKEN",
			fmt.Sprintf("provided access token %s is not valid", in.AccessToken))
		return
	}
	delete(s.items, in.AccessToken)
	s.removed[item] = true
	writeJSON(w, http.StatusOK, map[string]string{"request_id": uuid.NewString()})
}

func randomItemID() string {
	return "item-" + uuid.NewString()
}

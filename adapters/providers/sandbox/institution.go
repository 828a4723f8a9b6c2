package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxFormBytes caps a token request body.
const maxFormBytes = 16 << 10

// Institution is the sandbox's institution side, an http.Handler serving
//
//	GET  {Prefix}/authorize?client_id&redirect_uri&response_type=code&state[&login_hint]
//	POST {Prefix}/token   (form-encoded, HTTP Basic client auth)
//
// The consent step is automatic: /authorize answers 302 straight back to the
// redirect URL with code and state (and a small HTML page with the link, for
// browsers that show it). The optional login_hint names the sandbox user whose
// data the grant reaches (see Variant). /token answers like Schwab's token
// endpoint.
//
// Single use of codes: an Institution remembers the codes it has redeemed until
// they expire, so a code works once per Institution. Across instances of the
// service this cannot be guaranteed without shared state: a code replayed
// within its 60 seconds against another instance is accepted there once more.
// That is an accepted limit of a development sandbox; the real institutions
// enforce single use themselves. Refresh tokens are not rotated for the same
// reason: any refresh token works until the lifetime counted from consent ends.
type Institution struct {
	s    settings
	mu   sync.Mutex
	used map[string]time.Time // redeemed code id -> code expiry
}

// NewInstitution validates cfg and returns the institution handler. Mount it so
// that it sees request paths starting with cfg.Prefix. A service normally mounts
// Connector.Institution instead, so that the connector and the mounted handler
// share one record of redeemed codes.
func NewInstitution(cfg Config) (*Institution, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	return newInstitution(s), nil
}

func newInstitution(s settings) *Institution {
	return &Institution{s: s, used: make(map[string]time.Time)}
}

// ServeHTTP routes the two endpoints; every other path under Prefix is 404.
func (in *Institution) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case in.s.Prefix + "/authorize":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		in.authorize(w, r)
	case in.s.Prefix + "/token":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		in.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dashtam Sandbox</title></head>
<body><h1>Dashtam Sandbox</h1>
<p>Consent granted. <a href="{{.}}">Continue back to Dashtam</a>.</p>
</body></html>
`))

func (in *Institution) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("client_id") != ClientID:
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	case q.Get("redirect_uri") != in.s.RedirectURL:
		// Like real institutions: only the registered redirect URL, exactly.
		http.Error(w, "redirect_uri does not match the registered one", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code":
		http.Error(w, "response_type must be code", http.StatusBadRequest)
		return
	case q.Get("state") == "":
		http.Error(w, "state is required", http.StatusBadRequest)
		return
	case !knownUser(q.Get("login_hint")):
		http.Error(w, "login_hint names no sandbox user", http.StatusBadRequest)
		return
	}
	now := in.s.Now()
	code := in.s.mint(claims{
		Type:     kindCode,
		Expires:  now.Add(CodeTTL).Unix(),
		Redirect: in.s.RedirectURL,
		User:     q.Get("login_hint"),
	})
	back := in.s.RedirectURL
	if strings.Contains(back, "?") {
		back += "&"
	} else {
		back += "?"
	}
	back += url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()

	w.Header().Set("Location", back)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
	if r.Method != http.MethodHead {
		_ = consentPage.Execute(w, back)
	}
}

// tokenAnswer is the token endpoint's success body, shaped like Schwab's.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
}

func (in *Institution) token(w http.ResponseWriter, r *http.Request) {
	if !in.clientAuthenticated(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="dashtam-sandbox"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	now := in.s.Now()
	var consent, refreshExpires time.Time
	var grant claims
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		c, ok := in.s.verify(r.PostForm.Get("code"), kindCode, now)
		if !ok || !in.redeem(c, now) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "authorization code is invalid, expired or already used")
			return
		}
		if r.PostForm.Get("redirect_uri") != c.Redirect {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request")
			return
		}
		consent, refreshExpires = now, now.Add(in.s.RefreshTTL)
		grant = claims{Grant: c.ID, User: c.User}
	case "refresh_token":
		c, ok := in.s.verify(r.PostForm.Get("refresh_token"), kindRefresh, now)
		if !ok {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "refresh token is invalid or expired")
			return
		}
		consent, refreshExpires = time.Unix(c.Consent, 0), time.Unix(c.Expires, 0)
		grant = claims{Grant: c.Grant, User: c.User}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	writeJSON(w, http.StatusOK, tokenAnswer{
		AccessToken: in.s.mint(claims{
			Type:    kindAccess,
			Expires: now.Add(in.s.AccessTTL).Unix(),
			Consent: consent.Unix(),
			Grant:   grant.Grant,
			User:    grant.User,
		}),
		RefreshToken: in.s.mint(claims{
			Type:    kindRefresh,
			Expires: refreshExpires.Unix(),
			Consent: consent.Unix(),
			Grant:   grant.Grant,
			User:    grant.User,
		}),
		TokenType: "Bearer",
		ExpiresIn: int64(in.s.AccessTTL / time.Second),
		Scope:     "api",
	})
}

// clientAuthenticated checks HTTP Basic credentials. Per RFC 6749 section 2.3.1
// they are form-encoded before Basic encoding, so they are decoded once here.
func (in *Institution) clientAuthenticated(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	user, err1 := url.QueryUnescape(user)
	pass, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil {
		return false
	}
	idOK := subtle.ConstantTimeCompare([]byte(user), []byte(ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(pass), []byte(in.s.clientSecret)) == 1
	return idOK && secretOK
}

// redeem marks a code used and reports whether it was unused in this
// Institution. Expired entries are dropped as it goes.
func (in *Institution) redeem(c claims, now time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for id, exp := range in.used {
		if now.Unix() > exp.Unix() {
			delete(in.used, id)
		}
	}
	if _, seen := in.used[c.ID]; seen {
		return false
	}
	in.used[c.ID] = time.Unix(c.Expires, 0)
	return true
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

package httpapi

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// StartAuthorization starts connecting a provider at its institution.
func (s *Server) StartAuthorization(c *gin.Context, id uuid.UUID, _ api.StartAuthorizationParams) {
	started, err := s.App.Connections.Start(c.Request.Context(), principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := api.AuthorizationStart{Flow: api.AuthorizationStartFlow(started.Flow), ExpiresAt: started.ExpiresAt.UTC()}
	if started.AuthorizationURL != "" {
		body.AuthorizationUrl = &started.AuthorizationURL
	}
	if started.LinkToken != "" {
		body.LinkToken, body.State = &started.LinkToken, &started.State
	}
	c.Header("Location", providerPath(id)+"/authorization")
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, body)
}

// GetAuthorization reports the authorization's status.
func (s *Server) GetAuthorization(c *gin.Context, id uuid.UUID) {
	a, err := s.App.Connections.Get(c.Request.Context(), principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeAuthorization(c, a)
}

// RefreshAuthorization refreshes the provider's tokens now.
func (s *Server) RefreshAuthorization(c *gin.Context, id uuid.UUID, _ api.RefreshAuthorizationParams) {
	a, err := s.App.Connections.RefreshNow(c.Request.Context(), principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, api.AuthorizationRefresh{TokenExpiresAt: timePtr(a.Credentials().ExpiresAt), RefreshedAt: a.RefreshedAt().UTC()})
}

// RevokeAuthorization revokes the authorization and wipes the tokens.
func (s *Server) RevokeAuthorization(c *gin.Context, id uuid.UUID) {
	if err := s.App.Connections.Revoke(c.Request.Context(), principal(c).UserID, id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// ReceiveAuthorizationCallback is the per-provider redirect callback.
func (s *Server) ReceiveAuthorizationCallback(c *gin.Context, id uuid.UUID, params api.ReceiveAuthorizationCallbackParams) {
	s.relayCallback(c, providersapp.Callback{ProviderID: id, State: params.State}, deref(params.Code, ""), deref(params.Error, ""))
}

// ReceiveAuthorizationCallbackByType is the fixed redirect callback of a
// provider type, the URL registered with the institution.
func (s *Server) ReceiveAuthorizationCallbackByType(c *gin.Context, key string, params api.ReceiveAuthorizationCallbackByTypeParams) {
	s.relayCallback(c, providersapp.Callback{ProviderKey: key, State: params.State}, deref(params.Code, ""), deref(params.Error, ""))
}

// relayCallback hands what the institution sent the browser back with to the
// client that started the flow.
//
// A code is only handed over, with the state, for the client to complete the
// flow under its user's bearer (CompleteAuthorization): the browser that
// arrives here may not be the initiating user's (account-linking CSRF, RFC
// 9700 §4.7). The institution's error instead of a code (the user declined)
// ends the attempt, which grants nothing, so the state alone is enough. HEAD
// requests (link scanners) get the same answer and change nothing. Only what
// the institution put in the URL is echoed, and only for a state of this
// route's attempt.
func (s *Server) relayCallback(c *gin.Context, cb providersapp.Callback, code, institutionError string) {
	relay, err := s.callbackRelay(c, cb, code, institutionError)
	c.Header("Cache-Control", "no-store")
	if s.resultURL != nil {
		// A browser is on the other end: send it to the front end either way.
		q := url.Values{}
		if err != nil {
			kind, _, _ := classify(err)
			q.Set("error", kind.code)
			s.Log.InfoContext(c.Request.Context(), "authorization callback refused", "error", err.Error())
		} else {
			q = relayQuery(relay)
		}
		c.Redirect(http.StatusSeeOther, withQuery(s.resultURL, q))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if c.NegotiateFormat(gin.MIMEJSON, gin.MIMEHTML) == gin.MIMEHTML {
		var page bytes.Buffer
		if err := relayPage.Execute(&page, relay); err != nil {
			s.fail(c, err)
			return
		}
		// The page is static text: nothing may load, run or frame it.
		c.Header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		c.Data(http.StatusOK, "text/html; charset=utf-8", page.Bytes())
		return
	}
	c.JSON(http.StatusOK, relay)
}

// callbackRelay is what a callback hands over: the code to relay, or, after
// ending the attempt, the institution's error.
func (s *Server) callbackRelay(c *gin.Context, cb providersapp.Callback, code, institutionError string) (api.AuthorizationCallbackRelay, error) {
	ctx := c.Request.Context()
	relay := api.AuthorizationCallbackRelay{State: cb.State}
	var err error
	switch {
	case institutionError != "":
		outcome, sent := api.AUTHORIZATIONFAILED, institutionErrorCode(institutionError)
		if institutionError == "access_denied" {
			outcome = api.AUTHORIZATIONDECLINED
		}
		relay.Error, relay.InstitutionError = &outcome, &sent
		if c.Request.Method == http.MethodHead {
			relay.ProviderId, err = s.App.Connections.ResolveCallback(ctx, cb)
			return relay, err
		}
		if relay.ProviderId, err = s.App.Connections.DeclineCallback(ctx, cb); err == nil {
			s.Log.InfoContext(ctx, "authorization attempt ended by the institution", "provider_id", relay.ProviderId.String(),
				"institution_error", sent)
		}
		return relay, err
	case code == "":
		verr := &domain.ValidationError{}
		verr.Add("code", "required", "The callback needs code, or error when the institution sent one.")
		return relay, verr
	default:
		relay.ProviderId, err = s.App.Connections.ResolveCallback(ctx, cb)
		to := providerPath(relay.ProviderId) + "/authorization/callback"
		relay.Code, relay.CompleteWith = &code, &to
		return relay, err
	}
}

// relayQuery is relay as the query a front end receives.
func relayQuery(relay api.AuthorizationCallbackRelay) url.Values {
	q := url.Values{"provider_id": {relay.ProviderId.String()}, "state": {relay.State}}
	if relay.Code != nil {
		q.Set("code", *relay.Code)
	}
	if relay.Error != nil {
		q.Set("error", string(*relay.Error))
		q.Set("institution_error", deref(relay.InstitutionError, ""))
	}
	return q
}

// institutionErrorCode is the institution's error code if it is a
// well-formed RFC 6749 one (printable ASCII but the double quote and the
// backslash, and short), else "invalid": it is echoed to the front end.
func institutionErrorCode(v string) string {
	if len(v) > 64 {
		return "invalid"
	}
	for _, r := range v {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return "invalid"
		}
	}
	return v
}

// relayPage shows a developer (no front end configured) what to relay, or
// that the attempt ended.
var relayPage = template.Must(template.New("relay").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>Dashtam: connecting</title></head>
<body>{{if .Error}}<h1>Not connected</h1>
<p>The institution ended the authorization ({{.Error}}: <code>{{.InstitutionError}}</code>);
nothing changed. Start again to connect.</p>
{{else}}<h1>Not connected yet</h1>
<p>The institution sent you back. To finish, the app that started connecting sends these
values as JSON to <code>POST {{.CompleteWith}}</code> with your access token.</p>
<dl><dt>state</dt><dd><code>{{.State}}</code></dd><dt>code</dt><dd><code>{{.Code}}</code></dd></dl>
{{end}}</body></html>
`))

// CompleteAuthorization completes any flow for the provider's owner: a
// redirect flow with the code its client relays, a link flow with the public
// token; or ends the attempt with the institution's error.
func (s *Server) CompleteAuthorization(c *gin.Context, id uuid.UUID, _ api.CompleteAuthorizationParams) {
	var req api.AuthorizationCallbackRequest
	if !s.bind(c, &req) {
		return
	}
	code, publicToken, institutionError := deref(req.Code, ""), deref(req.PublicToken, ""), deref(req.Error, "")
	given := 0
	for _, v := range []string{code, publicToken, institutionError} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		verr := &domain.ValidationError{}
		verr.Add("code", "exactly_one_required", "Send exactly one of code (redirect flows), public_token (link flows) and error.")
		s.fail(c, verr)
		return
	}
	ctx, userID := c.Request.Context(), principal(c).UserID
	var a *provider.Authorization
	var err error
	switch {
	case code != "":
		a, err = s.App.Connections.CompleteRedirect(ctx, userID, id, req.State, code)
	case publicToken != "":
		a, err = s.App.Connections.CompleteLink(ctx, userID, id, req.State, publicToken)
	default:
		a, err = s.App.Connections.Decline(ctx, userID, id, req.State)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeAuthorization(c, a)
}

func (s *Server) writeAuthorization(c *gin.Context, a *provider.Authorization) {
	creds := a.Credentials()
	scopes := creds.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, api.Authorization{
		Status:           api.AuthorizationStatus(a.Status().String()),
		IsAuthorized:     a.IsAuthorized(),
		AuthorizedAt:     timePtr(a.AuthorizedAt()),
		TokenExpiresAt:   timePtr(creds.ExpiresAt),
		RefreshExpiresAt: timePtr(creds.RefreshExpiresAt),
		RefreshedAt:      timePtr(a.RefreshedAt()),
		Scopes:           scopes,
	})
}

// timePtr renders a zero time as JSON null.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// SandboxAuthorize serves the built-in sandbox institution's consent page.
func (s *Server) SandboxAuthorize(c *gin.Context, _ api.SandboxAuthorizeParams) {
	if s.SandboxInstitution == nil {
		s.fail(c, errRouteNotFound)
		return
	}
	s.SandboxInstitution.ServeHTTP(c.Writer, c.Request)
}

// ParseResultURL checks a front-end page the redirect callbacks may send the
// browser to: an absolute http(s) URL with a host, no user information and no
// fragment. Its own query parameters are kept (see withQuery).
func ParseResultURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("must be a URL")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, errors.New("must be an absolute http(s) URL")
	case u.User != nil:
		return nil, errors.New("must not carry user information")
	case u.Fragment != "" || strings.HasSuffix(raw, "#"):
		return nil, errors.New("must not have a fragment")
	}
	return u, nil
}

// withQuery returns base with result's parameters merged into its own query:
// a parameter of the result replaces one of the same name, the others stay.
func withQuery(base *url.URL, result url.Values) string {
	u := *base
	q := u.Query()
	for k, v := range result {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}

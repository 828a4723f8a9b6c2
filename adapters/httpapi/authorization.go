package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	providersapp "github.com/dashtam/dashtam/application/providers"
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

// CompleteRedirectAuthorization is the per-provider redirect callback.
func (s *Server) CompleteRedirectAuthorization(c *gin.Context, id uuid.UUID, params api.CompleteRedirectAuthorizationParams) {
	s.completeRedirect(c, providersapp.Callback{ProviderID: id, State: params.State, Code: params.Code})
}

// CompleteRedirectAuthorizationByType is the fixed redirect callback of a
// provider type, the URL registered with the institution.
func (s *Server) CompleteRedirectAuthorizationByType(c *gin.Context, key string, params api.CompleteRedirectAuthorizationByTypeParams) {
	s.completeRedirect(c, providersapp.Callback{ProviderKey: key, State: params.State, Code: params.Code})
}

func (s *Server) completeRedirect(c *gin.Context, cb providersapp.Callback) {
	a, err := s.App.Connections.CompleteRedirect(c.Request.Context(), cb)
	if s.AuthorizationResultURL != "" {
		// A browser is on the other end: send it to the front end either way.
		q := url.Values{}
		if err != nil {
			kind, _, _ := classify(err)
			q.Set("error", kind.code)
			s.Log.InfoContext(c.Request.Context(), "authorization callback failed", "error", err.Error())
		} else {
			q.Set("provider_id", a.ProviderID().String())
			q.Set("status", a.Status().String())
		}
		c.Header("Cache-Control", "no-store")
		c.Redirect(http.StatusSeeOther, s.AuthorizationResultURL+"?"+q.Encode())
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeAuthorization(c, a)
}

// CompleteLinkAuthorization completes a link-token flow.
func (s *Server) CompleteLinkAuthorization(c *gin.Context, id uuid.UUID, _ api.CompleteLinkAuthorizationParams) {
	var req api.LinkCallbackRequest
	if !s.bind(c, &req) {
		return
	}
	a, err := s.App.Connections.CompleteLink(c.Request.Context(), principal(c).UserID, id, req.State, req.PublicToken)
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

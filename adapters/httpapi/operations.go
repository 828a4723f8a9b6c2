package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/httpapi/accountui"
	"github.com/dashtam/dashtam/adapters/httpapi/api"
	"github.com/dashtam/dashtam/adapters/httpapi/docsui"
)

const probeTimeout = 2 * time.Second

// probe runs every check; ok is false when a required one fails.
func (s *Server) probe(ctx context.Context) (statuses map[string]api.DependencyStatus, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	statuses = make(map[string]api.DependencyStatus, len(s.Checks))
	ok = true
	for _, chk := range s.Checks {
		switch {
		case chk.Probe == nil:
			statuses[chk.Name] = api.Memory
		case chk.Probe(ctx) == nil:
			statuses[chk.Name] = api.Up
		default:
			statuses[chk.Name] = api.Down
			if chk.Required {
				ok = false
			}
		}
	}
	return statuses, ok
}

// GetHealth reports the service and each dependency.
func (s *Server) GetHealth(c *gin.Context) {
	statuses, ok := s.probe(c.Request.Context())
	body := api.Health{Version: s.Version, Timestamp: s.Now().UTC().Truncate(time.Second), Status: api.HealthStatusOk}
	body.Services.Database = statusOr(statuses, "database")
	body.Services.RateLimitStore = statusOr(statuses, "rate_limit_store")
	code := http.StatusOK
	if !ok {
		code, body.Status = http.StatusServiceUnavailable, api.HealthStatusUnavailable
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(code, body)
}

func statusOr(m map[string]api.DependencyStatus, name string) api.DependencyStatus {
	if st, ok := m[name]; ok {
		return st
	}
	return api.Memory
}

// GetLiveness answers while the process can serve HTTP at all.
func (s *Server) GetLiveness(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, api.Probe{Status: api.ProbeStatusOk})
}

// GetReadiness answers 503 while a required dependency is down, so a load balancer
// stops routing here; it turns 200 again by itself once the dependency is back.
func (s *Server) GetReadiness(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if _, ok := s.probe(c.Request.Context()); !ok {
		c.JSON(http.StatusServiceUnavailable, api.Probe{Status: api.ProbeStatusUnavailable})
		return
	}
	c.JSON(http.StatusOK, api.Probe{Status: api.ProbeStatusOk})
}

// GetOpenAPIDocument serves the contract this server validates requests against.
func (s *Server) GetOpenAPIDocument(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", s.spec.JSON)
}

// GetSwaggerUI serves the interactive documentation page.
func (s *Server) GetSwaggerUI(c *gin.Context) { s.html(c, docsui.SwaggerHTML) }

// GetRedoc serves the reference documentation page.
func (s *Server) GetRedoc(c *gin.Context) { s.html(c, docsui.RedocHTML) }

func (s *Server) html(c *gin.Context, page string) {
	if !s.DocsEnabled {
		s.fail(c, errRouteNotFound)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; frame-ancestors 'none'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(page))
}

// GetVerifyEmailPage serves the page of a verification link when no front
// end receives the links (Deps.AccountPages).
func (s *Server) GetVerifyEmailPage(c *gin.Context, _ api.GetVerifyEmailPageParams) {
	s.accountPage(c, accountui.VerifyEmailHTML)
}

// GetResetPasswordPage serves the page of a password-reset link when no front
// end receives the links (Deps.AccountPages).
func (s *Server) GetResetPasswordPage(c *gin.Context, _ api.GetResetPasswordPageParams) {
	s.accountPage(c, accountui.ResetPasswordHTML)
}

func (s *Server) accountPage(c *gin.Context, page string) {
	if !s.AccountPages {
		s.fail(c, errRouteNotFound)
		return
	}
	// The link's token is in the URL: the page is never cached, and sends no
	// Referer anywhere (its meta tag says so too).
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Header("Content-Security-Policy", accountui.ContentSecurityPolicy)
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(page))
}

// GetDocsAsset serves the bundled documentation scripts and styles.
func (s *Server) GetDocsAsset(c *gin.Context, asset string) {
	data, contentType, ok := docsui.Asset(asset)
	if !ok || !s.DocsEnabled {
		s.fail(c, errRouteNotFound)
		return
	}
	c.Header("Cache-Control", "public, max-age=86400")
	c.Data(http.StatusOK, contentType, data)
}

// GetMetrics serves the Prometheus metrics on the public listener when it may
// (Deps.MetricsPublic), to a bearer of Deps.MetricsToken when one is set; to
// anyone else the route does not exist (404).
func (s *Server) GetMetrics(c *gin.Context) {
	if !s.MetricsPublic || (s.MetricsToken != "" && !bearerIs(c.GetHeader("Authorization"), s.MetricsToken)) {
		s.fail(c, errRouteNotFound)
		return
	}
	serveMetrics(c, s.Metrics, s.Log)
}

// bearerIs reports, in constant time, whether header is "Bearer token".
func bearerIs(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

package httpapi

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/application"
	"github.com/dashtam/dashtam/domain/identity"
)

// JobsDashboardPath is where the jobs dashboard (River's web UI) is mounted.
const JobsDashboardPath = "/admin/jobs"

// dashboardMaxBody caps a dashboard request's body.
const dashboardMaxBody = 64 << 10

// AdminOnly serves next under prefix to active admins only, and everything
// else with api: the way the jobs dashboard is mounted next to the API. An
// admin is the bearer of an access token (Authorization: Bearer) whose
// session is active and whose user is an active admin, read from the store on
// every request; anyone else, anonymous callers included, gets exactly what a
// path that does not exist answers, so the dashboard is not advertised.
func AdminOnly(app application.App, log *slog.Logger, prefix string, next, api http.Handler) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	guard := gin.New()
	// The audit log records c.ClientIP(): believe no forwarding header here
	// (this guard is not told which proxies to trust).
	guard.ForwardedByClientIP = false
	// The API's outer guards: request ids, logs, a deadline and a body limit
	// (the dashboard's own API takes small JSON bodies: retry, cancel).
	guard.Use(requestID(), auditRequest(), accessLog(log), recovery(log), securityHeaders(), deadline(nil, DefaultRequestTimeout))
	guard.NoRoute(func(c *gin.Context) {
		token, ok := bearerToken(c.GetHeader("Authorization"))
		if !ok {
			writeProblem(c, log, identity.ErrNotAdmin)
			return
		}
		ctx := c.Request.Context()
		p, err := app.Identity.Authenticate(ctx, token)
		if err != nil {
			writeProblem(c, log, identity.ErrNotAdmin)
			return
		}
		if err := app.Admin.RequireAdmin(ctx, p, "jobs_dashboard"); err != nil {
			writeProblem(c, log, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, dashboardMaxBody)
		next.ServeHTTP(c.Writer, c.Request)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix || strings.HasPrefix(r.URL.Path, prefix+"/") {
			guard.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

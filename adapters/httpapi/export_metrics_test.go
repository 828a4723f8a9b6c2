package httpapi

import (
	"log/slog"

	"github.com/gin-gonic/gin"
)

// InstrumentMiddleware is m.instrument.
func InstrumentMiddleware(m *Metrics) gin.HandlerFunc { return m.instrument() }

// MetricsHandler serves GET /metrics as the router will.
func MetricsHandler(m *Metrics) gin.HandlerFunc {
	return func(c *gin.Context) { serveMetrics(c, m, slog.New(slog.DiscardHandler)) }
}

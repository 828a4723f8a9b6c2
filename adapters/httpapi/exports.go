package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	exportsapp "github.com/dashtam/dashtam/application/exports"
)

// The caller's data exports (docs/exports.md): starting one, its status,
// and its one download.

// exportRetryAfter is how long (seconds) a client polling an export in
// flight is asked to wait.
const exportRetryAfter = 2

// StartMyExport queues an export of the caller's data: 202 with the export
// and its Location.
func (s *Server) StartMyExport(c *gin.Context, _ api.StartMyExportParams) {
	e, err := s.App.Exports.Start(c.Request.Context(), principal(c).UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", exportPath(e.ID))
	s.writeExport(c, http.StatusAccepted, e)
}

// GetMyExport returns one of the caller's exports, with Retry-After while
// it is in flight.
func (s *Server) GetMyExport(c *gin.Context, id uuid.UUID) {
	e, err := s.App.Exports.Get(c.Request.Context(), principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeExport(c, http.StatusOK, e)
}

// DownloadMyExport streams the export's document, once. The download is
// claimed before anything is sent; the document then goes out a chunk at a
// time, as the stored gzip stream when the client accepts gzip (the
// operation is x-streaming, so the compression middleware leaves it alone)
// and decompressed otherwise. A failure before the first byte is a problem
// answer; after it, it can only cut the response short: it is logged, and
// the client's document does not parse. Either way the download was taken.
func (s *Server) DownloadMyExport(c *gin.Context, id uuid.UUID) {
	ctx := c.Request.Context()
	e, err := s.App.Exports.Claim(ctx, principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	gzipped := acceptsGzip(c.Request.Header.Get("Accept-Encoding"))
	h := c.Writer.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="dashtam-export-`+e.ID.String()+`.json"`)
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Accept-Encoding")
	if gzipped {
		h.Set("Content-Encoding", "gzip")
	}
	c.Status(http.StatusOK)
	if err := s.App.Exports.Write(ctx, e, c.Writer, gzipped); err != nil {
		if !c.Writer.Written() { // the first chunk could not be read: a problem can still be sent
			for _, name := range []string{"Content-Type", "Content-Disposition", "Content-Encoding"} {
				h.Del(name)
			}
			s.fail(c, err)
			return
		}
		s.Log.WarnContext(ctx, "export download cut short", "export_id", e.ID.String(), "error", err.Error())
	}
}

func exportPath(id uuid.UUID) string { return apiBase + "/users/me/exports/" + id.String() }

// writeExport answers with the export, asking a poller to come back in
// exportRetryAfter seconds while it is in flight.
func (s *Server) writeExport(c *gin.Context, status int, e exportsapp.Export) {
	if e.Status.InFlight() {
		c.Header(headerRetryAfter, strconv.Itoa(exportRetryAfter))
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(status, s.exportJSON(e))
}

// exportJSON renders an export as the API's Export.
func (s *Server) exportJSON(e exportsapp.Export) api.Export {
	out := api.Export{Id: e.ID, Status: api.ExportStatus(e.Status), CreatedAt: e.CreatedAt,
		StartedAt: optionalTime(e.StartedAt), FinishedAt: optionalTime(e.FinishedAt),
		ExpiresAt: optionalTime(e.ExpiresAt), DownloadedAt: optionalTime(e.DownloadedAt)}
	out.Progress.Stage, out.Progress.RecordsWritten = api.ExportProgressStage(e.Stage), e.RecordsWritten
	if e.Error != "" {
		reason := api.ExportError(e.Error)
		out.Error = &reason
	}
	if s.App.Exports.DownloadOpen(e) {
		u := exportPath(e.ID) + "/download"
		out.DownloadUrl = &u
	}
	return out
}

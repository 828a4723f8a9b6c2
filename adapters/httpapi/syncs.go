package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	"github.com/dashtam/dashtam/domain/datasync"
)

// The syncs resource: starting a sync now, a provider's sync history, one
// sync's status monitor, and cancelling one.

const (
	// headerSyncJoined tells a client that started a sync whether it joined
	// the sync already in flight ("true") or queued a new one ("false").
	headerSyncJoined = "Sync-Joined"
	// syncRetryAfter is how long (seconds) a client polling a sync in flight
	// is asked to wait: a sandbox sync takes about a second, an institution's
	// a few.
	syncRetryAfter = 2
)

// StartSync begins a sync of one of the caller's providers now, or answers
// the sync already in flight: 202 either way, Sync-Joined telling which.
func (s *Server) StartSync(c *gin.Context, providerID uuid.UUID, _ api.StartSyncParams) {
	sy, joined, err := s.App.Syncs.Start(c.Request.Context(), principal(c).UserID, providerID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", syncPath(sy.ID()))
	c.Header(headerSyncJoined, strconv.FormatBool(joined))
	writeSync(c, http.StatusAccepted, sy)
}

// ListProviderSyncs lists one of the caller's providers' syncs, newest first,
// in cursor mode.
func (s *Server) ListProviderSyncs(c *gin.Context, providerID uuid.UUID, params api.ListProviderSyncsParams) {
	userID := principal(c).UserID
	fingerprint := fingerprintOf("syncs", userID.String(), providerID.String())
	var before uuid.UUID
	if params.Cursor != nil {
		r, err := s.cursors.open(fingerprint, *params.Cursor)
		if err != nil {
			s.fail(c, err)
			return
		}
		copy(before[:], r.bytes(len(before)))
		if err := r.done(); err != nil {
			s.fail(c, err)
			return
		}
	}
	limit := int(deref(params.Limit, defaultPageSize))
	page, err := s.App.Syncs.List(c.Request.Context(), userID, providerID, before, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := api.SyncList{Items: make([]api.Sync, len(page.Items)), HasMore: page.HasMore}
	for i, sy := range page.Items {
		body.Items[i] = syncJSON(sy)
	}
	body.UnderscoreLinks.Self = c.Request.URL.RequestURI()
	if page.HasMore {
		next := s.cursors.seal(fingerprint, page.Next[:])
		body.NextCursor = &next
		body.UnderscoreLinks.Next = nextPageLink(c, next, limit)
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, body)
}

// GetSync returns one of the caller's syncs, with Retry-After while it is in
// flight.
func (s *Server) GetSync(c *gin.Context, id uuid.UUID) {
	sy, err := s.App.Syncs.Get(c.Request.Context(), principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeSync(c, http.StatusOK, sy)
}

// CancelSync cancels one of the caller's syncs in flight: 204 when it was
// still queued (nothing ran), 202 with the sync when it was running (its job
// stops after the page it is storing). A finished one is 409.
func (s *Server) CancelSync(c *gin.Context, id uuid.UUID) {
	sy, err := s.App.Syncs.Cancel(c.Request.Context(), principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	if sy.StartedAt().IsZero() {
		c.Status(http.StatusNoContent)
		return
	}
	writeSync(c, http.StatusAccepted, sy)
}

// writeSync answers with the sync, asking a poller to come back in
// syncRetryAfter seconds while it is in flight.
func writeSync(c *gin.Context, status int, sy *datasync.Sync) {
	if sy.Status().InFlight() {
		c.Header(headerRetryAfter, strconv.Itoa(syncRetryAfter))
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(status, syncJSON(sy))
}

func syncPath(id uuid.UUID) string { return apiBase + "/syncs/" + id.String() }

// syncJSON renders a sync as DATA.md's Sync shape.
func syncJSON(sy *datasync.Sync) api.Sync {
	out := api.Sync{
		Id: sy.ID(), ProviderId: sy.ProviderID(),
		Trigger: api.SyncTrigger(sy.Trigger().String()), Status: api.SyncStatus(sy.Status().String()),
		CreatedAt: sy.CreatedAt().UTC(), StartedAt: optionalTime(sy.StartedAt()), FinishedAt: optionalTime(sy.FinishedAt()),
		Errors:          []api.SyncError{},
		UnderscoreLinks: api.SyncLinks{Self: syncPath(sy.ID()), Provider: providerPath(sy.ProviderID())},
	}
	p := sy.Progress()
	out.Progress.AccountsTotal, out.Progress.AccountsDone = syncCount(p.AccountsTotal), syncCount(p.AccountsDone)
	r := sy.Results()
	a, t, h := &out.Results.Accounts, &out.Results.Transactions, &out.Results.Holdings
	a.Added, a.Updated, a.Closed = syncCount(r.Accounts.Added), syncCount(r.Accounts.Updated), syncCount(r.Accounts.Closed)
	t.Added, t.Modified, t.Removed = syncCount(r.Transactions.Added), syncCount(r.Transactions.Modified), syncCount(r.Transactions.Removed)
	h.Added, h.Updated, h.Removed = syncCount(r.Holdings.Added), syncCount(r.Holdings.Updated), syncCount(r.Holdings.Removed)
	for _, e := range sy.Errors() {
		ae := api.SyncError{Code: e.Code, Message: e.Message, Retryable: e.Retryable}
		if e.AccountID != uuid.Nil {
			id := e.AccountID
			ae.AccountId = &id
		}
		out.Errors = append(out.Errors, ae)
	}
	return out
}

// syncCount is a sync's counter as the document's int32; counts never come near
// its limit (a provider's transactions in one sync), so it saturates rather
// than wraps.
func syncCount(n int) api.SyncCount {
	return api.SyncCount(min(max(n, 0), 1<<31-1))
}

// optionalTime is t in UTC, or nil (JSON null) when it is zero.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

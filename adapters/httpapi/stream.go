package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	eventsapp "github.com/dashtam/dashtam/application/events"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
)

// DefaultStreamHeartbeat is how often an event stream sends a comment when
// EVENT_STREAM_HEARTBEAT is unset: within the 15-30 s proxies are patient for.
const DefaultStreamHeartbeat = 20 * time.Second

// streamRetry is the reconnection delay a stream asks browsers for.
const streamRetry = 3 * time.Second

// streamBacklogPage is how many missed events a resuming stream reads at once.
const streamBacklogPage = eventsapp.MaxPageSize

// StreamEvents serves the caller's events as Server-Sent Events: first
// those after Last-Event-ID (or last_event_id), or a reset when they are no
// longer kept, then live ones from the hub, with heartbeats, until the
// client leaves, its session ends or the hub drops the stream.
func (s *Server) StreamEvents(c *gin.Context, params api.StreamEventsParams) {
	p := principal(c)
	after, err := resumeFrom(params)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	// Subscribe before reading what was missed: an event committed meanwhile
	// is then in the backlog, live, or both (sent once: ids only grow).
	sub, err := s.App.EventStream.Subscribe(p.UserID)
	if err != nil {
		if errors.Is(err, eventsapp.ErrTooManyStreams) {
			c.Header("Retry-After", strconv.Itoa(int(streamRetry.Seconds())))
		}
		s.fail(c, err)
		return
	}
	defer sub.Close()
	gone, err := s.App.EventStream.Gone(ctx, after)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Without a resume, or after a reset, the stream is live from what is
	// committed now; otherwise it sends what was missed first.
	last, backlog := after, after > 0 && !gone
	if !backlog {
		if last, err = s.App.EventStream.LastEventID(ctx); err != nil {
			s.fail(c, err)
			return
		}
	}
	// A stream outlives the server's WriteTimeout: each write gets its own
	// deadline instead (streamWriter).
	w := &streamWriter{c: c, rc: http.NewResponseController(c.Writer), timeout: s.StreamHeartbeat}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	if err := w.send(fmt.Appendf(nil, "retry: %d\n\n", streamRetry.Milliseconds())); err != nil {
		return
	}
	if gone && w.send([]byte("event: reset\ndata: {\"reason\":\"events after the requested id are no longer kept; refetch state, then follow the stream\"}\n\n")) != nil {
		return
	}
	if backlog {
		if last, err = s.sendBacklog(ctx, w, p, after); err != nil {
			return
		}
	}
	s.follow(ctx, w, sub, p, bearer(c), last)
}

// resumeFrom is the id the stream resumes after: the Last-Event-ID header,
// else the last_event_id query parameter, else 0 (live only). Both are
// strings of digits (the document says so; an id out of range is 422).
func resumeFrom(params api.StreamEventsParams) (int64, error) {
	field, raw := "Last-Event-ID", params.LastEventID
	if raw == nil {
		field, raw = "last_event_id", params.LastEventId
	}
	if raw == nil {
		return 0, nil
	}
	id, err := strconv.ParseInt(*raw, 10, 64)
	if err != nil || id < 0 {
		return 0, domain.NewValidationError(field, "invalid", field+" must be an event id.")
	}
	return id, nil
}

func bearer(c *gin.Context) string {
	token, _ := bearerToken(c.GetHeader("Authorization"))
	return token
}

// sendBacklog sends the caller's events after after, in order, and returns
// the id of the last one sent (after when there was none).
func (s *Server) sendBacklog(ctx context.Context, w *streamWriter, p identityapp.Principal, after int64) (int64, error) {
	for {
		page, err := s.App.Events.List(ctx, eventsapp.Query{UserID: p.UserID, After: after, Limit: streamBacklogPage})
		if err != nil {
			return after, err
		}
		for _, e := range page.Events {
			if err := w.send(s.sseEvent(e)); err != nil {
				return after, err
			}
			after = e.ID
		}
		if !page.HasMore {
			return after, nil
		}
	}
}

// follow sends live events after last until the stream ends: the client
// leaves, the hub drops it, its session is revoked (its session.revoked
// event, or the authentication a heartbeat re-checks) or a write fails.
func (s *Server) follow(ctx context.Context, w *streamWriter, sub *eventsapp.Subscription, p identityapp.Principal, token string, last int64) {
	heartbeat := time.NewTicker(s.StreamHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Dropped():
			return
		case e := <-sub.Events():
			if e.ID <= last {
				continue // already sent from the backlog
			}
			if w.send(s.sseEvent(e)) != nil {
				return
			}
			last = e.ID
			if e.Type == event.SessionRevoked && revokes(e, p) {
				return
			}
		case <-heartbeat.C:
			if _, err := s.App.Identity.Authenticate(ctx, token); err != nil {
				return
			}
			if w.send([]byte(": heartbeat\n\n")) != nil {
				return
			}
		}
	}
}

// revokes reports whether the session.revoked event e is the revocation of
// p's own session.
func revokes(e event.Logged, p identityapp.Principal) bool {
	var d struct {
		SessionID string `json:"session_id"`
	}
	return json.Unmarshal(e.Data, &d) == nil && d.SessionID == p.SessionID.String()
}

// sseEvent is e as one Server-Sent Event: id, type, and the whole event as
// GET /events shows it (JSON has no raw newlines, so one data line).
func (s *Server) sseEvent(e event.Logged) []byte {
	data, err := json.Marshal(s.eventJSON(e))
	if err != nil {
		data = []byte("{}")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "id: %d\nevent: %s\ndata: ", e.ID, e.Type)
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes()
}

// streamWriter writes a stream's messages, each flushed at once and under a
// write deadline of its own, so that a client that stopped reading is given
// up on rather than holding the stream for ever.
type streamWriter struct {
	c       *gin.Context
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *streamWriter) send(b []byte) error {
	// ErrNotSupported (a test recorder) leaves the server's own deadline.
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout + 10*time.Second))
	if _, err := w.c.Writer.Write(b); err != nil {
		return err
	}
	return w.rc.Flush()
}

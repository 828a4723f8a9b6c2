package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	eventsapp "github.com/dashtam/dashtam/application/events"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
)

const defaultEventsPageSize = 20

// ListEvents serves the caller's events after the cursor's id, ascending.
func (s *Server) ListEvents(c *gin.Context, params api.ListEventsParams) {
	userID := principal(c).UserID
	types, err := parseEventTypes(deref(params.Type, ""))
	if err != nil {
		s.fail(c, err)
		return
	}
	fingerprint := fingerprintOf("events", userID.String(), deref(params.Type, ""))
	after, err := s.cursors.openPosition(fingerprint, params.Cursor, 0)
	if err != nil {
		s.fail(c, err)
		return
	}
	limit := int(deref(params.Limit, defaultEventsPageSize))
	page, err := s.App.Events.List(c.Request.Context(), eventsapp.Query{UserID: userID, After: after, Types: types, Limit: limit})
	if err != nil {
		s.fail(c, err)
		return
	}
	body := eventPageJSON{Items: make([]eventJSON, 0, len(page.Events)), HasMore: page.HasMore}
	for _, e := range page.Events {
		body.Items = append(body.Items, s.eventJSON(e))
	}
	body.NextCursor = s.cursors.seal(fingerprint, appendInt64(nil, page.Next))
	body.Links.Self = c.Request.URL.RequestURI()
	body.Links.Next = nextPageLink(c, body.NextCursor, limit)
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, body)
}

// parseEventTypes parses the type filter, comma-separated names of
// event.Types; empty keeps every type.
func parseEventTypes(filter string) ([]event.Type, error) {
	if filter == "" {
		return nil, nil
	}
	var out []event.Type
	for name := range strings.SplitSeq(filter, ",") {
		t, err := event.ParseType(name)
		if err != nil {
			return nil, domain.NewValidationError("type", "unknown", "Unknown event type "+name+".")
		}
		out = append(out, t)
	}
	return out, nil
}

// eventPageJSON is api.EventPage with its events as eventJSON renders them.
type eventPageJSON struct {
	Links      api.PageLinks `json:"_links"`
	HasMore    bool          `json:"has_more"`
	Items      []eventJSON   `json:"items"`
	NextCursor string        `json:"next_cursor"`
}

// eventJSON is an event as the API shows it, in the list and as the stream's
// data: {id, type, occurred_at, data}.
type eventJSON struct {
	ID         int64           `json:"id"`
	Type       string          `json:"type"`
	OccurredAt string          `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// eventJSON renders e, its data as clients read it (eventData).
func (s *Server) eventJSON(e event.Logged) eventJSON {
	return eventJSON{ID: e.ID, Type: e.Type.String(), OccurredAt: e.OccurredAt.UTC().Format(time.RFC3339Nano),
		Data: s.cursors.eventData(e)}
}

// EventData returns how an event's data reads to clients wherever it is sent
// (GET /events, the stream, webhook deliveries): a transactions.changed
// event's feed position becomes the cursor of GET /transactions/changes that
// reads its changes, sealed with cursorSecret (Deps.CursorSecret) as the API's
// cursors are. The position itself is the store's; cursors are sealed here.
func EventData(cursorSecret []byte) func(event.Logged) json.RawMessage {
	return newCursorCodec(cursorSecret).eventData
}

// eventData is e's data as clients read it (see EventData). Data it cannot
// read is returned as it is.
func (cc cursorCodec) eventData(e event.Logged) json.RawMessage {
	data := json.RawMessage(e.Data)
	if e.Type != event.TransactionsChanged {
		return data
	}
	var d map[string]any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return data
	}
	n, ok := d["feed_after"].(json.Number)
	if !ok {
		return data
	}
	after, err := n.Int64()
	if err != nil {
		return data
	}
	delete(d, "feed_after")
	d["cursor"] = cc.seal(fingerprintOf("changes", e.UserID.String()), appendInt64(nil, after))
	out, err := json.Marshal(d)
	if err != nil {
		return data
	}
	return out
}

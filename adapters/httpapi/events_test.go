package httpapi_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
)

type eventBody struct {
	ID         int64          `json:"id"`
	Type       string         `json:"type"`
	OccurredAt string         `json:"occurred_at"`
	Data       map[string]any `json:"data"`
}

type eventPageBody struct {
	Items      []eventBody `json:"items"`
	NextCursor string      `json:"next_cursor"`
	HasMore    bool        `json:"has_more"`
}

func listEvents(t *testing.T, h *apitest.Harness, token, query string) eventPageBody {
	t.Helper()
	var page eventPageBody
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/events" + query, Token: token}).Expect(t, 200).JSON(t, &page)
	return page
}

func eventTypesOf(evs []eventBody) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func TestEventsAPI(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	ann := verifiedUser(t, h, "ann@example.com")
	second := login(t, h, "ann@example.com", pw).AccessToken
	bob := verifiedUser(t, h, "bob@example.com")

	t.Run("200: the caller's events only, oldest first, paged by cursor", func(t *testing.T) {
		all := listEvents(t, h, ann, "")
		if got := eventTypesOf(all.Items); !slices.Equal(got, []string{"session.created", "session.created"}) || all.HasMore {
			t.Fatalf("ann's events %v (has_more %v), want her two logins", got, all.HasMore)
		}
		if all.Items[0].ID >= all.Items[1].ID {
			t.Errorf("ids %d then %d, want ascending", all.Items[0].ID, all.Items[1].ID)
		}
		if bobs := listEvents(t, h, bob, ""); len(bobs.Items) != 1 || bobs.Items[0].ID == all.Items[0].ID || bobs.Items[0].ID == all.Items[1].ID {
			t.Errorf("bob's events %+v overlap ann's", bobs.Items)
		}
		first := listEvents(t, h, ann, "?limit=1")
		if len(first.Items) != 1 || !first.HasMore || first.Items[0].ID != all.Items[0].ID {
			t.Fatalf("first page %+v", first)
		}
		rest := listEvents(t, h, ann, "?limit=1&cursor="+url.QueryEscape(first.NextCursor))
		if len(rest.Items) != 1 || rest.Items[0].ID != all.Items[1].ID {
			t.Fatalf("second page %+v, want ann's second event", rest.Items)
		}
		// A client that caught up keeps next_cursor and sees only what came since.
		h.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/sessions/current", Token: second}).Expect(t, 204)
		since := listEvents(t, h, ann, "?cursor="+url.QueryEscape(all.NextCursor))
		if got := eventTypesOf(since.Items); !slices.Equal(got, []string{"session.revoked"}) {
			t.Errorf("events since the caught-up cursor %v, want [session.revoked]", got)
		}
	})

	t.Run("200: type keeps only the listed types", func(t *testing.T) {
		revoked := listEvents(t, h, ann, "?type=session.revoked,password.changed")
		if got := eventTypesOf(revoked.Items); !slices.Equal(got, []string{"session.revoked"}) {
			t.Errorf("type filter: %v, want [session.revoked]", got)
		}
	})

	t.Run("422: an unknown type, a forged cursor, another user's or another filter's cursor, limit over 100", func(t *testing.T) {
		get := func(token, query string) *apitest.Response {
			return h.Do(apitest.Request{Method: "GET", Path: "/api/v1/events" + query, Token: token})
		}
		expectField(t, get(ann, "?type=sync.exploded"), "type")
		expectField(t, get(ann, "?cursor="+forged(t)), "cursor")
		annCursor := listEvents(t, h, ann, "").NextCursor
		expectField(t, get(bob, "?cursor="+url.QueryEscape(annCursor)), "cursor")
		expectField(t, get(ann, "?type=session.created&cursor="+url.QueryEscape(annCursor)), "cursor")
		expectField(t, get(ann, "?limit=101"), "limit")
	})

	t.Run("401 without a token", func(t *testing.T) {
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/events"}).Expect(t, 401)
	})
}

func TestEventsOfASyncReachTheLog(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	ann := verifiedUser(t, h, "ann@example.com")
	providerID := connectSandbox(t, h, ann, "Sandbox", "")
	s := firstSync(t, h, ann, providerID)
	if s.Status != "succeeded" {
		t.Fatalf("first sync %+v", s)
	}
	evs := listEvents(t, h, ann, "?type=provider.connected,sync.started,sync.completed,transactions.changed&limit=100").Items
	types := eventTypesOf(evs)
	if len(types) < 4 || types[0] != "provider.connected" || types[1] != "sync.started" || types[len(types)-1] != "sync.completed" {
		t.Fatalf("events %v, want provider.connected, sync.started, ..., sync.completed", types)
	}
	for _, e := range evs {
		if e.Type == "provider.connected" && e.Data["provider_id"] != providerID {
			t.Errorf("provider.connected %v, want provider %s", e.Data, providerID)
		}
		if e.Type == "sync.completed" && (e.Data["sync_id"] != s.ID || e.Data["results"] == nil) {
			t.Errorf("sync.completed %v, want sync %s with its results", e.Data, s.ID)
		}
	}
	// transactions.changed carries the changes feed's cursor that reads its changes.
	i := slices.IndexFunc(evs, func(e eventBody) bool { return e.Type == "transactions.changed" })
	if i < 0 {
		t.Fatalf("no transactions.changed in %v", types)
	}
	changed := evs[i]
	cursor, ok := changed.Data["cursor"].(string)
	if !ok || changed.Data["feed_after"] != nil {
		t.Fatalf("transactions.changed data %v, want a cursor and no feed position", changed.Data)
	}
	var feed struct {
		Added []json.RawMessage `json:"added"`
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/transactions/changes?cursor=" + url.QueryEscape(cursor), Token: ann}).Expect(t, 200).JSON(t, &feed)
	// One page of the feed: at most 100 of them.
	if added, _ := changed.Data["added"].(float64); added < 1 || len(feed.Added) < min(int(added), 100) {
		t.Errorf("the event says %v added; the feed from its cursor has %d", changed.Data["added"], len(feed.Added))
	}
}

package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/apitest"
)

// sseMessage is one message of an event stream: an event (id, type, data) or
// a comment.
type sseMessage struct {
	ID, Event, Data, Comment, Retry string
}

// sseStream reads an event stream's messages as they come.
type sseStream struct {
	Res      *http.Response
	messages chan sseMessage
	cancel   context.CancelFunc
}

// openStream opens GET /api/v1/events/stream on srv with token and the
// given headers and query; the stream is closed when the test ends.
func openStream(t *testing.T, srv *httptest.Server, token, query string, header map[string]string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept-Encoding", "gzip")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// No transport decompression: the stream must not be compressed at all.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	res, err := client.Do(req) //nolint:bodyclose // closed by Close, at the test's end
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sseStream{Res: res, messages: make(chan sseMessage, 100), cancel: cancel}
	t.Cleanup(s.Close)
	if res.StatusCode == http.StatusOK {
		go s.read(res.Body)
	}
	return s
}

func (s *sseStream) Close() {
	s.cancel()
	_ = s.Res.Body.Close()
}

func (s *sseStream) read(body io.Reader) {
	defer close(s.messages)
	sc := bufio.NewScanner(body)
	var m sseMessage
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			s.messages <- m
			m = sseMessage{}
		case strings.HasPrefix(line, ":"):
			m.Comment = strings.TrimSpace(line[1:])
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				m.ID = value
			case "event":
				m.Event = value
			case "data":
				m.Data += value
			case "retry":
				m.Retry = value
			}
		}
	}
}

// next returns the next message that is not a heartbeat, failing the test
// after a few seconds.
func (s *sseStream) next(t *testing.T) sseMessage {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-s.messages:
			if !ok {
				t.Fatal("the stream ended")
			}
			if m.Comment == "" {
				return m
			}
		case <-timeout:
			t.Fatal("no event in 5 s")
		}
	}
}

func (s *sseStream) nextAny(t *testing.T) sseMessage {
	t.Helper()
	select {
	case m, ok := <-s.messages:
		if !ok {
			t.Fatal("the stream ended")
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message in 5 s")
	}
	return sseMessage{}
}

// ended reports whether the stream ends (skipping what is still sent) within d.
func (s *sseStream) ended(d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case _, ok := <-s.messages:
			if !ok {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// quiet reports that no event (heartbeats aside) arrives within d.
func (s *sseStream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m, ok := <-s.messages:
			if ok && m.Comment == "" {
				t.Fatalf("unexpected message %+v", m)
			}
		case <-timeout:
			return
		}
	}
}

// streamWorld is a service with fast streams (heartbeat 200 ms, poll 50 ms)
// served over a real listener, and a verified user.
func streamWorld(t *testing.T, env map[string]string) (*apitest.Harness, *httptest.Server, string) {
	t.Helper()
	all := map[string]string{"EVENT_STREAM_HEARTBEAT": "200ms", "EVENT_STREAM_POLL_INTERVAL": "50ms"}
	for k, v := range env {
		all[k] = v
	}
	h := apitest.New(t, apitest.Options{Env: all})
	srv := httptest.NewServer(h.App.Handler)
	t.Cleanup(srv.Close)
	return h, srv, verifiedUser(t, h, "ann@example.com")
}

func eventOf(t *testing.T, m sseMessage) eventBody {
	t.Helper()
	var e eventBody
	if err := json.Unmarshal([]byte(m.Data), &e); err != nil {
		t.Fatalf("data %q: %v", m.Data, err)
	}
	if strconv.FormatInt(e.ID, 10) != m.ID || e.Type != m.Event {
		t.Fatalf("message id %s event %s, data %+v: want the same id and type", m.ID, m.Event, e)
	}
	return e
}

func TestEventStreamSendsLiveEventsWithHeartbeats(t *testing.T) {
	t.Parallel()
	h, srv, ann := streamWorld(t, nil)
	s := openStream(t, srv, ann, "", nil)
	if s.Res.StatusCode != 200 {
		t.Fatalf("status %d", s.Res.StatusCode)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "X-Accel-Buffering": "no", "Content-Encoding": "", "Cache-Control": "no-store"} {
		if got := s.Res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if first := s.nextAny(t); first.Retry == "" {
		t.Fatalf("first message %+v, want retry:", first)
	}
	g := login(t, h, "ann@example.com", pw)
	e := eventOf(t, s.next(t))
	if e.Type != "session.created" || e.Data["session_id"] != g.Session.ID || e.OccurredAt == "" {
		t.Errorf("live event %+v, want the new login's session.created", e)
	}
	for {
		if m := s.nextAny(t); m.Comment == "heartbeat" {
			break
		}
	}
	// The stream outlives REQUEST_TIMEOUT (tested with the default, far longer
	// than this test, in TestEventStreamOutlivesTheRequestTimeout).
}

func TestEventStreamOutlivesTheRequestTimeout(t *testing.T) {
	t.Parallel()
	_, srv, ann := streamWorld(t, map[string]string{"REQUEST_TIMEOUT": "300ms"})
	s := openStream(t, srv, ann, "", nil)
	s.nextAny(t) // retry
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if m := s.nextAny(t); m.Comment != "heartbeat" {
			t.Fatalf("unexpected %+v", m)
		}
	}
}

func TestEventStreamResumesWithExactlyTheMissedEvents(t *testing.T) {
	t.Parallel()
	h, srv, ann := streamWorld(t, nil)
	for range 3 {
		login(t, h, "ann@example.com", pw)
	}
	all := listEvents(t, h, ann, "").Items // 4 session.created
	if len(all) != 4 {
		t.Fatalf("events %v", eventTypesOf(all))
	}
	for name, open := range map[string]func() *sseStream{
		"Last-Event-ID": func() *sseStream {
			return openStream(t, srv, ann, "", map[string]string{"Last-Event-ID": strconv.FormatInt(all[1].ID, 10)})
		},
		"last_event_id": func() *sseStream {
			return openStream(t, srv, ann, "?last_event_id="+strconv.FormatInt(all[1].ID, 10), nil)
		},
		"the header wins over the query": func() *sseStream {
			return openStream(t, srv, ann, "?last_event_id="+strconv.FormatInt(all[0].ID, 10),
				map[string]string{"Last-Event-ID": strconv.FormatInt(all[1].ID, 10)})
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := open()
			s.nextAny(t) // retry
			for _, want := range all[2:] {
				if got := eventOf(t, s.next(t)); got.ID != want.ID {
					t.Fatalf("got event %d, want %d", got.ID, want.ID)
				}
			}
			s.quiet(t, 300*time.Millisecond) // nothing twice
		})
	}
	t.Run("then live, each once", func(t *testing.T) {
		s := openStream(t, srv, ann, "", map[string]string{"Last-Event-ID": strconv.FormatInt(all[3].ID, 10)})
		s.nextAny(t)
		g := login(t, h, "ann@example.com", pw)
		if e := eventOf(t, s.next(t)); e.Data["session_id"] != g.Session.ID || e.ID <= all[3].ID {
			t.Fatalf("live event %+v", e)
		}
		s.quiet(t, 300*time.Millisecond)
	})
}

func TestEventStreamStartsWithAResetWhenTheMissedEventsAreGone(t *testing.T) {
	t.Parallel()
	h, srv, ann := streamWorld(t, nil)
	login(t, h, "ann@example.com", pw)
	login(t, h, "ann@example.com", pw)
	all := listEvents(t, h, ann, "").Items
	// The retention deleted the two oldest (as the event_retention job does).
	if _, err := h.App.DB.SQL.Exec("DELETE FROM events WHERE id <= " + strconv.FormatInt(all[1].ID, 10)); err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]int64{"older than kept": all[0].ID, "never handed out": all[2].ID + 1000} {
		t.Run(name, func(t *testing.T) {
			s := openStream(t, srv, ann, "", map[string]string{"Last-Event-ID": strconv.FormatInt(id, 10)})
			s.nextAny(t)
			if m := s.next(t); m.Event != "reset" || m.ID != "" || !json.Valid([]byte(m.Data)) {
				t.Fatalf("first message %+v, want a reset", m)
			}
			g := login(t, h, "ann@example.com", pw)
			if e := eventOf(t, s.next(t)); e.Data["session_id"] != g.Session.ID {
				t.Fatalf("after the reset %+v, want the live event", e)
			}
		})
	}
	t.Run("the last id deleted, the next kept: no reset", func(t *testing.T) {
		s := openStream(t, srv, ann, "", map[string]string{"Last-Event-ID": strconv.FormatInt(all[1].ID, 10)})
		s.nextAny(t)
		if e := eventOf(t, s.next(t)); e.ID != all[2].ID {
			t.Fatalf("first %+v, want event %d", e, all[2].ID)
		}
	})
}

func TestEventStreamsPerUserAreBounded(t *testing.T) {
	t.Parallel()
	h, srv, ann := streamWorld(t, map[string]string{"EVENT_STREAMS_PER_USER": "2"})
	first := openStream(t, srv, ann, "", nil)
	openStream(t, srv, ann, "", nil)
	third := openStream(t, srv, ann, "", nil)
	if third.Res.StatusCode != 429 || third.Res.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %d (Retry-After %q), want 429 with Retry-After", third.Res.StatusCode, third.Res.Header.Get("Retry-After"))
	}
	bob := verifiedUser(t, h, "bob@example.com")
	if s := openStream(t, srv, bob, "", nil); s.Res.StatusCode != 200 {
		t.Errorf("another user's stream: %d", s.Res.StatusCode)
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := openStream(t, srv, ann, "", nil)
		if s.Res.StatusCode == 200 {
			break
		}
		s.Close()
		if time.Now().After(deadline) {
			t.Fatal("a closed stream never freed its place")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEventStreamEndsWhenItsSessionIsRevoked(t *testing.T) {
	t.Parallel()
	h, srv, ann := streamWorld(t, map[string]string{"EVENT_STREAM_HEARTBEAT": "1h"})
	other := login(t, h, "ann@example.com", pw)
	s := openStream(t, srv, ann, "", nil)
	keep := openStream(t, srv, other.AccessToken, "", nil)
	s.nextAny(t)
	keep.nextAny(t)
	h.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/sessions/current", Token: ann}).Expect(t, 204)
	if !s.ended(2 * time.Second) {
		t.Fatal("the revoked session's stream is still open 2 s later")
	}
	// The other session's stream sees the revocation and stays.
	if e := eventOf(t, keep.next(t)); e.Type != "session.revoked" {
		t.Fatalf("other stream got %+v", e)
	}
	if keep.ended(300 * time.Millisecond) {
		t.Error("another session's stream ended")
	}
}

func TestEventStreamEndsWhenAHeartbeatFindsTheSessionGone(t *testing.T) {
	t.Parallel()
	// No session cache, so the heartbeat's check reads the row.
	h, srv, ann := streamWorld(t, map[string]string{"SESSION_CACHE_TTL": "0s"})
	s := openStream(t, srv, ann, "", nil)
	s.nextAny(t)
	// Revoked behind the event log's back: the heartbeat's check still sees it.
	if _, err := h.App.DB.SQL.Exec("UPDATE sessions SET revoked_at = CURRENT_TIMESTAMP, revoke_reason = 'logout'"); err != nil {
		t.Fatal(err)
	}
	if !s.ended(3 * time.Second) {
		t.Fatal("the stream outlived its session's revocation by 3 s")
	}
}

func TestEventStreamRefusesABadLastEventIDAndNoToken(t *testing.T) {
	t.Parallel()
	_, srv, ann := streamWorld(t, nil)
	if s := openStream(t, srv, ann, "", map[string]string{"Last-Event-ID": "abc"}); s.Res.StatusCode != 422 {
		t.Errorf("Last-Event-ID abc: %d, want 422", s.Res.StatusCode)
	}
	if s := openStream(t, srv, ann, "?last_event_id=-1", nil); s.Res.StatusCode != 422 {
		t.Errorf("last_event_id -1: %d, want 422", s.Res.StatusCode)
	}
	if s := openStream(t, srv, "not-a-token", "", nil); s.Res.StatusCode != 401 {
		t.Errorf("bad token: %d, want 401", s.Res.StatusCode)
	}
}

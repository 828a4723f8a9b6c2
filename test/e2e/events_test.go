package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// streamedEvent is one event read from GET /events/stream.
type streamedEvent struct {
	ID         int64          `json:"id"`
	Type       string         `json:"type"`
	OccurredAt time.Time      `json:"occurred_at"`
	Data       map[string]any `json:"data"`
	arrived    time.Time
}

// eventStream is an open GET /api/v1/events/stream; its events (heartbeats
// and the retry line aside) arrive on events, which is closed when it ends.
type eventStream struct {
	events chan streamedEvent
	cancel context.CancelFunc
}

// openEventStream opens the caller's event stream on in, resuming after
// lastID (0: live only).
func openEventStream(t *testing.T, in *Instance, token string, lastID int64) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.BaseURL+"/api/v1/events/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	// No client timeout: the stream lasts as long as the test holds it.
	res, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req) //nolint:bodyclose // closed by the reader
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		_ = res.Body.Close()
		t.Fatalf("stream on %s: %d %s", in.Addr, res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &eventStream{events: make(chan streamedEvent, 1000), cancel: cancel}
	t.Cleanup(s.close)
	go func() {
		defer close(s.events)
		defer func() { _ = res.Body.Close() }()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var id, typ, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data != "" {
					var e streamedEvent
					if json.Unmarshal([]byte(data), &e) == nil && strconv.FormatInt(e.ID, 10) == id && e.Type == typ {
						e.arrived = time.Now()
						s.events <- e
					} else {
						s.events <- streamedEvent{Type: "malformed: " + id + " " + typ + " " + data}
					}
				}
				id, typ, data = "", "", ""
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				data += line[6:]
			}
		}
	}()
	return s
}

func (s *eventStream) close() { s.cancel() }

// until reads events until one satisfies stop (returned last), failing the
// test after timeout.
func (s *eventStream) until(t *testing.T, timeout time.Duration, what string, stop func(streamedEvent) bool) []streamedEvent {
	t.Helper()
	var got []streamedEvent
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatalf("the stream ended before %s; got %v", what, got)
			}
			got = append(got, e)
			if stop(e) {
				return got
			}
		case <-deadline:
			t.Fatalf("no %s within %v; got %v", what, timeout, got)
		}
	}
}

// TestEventStreamAcrossInstances holds a stream on instance B while a grant
// and its sync happen through instance A (the sync's job runs on whichever
// instance claims it): B's stream sees sync.started and sync.completed within
// a second of their commit. Dropped and reconnected on B with the last id
// while another sync runs, it gets exactly the events it missed, in order,
// each once.
func TestEventStreamAcrossInstances(t *testing.T) {
	t.Parallel()
	env := merged(clusterEnv(postgresSchemaURL(t)), map[string]string{"EVENT_STREAM_POLL_INTERVAL": "250ms"})
	a := startInstance(t, env)
	b := startInstance(t, env)
	cluster(a, b)
	user := verifiedSession(t, a, newAccount())
	providerID := createProvider(t, a, user.Access, "sandbox", "Sandbox")

	stream := openEventStream(t, b, user.Access, 0)
	if err := connectSandboxE(a, user.Access, providerID, ""); err != nil {
		t.Fatal(err)
	}
	got := stream.until(t, 30*time.Second, "sync.completed", func(e streamedEvent) bool { return e.Type == "sync.completed" })
	var types []string
	var syncID string
	for i, e := range got {
		types = append(types, e.Type)
		if i > 0 && e.ID <= got[i-1].ID {
			t.Fatalf("ids not ascending: %v", got)
		}
		switch e.Type {
		case "sync.started":
			syncID, _ = e.Data["sync_id"].(string)
		case "sync.completed":
			if e.Data["sync_id"] != syncID || e.Data["provider_id"] != providerID {
				t.Errorf("sync.completed %v, want sync %s of provider %s", e.Data, syncID, providerID)
			}
			lag := e.arrived.Sub(e.OccurredAt)
			t.Logf("sync.completed reached B %v after it occurred", lag.Round(time.Millisecond))
			if lag > 2*time.Second { // the design's second, with room for a loaded CI machine
				t.Errorf("sync.completed reached B %v after it occurred", lag)
			}
		}
	}
	if syncID == "" || types[0] != "provider.connected" {
		t.Fatalf("events on B %v, want provider.connected, sync.started, ..., sync.completed", types)
	}
	last := got[len(got)-1].ID
	stream.close()

	// Missed while disconnected: a manual sync, started on A.
	ids := startSyncs(t, []*Instance{a}, user.Access, providerID, 1)
	awaitSync(t, a, user.Access, ids[0], "succeeded", 30*time.Second)
	missed := allPages(t, a, user.Access, "/api/v1/events?limit=100")
	var want []int64
	for _, e := range missed {
		if id := int64(e["id"].(float64)); id > last {
			want = append(want, id)
		}
	}
	if len(want) < 2 {
		t.Fatalf("events after %d: %v, want at least the second sync's start and end", last, want)
	}

	again := openEventStream(t, b, user.Access, last)
	resumed := again.until(t, 10*time.Second, "the missed events", func(e streamedEvent) bool { return e.ID == want[len(want)-1] })
	if len(resumed) != len(want) {
		t.Fatalf("resumed with %d events, want the %d missed: %v", len(resumed), len(want), resumed)
	}
	for i, e := range resumed {
		if e.ID != want[i] {
			t.Fatalf("resumed event %d is %d, want %d (in order, each once)", i, e.ID, want[i])
		}
	}
	if resumed[len(resumed)-1].Type != "sync.completed" {
		t.Errorf("the last missed event is %s, want sync.completed", resumed[len(resumed)-1].Type)
	}
	select {
	case e, ok := <-again.events:
		if ok {
			t.Errorf("an event after the missed ones, with nothing new: %+v", e)
		}
	case <-time.After(time.Second):
	}
}

package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookRequest is one delivery a test receiver got.
type hookRequest struct {
	header http.Header
	body   []byte
}

// A sandbox sync's sync.completed reaches the user's own server through the
// binary (HTTP API, dispatcher, delivery job), signed so that a Standard
// Webhooks verifier written here from the specification accepts it; the
// secret is shown once and is in no later answer and no log line. The
// sync's transactions.changed arrives too, carrying the same changes-feed
// cursor GET /events shows, which reads the feed.
func TestWebhookDeliversSyncCompletedSigned(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []hookRequest
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, hookRequest{header: r.Header.Clone(), body: body})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)

	in := startInstance(t, map[string]string{"WEBHOOK_ALLOW_LOOPBACK": "true", "WEBHOOK_DISPATCH_INTERVAL": "100ms"})
	user := verifiedSession(t, in, newAccount())
	_, created := in.expect(t, http.StatusCreated, http.MethodPost, "/api/v1/webhook-endpoints",
		map[string]any{"url": rcv.URL + "/hooks", "event_types": []string{"sync.completed", "transactions.changed"}, "description": "e2e"}, user.Access)
	secret, _ := created["secret"].(string)
	endpointID, _ := created["id"].(string)
	if !strings.HasPrefix(secret, "whsec_") || endpointID == "" {
		t.Fatalf("created %v", created)
	}
	providerID := createProvider(t, in, user.Access, "sandbox", "Sandbox")
	if err := connectSandboxE(in, user.Access, providerID, ""); err != nil {
		t.Fatal(err)
	}
	// typed returns the first delivery of an event type, if any.
	typed := func(eventType string) (hookRequest, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range got {
			var p struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(r.body, &p) == nil && p.Type == eventType {
				return r, true
			}
		}
		return hookRequest{}, false
	}
	waitUntil(t, 30*time.Second, "the sync.completed and transactions.changed deliveries", func() bool {
		_, completed := typed("sync.completed")
		_, changed := typed("transactions.changed")
		return completed && changed
	})
	first, _ := typed("sync.completed")

	// Standard Webhooks verification, from the specification.
	id, ts := first.header.Get("webhook-id"), first.header.Get("webhook-timestamp")
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(first.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if first.header.Get("webhook-signature") != want {
		t.Fatalf("webhook-signature %q, want %q", first.header.Get("webhook-signature"), want)
	}
	var payload struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(first.body, &payload); err != nil || payload.Type != "sync.completed" || payload.Data["provider_id"] != providerID {
		t.Fatalf("payload %s (%v)", first.body, err)
	}

	// transactions.changed carries the cursor GET /events shows, and it reads
	// the changes feed.
	changedReq, _ := typed("transactions.changed")
	var changed struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(changedReq.body, &changed); err != nil {
		t.Fatal(err)
	}
	cursor, _ := changed.Data["cursor"].(string)
	if cursor == "" || changed.Data["feed_after"] != nil {
		t.Fatalf("transactions.changed delivered %v, want a changes-feed cursor and no feed position", changed.Data)
	}
	_, listedEvents := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/events?type=transactions.changed&limit=100", nil, user.Access)
	if !strings.Contains(mustJSON(t, listedEvents), cursor) {
		t.Errorf("the delivered cursor is not the one GET /events shows for a transactions.changed")
	}
	in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/transactions/changes?cursor="+url.QueryEscape(cursor), nil, user.Access)

	// The delivery log says delivered; no later answer shows the secret.
	var deliveries map[string]any
	waitUntil(t, 10*time.Second, "the delivery logged as delivered", func() bool {
		_, deliveries = in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/webhook-endpoints/"+endpointID+"/deliveries", nil, user.Access)
		items, _ := deliveries["items"].([]any)
		if len(items) == 0 {
			return false
		}
		for _, item := range items {
			if d, _ := item.(map[string]any); d["status"] != "delivered" || d["attempts"] != float64(1) || d["last_status_code"] != float64(204) {
				return false
			}
		}
		return true
	})
	_, one := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/webhook-endpoints/"+endpointID, nil, user.Access)
	raw, _ := json.Marshal(one)
	listed, _ := json.Marshal(deliveries)
	secretB64 := strings.TrimPrefix(secret, "whsec_")
	for what, s := range map[string]string{"GET endpoint": string(raw), "GET deliveries": string(listed), "logs": in.Logs()} {
		if strings.Contains(s, secretB64) {
			t.Fatalf("the secret is in the %s", what)
		}
	}
}

// mustJSON is v as JSON text.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

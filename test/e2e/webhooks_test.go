package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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
// secret is shown once and is in no later answer and no log line.
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
		map[string]any{"url": rcv.URL + "/hooks", "event_types": []string{"sync.completed"}, "description": "e2e"}, user.Access)
	secret, _ := created["secret"].(string)
	endpointID, _ := created["id"].(string)
	if !strings.HasPrefix(secret, "whsec_") || endpointID == "" {
		t.Fatalf("created %v", created)
	}
	providerID := createProvider(t, in, user.Access, "sandbox", "Sandbox")
	if err := connectSandboxE(in, user.Access, providerID, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the sync.completed delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	mu.Lock()
	first := got[0]
	mu.Unlock()

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

	// The delivery log says delivered; no later answer shows the secret.
	var deliveries map[string]any
	waitUntil(t, 10*time.Second, "the delivery logged as delivered", func() bool {
		_, deliveries = in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/webhook-endpoints/"+endpointID+"/deliveries", nil, user.Access)
		items, _ := deliveries["items"].([]any)
		if len(items) == 0 {
			return false
		}
		d, _ := items[0].(map[string]any)
		return d["status"] == "delivered" && d["attempts"] == float64(1) && d["last_status_code"] == float64(204)
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

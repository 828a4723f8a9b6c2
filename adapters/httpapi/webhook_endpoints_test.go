package httpapi_test

import (
	"strings"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
)

type webhookEndpointBody struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	EventTypes     []string `json:"event_types"`
	Enabled        bool     `json:"enabled"`
	DisabledReason string   `json:"disabled_reason"`
	Secret         string   `json:"secret"`
}

func TestWebhookEndpointsAPI(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{"WEBHOOK_ALLOW_LOOPBACK": "true"}})
	ann := verifiedUser(t, h, "ann@example.com")
	bob := verifiedUser(t, h, "bob@example.com")
	create := func(token, url string) *apitest.Response {
		return h.Do(apitest.Request{Method: "POST", Path: "/api/v1/webhook-endpoints", Token: token,
			Body: map[string]any{"url": url, "event_types": []string{"sync.completed", "sync.failed"}, "description": "mine"}})
	}
	var created webhookEndpointBody
	res := create(ann, "http://127.0.0.1:9/hooks").Expect(t, 201)
	res.JSON(t, &created)
	if !strings.HasPrefix(created.Secret, "whsec_") || len(created.Secret) < 40 || !created.Enabled || res.Header.Get("Location") == "" {
		t.Fatalf("created %+v", created)
	}
	path := "/api/v1/webhook-endpoints/" + created.ID
	secret := strings.TrimPrefix(created.Secret, "whsec_")

	t.Run("the secret is never shown again", func(t *testing.T) {
		one := h.Do(apitest.Request{Method: "GET", Path: path, Token: ann}).Expect(t, 200)
		list := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/webhook-endpoints", Token: ann}).Expect(t, 200)
		for what, body := range map[string][]byte{"GET": one.Body, "list": list.Body, "logs": []byte(h.Logs.String())} {
			if strings.Contains(string(body), secret) || strings.Contains(string(body), `"secret"`) && what != "logs" {
				t.Fatalf("the secret is in the %s", what)
			}
		}
	})
	t.Run("404: another user's endpoint", func(t *testing.T) {
		h.Do(apitest.Request{Method: "GET", Path: path, Token: bob}).Expect(t, 404)
		h.Do(apitest.Request{Method: "DELETE", Path: path, Token: bob}).Expect(t, 404)
		h.Do(apitest.Request{Method: "POST", Path: path + "/secret-rotations", Token: bob}).Expect(t, 404)
	})
	t.Run("422: an unknown event type, a URL that is not absolute", func(t *testing.T) {
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/webhook-endpoints", Token: ann,
			Body: map[string]any{"url": "http://127.0.0.1:9/x", "event_types": []string{"nope"}}}).Expect(t, 422)
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/webhook-endpoints", Token: ann,
			Body: map[string]any{"url": "/relative", "event_types": []string{"sync.failed"}}}).Expect(t, 422)
	})
	t.Run("422 destination_refused: a private or metadata address", func(t *testing.T) {
		for _, u := range []string{"http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data"} {
			p := create(ann, u).Expect(t, 422).Problem(t)
			if len(p.Errors) != 1 || p.Errors[0].Field != "url" || p.Errors[0].Code != "destination_refused" {
				t.Fatalf("%s: %+v", u, p)
			}
		}
	})
	t.Run("PATCH honours If-Match and disables", func(t *testing.T) {
		h.Do(apitest.Request{Method: "PATCH", Path: path, Token: ann, Header: map[string]string{"If-Match": `"99"`},
			Body: map[string]any{"enabled": false}}).Expect(t, 412)
		var e webhookEndpointBody
		h.Do(apitest.Request{Method: "PATCH", Path: path, Token: ann, Header: map[string]string{"If-Match": `"1"`},
			Body: map[string]any{"enabled": false}}).Expect(t, 200).JSON(t, &e)
		if e.Enabled || e.DisabledReason != "disabled_by_user" {
			t.Fatalf("patched %+v", e)
		}
	})
	t.Run("201: a rotation shows the new secret once", func(t *testing.T) {
		var r webhookEndpointBody
		h.Do(apitest.Request{Method: "POST", Path: path + "/secret-rotations", Token: ann}).Expect(t, 201).JSON(t, &r)
		if !strings.HasPrefix(r.Secret, "whsec_") || r.Secret == created.Secret {
			t.Fatalf("rotated secret %q", r.Secret)
		}
	})
	t.Run("the delivery log; 409: a retry to a disabled endpoint", func(t *testing.T) {
		h.Do(apitest.Request{Method: "GET", Path: path + "/deliveries", Token: ann}).Expect(t, 200)
		h.Do(apitest.Request{Method: "POST", Path: path + "/deliveries/0193a1d4-2e5f-7a60-8b71-9c2d3e4f5a6b/retries", Token: ann}).Expect(t, 409)
	})
	t.Run("409: at most 10 endpoints", func(t *testing.T) {
		for range 9 {
			create(ann, "http://127.0.0.1:9/more").Expect(t, 201)
		}
		create(ann, "http://127.0.0.1:9/one-too-many").Expect(t, 409)
	})
	t.Run("204: deleted, then 404", func(t *testing.T) {
		h.Do(apitest.Request{Method: "DELETE", Path: path, Token: ann}).Expect(t, 204)
		h.Do(apitest.Request{Method: "GET", Path: path, Token: ann}).Expect(t, 404)
	})
}

// Without WEBHOOK_ALLOW_LOOPBACK, 127.0.0.1 is refused at registration.
func TestWebhookEndpointAtLoopbackIsRefusedByDefault(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	ann := verifiedUser(t, h, "ann@example.com")
	p := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/webhook-endpoints", Token: ann,
		Body: map[string]any{"url": "http://127.0.0.1:8080/hooks", "event_types": []string{"sync.completed"}}}).Expect(t, 422).Problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Code != "destination_refused" || !strings.Contains(p.Errors[0].Message, "loopback") {
		t.Fatalf("problem %+v", p)
	}
}

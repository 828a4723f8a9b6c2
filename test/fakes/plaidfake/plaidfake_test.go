package plaidfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

// These tests pin the behaviour the fake promises.

type answer struct {
	status      int
	ErrorType   string `json:"error_type"`
	ErrorCode   string `json:"error_code"`
	AccessToken string `json:"access_token"`
	ItemID      string `json:"item_id"`
	RequestID   string `json:"request_id"`
}

func call(t *testing.T, fake *plaidfake.Server, path string, body map[string]any) answer {
	t.Helper()
	payload, _ := json.Marshal(body)
	resp, err := http.Post(fake.URL+path, "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	a.status = resp.StatusCode
	return a
}

func TestPublicTokensAreSingleUseAndLastThirtyMinutes(t *testing.T) {
	fake := plaidfake.New(plaidfake.Config{})
	t.Cleanup(fake.Close)
	keys := map[string]any{"client_id": fake.Config().ClientID, "secret": fake.Config().Secret}
	exchange := func(public string) answer {
		body := map[string]any{"public_token": public}
		for k, v := range keys {
			body[k] = v
		}
		return call(t, fake, plaidfake.PathPublicTokenSwap, body)
	}

	public, err := fake.CreatePublicToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a := exchange(public); a.status != http.StatusOK || a.AccessToken == "" || a.ItemID == "" {
		t.Fatalf("first exchange: %+v", a)
	}
	if a := exchange(public); a.ErrorType != "INVALID_INPUT" || a.ErrorCode != "INVALID_PUBLIC_TOKEN" || a.RequestID == "" {
		t.Errorf("second exchange: %+v, want INVALID_INPUT/INVALID_PUBLIC_TOKEN with a request_id", a)
	}
	public, _ = fake.CreatePublicToken(context.Background())
	fake.Clock().Advance(30 * time.Minute)
	if a := exchange(public); a.ErrorCode != "INVALID_PUBLIC_TOKEN" {
		t.Errorf("30-minute-old public token: %+v", a)
	}
}

func TestRequestsAreCheckedLikePlaidDoes(t *testing.T) {
	fake := plaidfake.New(plaidfake.Config{})
	t.Cleanup(fake.Close)
	if a := call(t, fake, plaidfake.PathItemRemove, map[string]any{"access_token": "x"}); a.ErrorCode != "MISSING_FIELDS" {
		t.Errorf("no API keys: %+v", a)
	}
	if a := call(t, fake, plaidfake.PathItemRemove, map[string]any{"client_id": "c", "secret": "wrong", "access_token": "x"}); a.ErrorCode != "INVALID_API_KEYS" {
		t.Errorf("wrong API keys: %+v", a)
	}
	body := map[string]any{"client_id": fake.Config().ClientID, "secret": fake.Config().Secret, "access_token": "x", "surprise": 1}
	if a := call(t, fake, plaidfake.PathItemRemove, body); a.ErrorCode != "UNKNOWN_FIELDS" {
		t.Errorf("unknown field: %+v", a)
	}
	if got := fake.Calls(plaidfake.PathItemRemove); got != 3 {
		t.Errorf("Calls = %d, want 3", got)
	}
}

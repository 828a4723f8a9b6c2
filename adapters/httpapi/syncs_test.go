package httpapi_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/test/apitest"
)

type syncBody struct {
	ID         string     `json:"id"`
	ProviderID string     `json:"provider_id"`
	Trigger    string     `json:"trigger"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Progress   struct {
		AccountsTotal int `json:"accounts_total"`
		AccountsDone  int `json:"accounts_done"`
	} `json:"progress"`
	Results struct {
		Accounts     struct{ Added, Updated, Closed int }   `json:"accounts"`
		Transactions struct{ Added, Modified, Removed int } `json:"transactions"`
		Holdings     struct{ Added, Updated, Removed int }  `json:"holdings"`
	} `json:"results"`
	Errors []struct {
		AccountID *string `json:"account_id"`
		Code      string  `json:"code"`
		Retryable bool    `json:"retryable"`
	} `json:"errors"`
	Links struct {
		Self     string `json:"self"`
		Provider string `json:"provider"`
	} `json:"_links"`
}

type syncListBody struct {
	Items      []syncBody `json:"items"`
	NextCursor *string    `json:"next_cursor"`
	HasMore    bool       `json:"has_more"`
}

// connectSandbox creates a sandbox provider for the user, authorizes it as
// the sandbox user hint ("" is user_good) and returns its id. The grant
// begins the first sync.
func connectSandbox(t *testing.T, h *apitest.Harness, token, alias, hint string) string {
	t.Helper()
	p, _ := createProvider(t, h, token, alias)
	authURL := startAuthorization(t, h, token, p.ID).AuthorizationURL
	if hint != "" {
		authURL += "&login_hint=" + hint
	}
	complete(t, h, token, sandboxCallback(t, h, authURL))
	return p.ID
}

// awaitSync polls the sync until cond holds, and returns it.
func awaitSync(t *testing.T, h *apitest.Harness, token, path string, cond func(syncBody) bool) syncBody {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var s syncBody
		h.Do(apitest.Request{Method: "GET", Path: path, Token: token}).Expect(t, 200).JSON(t, &s)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync %s never got there: %+v", path, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// firstSync returns the provider's only sync once it finished.
func firstSync(t *testing.T, h *apitest.Harness, token, providerID string) syncBody {
	t.Helper()
	var list syncListBody
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + providerID + "/syncs", Token: token}).Expect(t, 200).JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].Trigger != "authorization" {
		t.Fatalf("syncs after the grant = %+v", list)
	}
	return awaitSync(t, h, token, list.Items[0].Links.Self, func(s syncBody) bool { return s.FinishedAt != nil })
}

func TestSyncsAPI(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testSyncsAPI)
}

func testSyncsAPI(t *testing.T, opts apitest.Options) {
	h := apitest.New(t, opts)
	ann, bob := verifiedUser(t, h, "ann@example.com"), verifiedUser(t, h, "bob@example.com")
	annP := connectSandbox(t, h, ann, "Ann's sandbox", "")
	base := "/api/v1/providers/" + annP + "/syncs"

	first := firstSync(t, h, ann, annP)
	t.Run("the grant's first sync succeeds with DATA.md's shape", func(t *testing.T) {
		if first.Status != "succeeded" || first.ProviderID != annP || first.StartedAt == nil ||
			first.Progress.AccountsTotal == 0 || first.Progress.AccountsDone != first.Progress.AccountsTotal ||
			first.Results.Accounts.Added != first.Progress.AccountsTotal || first.Results.Transactions.Added == 0 ||
			first.Results.Holdings.Added == 0 || len(first.Errors) != 0 ||
			first.Links.Self != "/api/v1/syncs/"+first.ID || first.Links.Provider != "/api/v1/providers/"+annP {
			t.Errorf("first sync = %+v", first)
		}
		res := h.Do(apitest.Request{Method: "GET", Path: first.Links.Self, Token: ann}).Expect(t, 200)
		if res.Header.Get("Retry-After") != "" {
			t.Errorf("a finished sync carries Retry-After %q", res.Header.Get("Retry-After"))
		}
		if raw := object(t, res.Body); raw["errors"] == nil {
			t.Errorf("errors is not an empty array: %s", res.Body)
		}
	})
	t.Run("the provider shows last_synced_at, data_as_of and its syncs link; its ETag moves with a sync", func(t *testing.T) {
		var p struct {
			LastSyncedAt *time.Time `json:"last_synced_at"`
			DataAsOf     *time.Time `json:"data_as_of"`
			Links        struct {
				Syncs string `json:"syncs"`
			} `json:"_links"`
		}
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + annP, Token: ann}).Expect(t, 200)
		res.JSON(t, &p)
		if p.LastSyncedAt == nil || p.DataAsOf == nil || !p.LastSyncedAt.Equal(*first.FinishedAt) || p.Links.Syncs != base {
			t.Fatalf("provider = %s", res.Body)
		}
		etag := res.Header.Get("ETag")
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + annP, Token: ann,
			Header: map[string]string{"If-None-Match": etag}}).Expect(t, 304)
		var list struct {
			Items []map[string]any `json:"items"`
		}
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers", Token: ann}).Expect(t, 200).JSON(t, &list)
		if len(list.Items) != 1 || list.Items[0]["last_synced_at"] == nil || list.Items[0]["data_as_of"] == nil {
			t.Errorf("the list lacks the sync state: %+v", list.Items)
		}
		var s syncBody
		h.Do(apitest.Request{Method: "POST", Path: base, Token: ann}).Expect(t, 202).JSON(t, &s)
		awaitSync(t, h, ann, s.Links.Self, func(s syncBody) bool { return s.FinishedAt != nil })
		res = h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + annP, Token: ann,
			Header: map[string]string{"If-None-Match": etag}}).Expect(t, 200)
		// If-Match still guards the alias with the new ETag.
		h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/providers/" + annP, Token: ann, Body: map[string]any{"alias": "Renamed"},
			Header: map[string]string{"If-Match": res.Header.Get("ETag")}}).Expect(t, 200)
	})
	t.Run("POST starts a new sync after the last finished: 202, Location, Sync-Joined false, Retry-After", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "POST", Path: base, Token: ann}).Expect(t, 202)
		var s syncBody
		res.JSON(t, &s)
		if s.ID == first.ID || s.Trigger != "manual" || res.Header.Get("Location") != "/api/v1/syncs/"+s.ID ||
			res.Header.Get("Sync-Joined") != "false" {
			t.Fatalf("POST = %s %v", res.Body, res.Header)
		}
		if s.FinishedAt == nil && res.Header.Get("Retry-After") != "2" {
			t.Errorf("an unfinished sync's Retry-After = %q", res.Header.Get("Retry-After"))
		}
		awaitSync(t, h, ann, s.Links.Self, func(s syncBody) bool { return s.Status == "succeeded" })
	})
	t.Run("the history lists newest first, cursor pages, and refuses a forged cursor", func(t *testing.T) {
		var all syncListBody
		h.Do(apitest.Request{Method: "GET", Path: base, Token: ann}).Expect(t, 200).JSON(t, &all)
		if len(all.Items) != 3 || all.HasMore || all.Items[2].ID != first.ID {
			t.Fatalf("history = %+v", all)
		}
		var seen []string
		path := base + "?limit=1"
		for range 3 {
			var page syncListBody
			h.Do(apitest.Request{Method: "GET", Path: path, Token: ann}).Expect(t, 200).JSON(t, &page)
			seen = append(seen, page.Items[0].ID)
			if page.NextCursor == nil {
				break
			}
			path = base + "?limit=1&cursor=" + *page.NextCursor
		}
		if strings.Join(seen, ",") != all.Items[0].ID+","+all.Items[1].ID+","+all.Items[2].ID {
			t.Errorf("pages = %v, want %+v", seen, all.Items)
		}
		h.Do(apitest.Request{Method: "GET", Path: base + "?cursor=AAAA.forged", Token: ann}).Expect(t, 422)
		h.Do(apitest.Request{Method: "GET", Path: base + "?limit=101", Token: ann}).Expect(t, 422)
	})
	t.Run("a finished sync cannot be canceled: 409, and it stays as it ended", func(t *testing.T) {
		h.Do(apitest.Request{Method: "DELETE", Path: first.Links.Self, Token: ann}).Expect(t, 409)
		var s syncBody
		h.Do(apitest.Request{Method: "GET", Path: first.Links.Self, Token: ann}).Expect(t, 200).JSON(t, &s)
		if s.Status != "succeeded" {
			t.Errorf("after DELETE: %+v", s)
		}
	})
	t.Run("another user's provider and syncs are 404 on every route", func(t *testing.T) {
		h.Do(apitest.Request{Method: "GET", Path: base, Token: bob}).Expect(t, 404)
		h.Do(apitest.Request{Method: "POST", Path: base, Token: bob}).Expect(t, 404)
		h.Do(apitest.Request{Method: "GET", Path: first.Links.Self, Token: bob}).Expect(t, 404)
		h.Do(apitest.Request{Method: "DELETE", Path: first.Links.Self, Token: bob}).Expect(t, 404)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/syncs/" + uuid.NewString(), Token: ann}).Expect(t, 404)
	})
	t.Run("a provider that is not connected is 409 PROVIDER_NOT_CONNECTED", func(t *testing.T) {
		p, _ := createProvider(t, h, bob, "Bob's unconnected")
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + p.ID + "/syncs", Token: bob}).Expect(t, 409)
		if pr := res.Problem(t); pr.Code != "PROVIDER_NOT_CONNECTED" || pr.Type != "/problems/provider-not-connected" {
			t.Errorf("problem = %+v", pr)
		}
	})
	t.Run("an Idempotency-Key replays the first answer, Sync-Joined included", func(t *testing.T) {
		key := map[string]string{"Idempotency-Key": "sync-" + uuid.NewString()}
		first := h.Do(apitest.Request{Method: "POST", Path: base, Token: ann, Header: key}).Expect(t, 202)
		again := h.Do(apitest.Request{Method: "POST", Path: base, Token: ann, Header: key}).Expect(t, 202)
		if again.Header.Get("Idempotency-Replay") != "true" || string(again.Body) != string(first.Body) ||
			again.Header.Get("Sync-Joined") != first.Header.Get("Sync-Joined") || again.Header.Get("Location") != first.Header.Get("Location") {
			t.Errorf("replay = %s %v; first %s %v", again.Body, again.Header, first.Body, first.Header)
		}
	})
}

// A sync whose institution is slow stays running: a second POST joins it
// (same id, Sync-Joined true), and DELETE cancels it with 202.
func TestRunningSyncIsJoinedAndCanceled(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	ann := verifiedUser(t, h, "ann@example.com")
	p := connectSandbox(t, h, ann, "Slow bank", "user_slow")
	var list syncListBody
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + p + "/syncs", Token: ann}).Expect(t, 200).JSON(t, &list)
	running := awaitSync(t, h, ann, list.Items[0].Links.Self, func(s syncBody) bool { return s.Status == "running" })

	res := h.Do(apitest.Request{Method: "GET", Path: running.Links.Self, Token: ann}).Expect(t, 200)
	if res.Header.Get("Retry-After") != "2" {
		t.Errorf("a running sync's Retry-After = %q", res.Header.Get("Retry-After"))
	}
	res = h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + p + "/syncs", Token: ann}).Expect(t, 202)
	var joined syncBody
	res.JSON(t, &joined)
	if joined.ID != running.ID || res.Header.Get("Sync-Joined") != "true" || res.Header.Get("Location") != running.Links.Self {
		t.Errorf("POST while running = %s %v, want the running sync %s joined", res.Body, res.Header, running.ID)
	}
	var canceled syncBody
	h.Do(apitest.Request{Method: "DELETE", Path: running.Links.Self, Token: ann}).Expect(t, http.StatusAccepted).JSON(t, &canceled)
	if canceled.ID != running.ID || canceled.Status != "canceled" || canceled.FinishedAt == nil {
		t.Errorf("canceled = %+v", canceled)
	}
	h.Do(apitest.Request{Method: "DELETE", Path: running.Links.Self, Token: ann}).Expect(t, 409)
}

// parkedQueue commits no job: a sync begun through it stays queued.
type parkedQueue struct{}

func (parkedQueue) EnqueueTx(context.Context, *sql.Tx, jobs.Job) (bool, error) { return false, nil }

// A queued sync (here one whose job never runs) is canceled with 204.
func TestQueuedSyncIsCanceledWith204(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	ann := verifiedUser(t, h, "ann@example.com")
	p, _ := createProvider(t, h, ann, "Queued bank")
	s, job := datasyncapp.FirstSync(uuid.MustParse(p.ID), time.Now())
	if _, _, err := persistence.NewSyncStore(h.App.DB, parkedQueue{}).Begin(t.Context(), s, job); err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/syncs/" + s.ID().String()
	var queued syncBody
	res := h.Do(apitest.Request{Method: "GET", Path: path, Token: ann}).Expect(t, 200)
	res.JSON(t, &queued)
	if queued.Status != "queued" || queued.StartedAt != nil || res.Header.Get("Retry-After") != "2" {
		t.Fatalf("queued = %s %v", res.Body, res.Header)
	}
	h.Do(apitest.Request{Method: "DELETE", Path: path, Token: ann}).Expect(t, 204)
	h.Do(apitest.Request{Method: "GET", Path: path, Token: ann}).Expect(t, 200).JSON(t, &queued)
	if queued.Status != "canceled" || queued.FinishedAt == nil {
		t.Errorf("after DELETE: %+v", queued)
	}
}

// A sync's failures are in its errors: one account's (user_partial: the
// brokerage's holdings) ends it partial with that account's id; the
// institution refusing the grant (user_reauth) ends it failed with a
// provider-wide error, and the next POST is 409 REAUTHORIZATION_REQUIRED.
func TestSyncErrorsAndReauthorization(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	ann := verifiedUser(t, h, "ann@example.com")

	partial := firstSync(t, h, ann, connectSandbox(t, h, ann, "Partial bank", "user_partial"))
	if partial.Status != "partial" || len(partial.Errors) != 1 || partial.Errors[0].AccountID == nil ||
		partial.Errors[0].Code == "" || partial.Results.Transactions.Added == 0 {
		t.Errorf("partial sync = %+v", partial)
	}

	p := connectSandbox(t, h, ann, "Revoked bank", "user_reauth")
	failed := firstSync(t, h, ann, p)
	if failed.Status != "failed" || len(failed.Errors) != 1 || failed.Errors[0].AccountID != nil ||
		failed.Errors[0].Code != "reauthorization_required" || failed.Errors[0].Retryable {
		t.Errorf("failed sync = %+v", failed)
	}
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + p + "/syncs", Token: ann}).Expect(t, 409)
	if pr := res.Problem(t); pr.Code != "REAUTHORIZATION_REQUIRED" {
		t.Errorf("problem = %+v", pr)
	}
}

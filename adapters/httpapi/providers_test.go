package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/apitest"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
)

type providerJSON struct {
	ID               string `json:"id"`
	ProviderKey      string `json:"provider_key"`
	Alias            string `json:"alias"`
	ConnectionStatus string `json:"connection_status"`
	CreatedAt        string `json:"created_at"`
	Links            *struct {
		Self          string `json:"self"`
		Authorization string `json:"authorization"`
	} `json:"_links"`
}

// verifiedUser registers, verifies and logs in; it returns an access token.
func verifiedUser(t *testing.T, h *apitest.Harness, email string) string {
	t.Helper()
	register(t, h, email)
	token := h.Mail.LastToken(t, email, "Verify")
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications", Body: map[string]any{"token": token}}).Expect(t, 200)
	return login(t, h, email, pw).AccessToken
}

func createProvider(t *testing.T, h *apitest.Harness, token, alias string) (providerJSON, string) {
	t.Helper()
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "sandbox", "alias": alias}}).Expect(t, 201)
	var p providerJSON
	res.JSON(t, &p)
	return p, res.Header.Get("ETag")
}

func TestProviderTypes(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	var list struct {
		Items []struct {
			Key      string `json:"key"`
			Name     string `json:"name"`
			AuthFlow string `json:"auth_flow"`
		}
	}
	res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/provider-types"}).Expect(t, 200)
	res.JSON(t, &list)
	if res.Header.Get("Cache-Control") != "public, max-age=3600" {
		t.Errorf("Cache-Control = %q", res.Header.Get("Cache-Control"))
	}
	if !strings.Contains(string(res.Body), `"key":"sandbox"`) {
		t.Errorf("catalog lacks the development sandbox: %s", res.Body)
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/provider-types/sandbox"}).Expect(t, 200)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/provider-types/nope"}).Expect(t, 404)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/provider-types/Not-A-Key"}).Expect(t, 422)
}

func TestCreateProvider(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testCreateProvider)
}

func testCreateProvider(t *testing.T, opts apitest.Options) {
	h := apitest.New(t, opts)
	token := verifiedUser(t, h, "ann@example.com")
	t.Run("201 with Location, ETag and links, never tokens", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "sandbox", "alias": "  My Sandbox "}}).Expect(t, 201)
		var p providerJSON
		res.JSON(t, &p)
		if p.Alias != "My Sandbox" || p.ConnectionStatus != "not_connected" || p.Links == nil || p.Links.Self != "/api/v1/providers/"+p.ID {
			t.Errorf("provider = %+v", p)
		}
		if res.Header.Get("Location") != p.Links.Self || res.Header.Get("ETag") == "" {
			t.Errorf("headers = %v", res.Header)
		}
		if strings.Contains(strings.ToLower(string(res.Body)), "token") {
			t.Errorf("provider body mentions tokens: %s", res.Body)
		}
	})
	t.Run("409 for the same alias in another case", func(t *testing.T) {
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "sandbox", "alias": "MY SANDBOX"}}).Expect(t, 409)
	})
	t.Run("422 names every bad field", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "nope", "alias": "   "}}).Expect(t, 422)
		p := res.Problem(t)
		if len(p.Errors) != 2 {
			t.Errorf("errors = %+v", p.Errors)
		}
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "sandbox", "alias": strings.Repeat("a", 101)}}).Expect(t, 422)
	})
	t.Run("422 for control characters, with nothing stored", func(t *testing.T) {
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "sandbox", "alias": "nul\u0000byte"}}).Expect(t, 422)
	})
	t.Run("422 for mass assignment", func(t *testing.T) {
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "sandbox", "alias": "x", "connection_status": "active"}}).Expect(t, 422)
	})
	t.Run("403 with an unverified email", func(t *testing.T) {
		register(t, h, "unverified@example.com")
		g := login(t, h, "unverified@example.com", pw)
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: g.AccessToken, Body: map[string]any{"provider_key": "sandbox", "alias": "x"}}).Expect(t, 403)
		if res.Problem(t).Code != "EMAIL_NOT_VERIFIED" {
			t.Errorf("problem = %s", res.Body)
		}
	})
	t.Run("401 without a token", func(t *testing.T) {
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Body: map[string]any{"provider_key": "sandbox", "alias": "x"}}).Expect(t, 401)
	})
}

func TestProviderConditionalRequests(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testProviderConditionalRequests)
}

func testProviderConditionalRequests(t *testing.T, opts apitest.Options) {
	h := apitest.New(t, opts)
	token := verifiedUser(t, h, "ann@example.com")
	p, etag := createProvider(t, h, token, "Main")
	path := "/api/v1/providers/" + p.ID
	waitForTheNextSecond() // Last-Modified is sent once the change's second is over

	res := h.Do(apitest.Request{Method: "GET", Path: path, Token: token}).Expect(t, 200)
	if res.Header.Get("ETag") != etag || res.Header.Get("Cache-Control") != "private, no-cache" || res.Header.Get("Last-Modified") == "" {
		t.Fatalf("headers = %v", res.Header)
	}
	lastModified := res.Header.Get("Last-Modified")
	h.Do(apitest.Request{Method: "GET", Path: path, Token: token, Header: map[string]string{"If-None-Match": etag}}).Expect(t, 304)
	h.Do(apitest.Request{Method: "GET", Path: path, Token: token, Header: map[string]string{"If-None-Match": `"other", ` + etag}}).Expect(t, 304)
	h.Do(apitest.Request{Method: "GET", Path: path, Token: token, Header: map[string]string{"If-None-Match": `"999"`}}).Expect(t, 200)
	h.Do(apitest.Request{Method: "GET", Path: path, Token: token, Header: map[string]string{"If-Modified-Since": lastModified}}).Expect(t, 304)
	h.Do(apitest.Request{Method: "GET", Path: path, Token: token, Header: map[string]string{"If-Modified-Since": time.Unix(0, 0).UTC().Format(http.TimeFormat)}}).Expect(t, 200)

	// A change gives a new ETag; the old one is now stale for If-Match.
	res = h.Do(apitest.Request{Method: "PATCH", Path: path, Token: token, Body: map[string]any{"alias": "Renamed"}, Header: map[string]string{"If-Match": etag}}).Expect(t, 200)
	newTag := res.Header.Get("ETag")
	if newTag == etag || newTag == "" {
		t.Fatalf("ETag did not change: %q -> %q", etag, newTag)
	}
	h.Do(apitest.Request{Method: "GET", Path: path, Token: token, Header: map[string]string{"If-None-Match": etag}}).Expect(t, 200)
	res = h.Do(apitest.Request{Method: "PUT", Path: path, Token: token, Body: map[string]any{"alias": "Stale write"}, Header: map[string]string{"If-Match": etag}}).Expect(t, 412)
	if res.Problem(t).Code != "PRECONDITION_FAILED" {
		t.Errorf("problem = %s", res.Body)
	}
	h.Do(apitest.Request{Method: "PATCH", Path: path, Token: token, Body: map[string]any{"alias": "Stale write"}, Header: map[string]string{"If-Match": "W/" + newTag}}).Expect(t, 412)
	h.Do(apitest.Request{Method: "DELETE", Path: path, Token: token, Header: map[string]string{"If-Match": etag}}).Expect(t, 412)
	var got providerJSON
	h.Do(apitest.Request{Method: "GET", Path: path, Token: token}).Expect(t, 200).JSON(t, &got)
	if got.Alias != "Renamed" {
		t.Errorf("a stale write changed the provider: %+v", got)
	}
	h.Do(apitest.Request{Method: "PUT", Path: path, Token: token, Body: map[string]any{"alias": "Put"}, Header: map[string]string{"If-Match": newTag}}).Expect(t, 200)
	h.Do(apitest.Request{Method: "PUT", Path: path, Token: token, Body: map[string]any{}}).Expect(t, 422)
	h.Do(apitest.Request{Method: "PATCH", Path: path, Token: token, Body: map[string]any{}}).Expect(t, 422)
	h.Do(apitest.Request{Method: "PATCH", Path: path, Token: token, Body: `{"alias":"Merge"}`, ContentType: "application/merge-patch+json", Header: map[string]string{"If-Match": "*"}}).Expect(t, 200)
	h.Do(apitest.Request{Method: "DELETE", Path: path, Token: token}).Expect(t, 204)
	h.Do(apitest.Request{Method: "DELETE", Path: path, Token: token}).Expect(t, 404)
	h.Do(apitest.Request{Method: "GET", Path: path, Token: token}).Expect(t, 404)
}

// User B tries every provider endpoint with every method on user A's provider:
// always 404, exactly as for a provider that does not exist, and A's provider is
// unchanged afterwards.
func TestProviderBOLAMatrix(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testProviderBOLAMatrix)
}

func testProviderBOLAMatrix(t *testing.T, opts apitest.Options) {
	h := apitest.New(t, opts)
	alice := verifiedUser(t, h, "alice@example.com")
	bob := verifiedUser(t, h, "bob@example.com")
	p, etag := createProvider(t, h, alice, "Alice's")
	path := "/api/v1/providers/" + p.ID
	missing := "/api/v1/providers/0193a1b2-0000-7000-8000-000000000000"
	body := map[string]any{"alias": "Bob was here"}
	for _, tc := range []struct {
		method string
		suffix string
		body   any
		header map[string]string
	}{
		{method: "GET"},
		{method: "GET", suffix: "?fields=id,alias"},
		{method: "GET", header: map[string]string{"If-None-Match": etag}},
		{method: "PUT", body: body},
		{method: "PUT", body: body, header: map[string]string{"If-Match": etag}},
		{method: "PATCH", body: body},
		{method: "PATCH", body: body, header: map[string]string{"If-Match": `"999"`}},
		{method: "DELETE"},
		{method: "DELETE", header: map[string]string{"If-Match": etag}},
	} {
		t.Run(fmt.Sprintf("%s%s %v", tc.method, tc.suffix, tc.header), func(t *testing.T) {
			theirs := h.Do(apitest.Request{Method: tc.method, Path: path + tc.suffix, Token: bob, Body: tc.body, Header: tc.header}).Expect(t, 404)
			none := h.Do(apitest.Request{Method: tc.method, Path: missing + tc.suffix, Token: bob, Body: tc.body, Header: tc.header}).Expect(t, 404)
			if a, b := theirs.Problem(t), none.Problem(t); a.Code != b.Code || a.Detail != b.Detail {
				t.Errorf("another user's provider is distinguishable from a missing one: %s vs %s", theirs.Body, none.Body)
			}
		})
	}
	var list struct{ Items []providerJSON }
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers", Token: bob}).Expect(t, 200).JSON(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("bob sees %d providers", len(list.Items))
	}
	res := h.Do(apitest.Request{Method: "GET", Path: path, Token: alice}).Expect(t, 200)
	var after providerJSON
	res.JSON(t, &after)
	if res.Header.Get("ETag") != etag || after.Alias != "Alice's" {
		t.Errorf("alice's provider changed: %s %+v", res.Header.Get("ETag"), after)
	}
}

// forEachDatabase runs test against the embedded SQLite default and against
// Postgres (skipped without TEST_DATABASE_URL, required under CI=true), in
// parallel, each on a service of its own.
func forEachDatabase(t *testing.T, test func(*testing.T, apitest.Options)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, apitest.Options{})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, apitest.Options{Postgres: true})
	})
}

// Two (here eight) concurrent creates with one alias: exactly one wins.
func TestConcurrentCreatesOneAlias(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, opts apitest.Options) {
		{ // one harness per database
			h := apitest.New(t, opts)
			token := verifiedUser(t, h, "ann@example.com")
			const n = 8
			statuses := make([]int, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					statuses[i] = h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token,
						Body: map[string]any{"provider_key": "sandbox", "alias": []string{"Same", "SAME"}[i%2]}}).Status
				}()
			}
			close(start)
			wg.Wait()
			var created, conflicts int
			for _, s := range statuses {
				switch s {
				case 201:
					created++
				case 409:
					conflicts++
				}
			}
			if created != 1 || conflicts != n-1 {
				t.Errorf("statuses %v: %d created, %d conflicts", statuses, created, conflicts)
			}
		}
	})
}

func TestProviderLists(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testProviderLists)
}

func testProviderLists(t *testing.T, opts apitest.Options) {
	h := apitest.New(t, opts)
	alice := verifiedUser(t, h, "alice@example.com")
	bob := verifiedUser(t, h, "bob@example.com")
	var ids []string
	for i := range 7 {
		p, _ := createProvider(t, h, alice, fmt.Sprintf("Account %d", i))
		ids = append(ids, p.ID)
	}
	createProvider(t, h, bob, "Bob's")

	t.Run("offset mode: totals, links, headers", func(t *testing.T) {
		var page struct {
			Items                []providerJSON
			Total, Page, PerPage int
			Pages                int
		}
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?per_page=3&page=2&sort=alias", Token: alice}).Expect(t, 200)
		res.JSON(t, &page)
		if page.Total != 7 || page.Pages != 3 || len(page.Items) != 3 || page.Items[0].Alias != "Account 3" {
			t.Errorf("page = %+v", page)
		}
		if res.Header.Get("X-Total-Count") != "7" || !strings.Contains(res.Header.Get("Link"), `rel="prev"`) || !strings.Contains(res.Header.Get("Link"), `rel="next"`) {
			t.Errorf("headers = %v", res.Header)
		}
	})
	t.Run("cursor mode walks every row once, in order", func(t *testing.T) {
		var seen []string
		path := "/api/v1/providers?limit=2&sort=-created_at"
		for range 10 {
			var page struct {
				Items      []providerJSON
				NextCursor *string `json:"next_cursor"`
				HasMore    bool    `json:"has_more"`
			}
			h.Do(apitest.Request{Method: "GET", Path: path, Token: alice}).Expect(t, 200).JSON(t, &page)
			for _, p := range page.Items {
				seen = append(seen, p.ID)
			}
			if !page.HasMore {
				break
			}
			path = "/api/v1/providers?limit=2&sort=-created_at&cursor=" + url.QueryEscape(*page.NextCursor)
		}
		if len(seen) != 7 {
			t.Fatalf("walked %d rows, want 7", len(seen))
		}
		for i := range seen {
			if seen[i] != ids[len(ids)-1-i] {
				t.Errorf("row %d is %s, want %s (newest first)", i, seen[i], ids[len(ids)-1-i])
			}
		}
	})
	t.Run("forged, altered and foreign cursors are 422", func(t *testing.T) {
		var page struct {
			NextCursor string `json:"next_cursor"`
		}
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?limit=2", Token: alice}).Expect(t, 200).JSON(t, &page)
		// Alter the last two characters into something they are not (a fixed
		// "AA" left one cursor in 4096 as it was).
		tail := "AA"
		if strings.HasSuffix(page.NextCursor, tail) {
			tail = "BB"
		}
		altered := page.NextCursor[:len(page.NextCursor)-2] + tail
		for name, q := range map[string]string{
			"forged":             "cursor=not-a-cursor",
			"altered":            "cursor=" + url.QueryEscape(altered),
			"other sort":         "sort=alias&cursor=" + url.QueryEscape(page.NextCursor),
			"other filter":       "search=x&cursor=" + url.QueryEscape(page.NextCursor),
			"mixed with page":    "page=2&cursor=" + url.QueryEscape(page.NextCursor),
			"limit out of range": "limit=101",
		} {
			t.Run(name, func(t *testing.T) {
				h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?" + q, Token: alice}).Expect(t, 422)
			})
		}
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?cursor=" + url.QueryEscape(page.NextCursor), Token: bob}).Expect(t, 422)
		if p := res.Problem(t); p.Errors[0].Field != "cursor" {
			t.Errorf("problem = %s", res.Body)
		}
	})
	t.Run("filters, field selection and bad parameters", func(t *testing.T) {
		var page struct{ Items []map[string]any }
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?search=ACCOUNT%203&fields=id,alias", Token: alice}).Expect(t, 200).JSON(t, &page)
		if len(page.Items) != 1 || len(page.Items[0]) != 2 || page.Items[0]["alias"] != "Account 3" {
			t.Errorf("items = %+v", page.Items)
		}
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?status=active", Token: alice}).Expect(t, 200).JSON(t, &page)
		if len(page.Items) != 0 {
			t.Errorf("status filter: %d items", len(page.Items))
		}
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?created_after=2000-01-01T00:00:00Z&provider_key=sandbox", Token: alice}).Expect(t, 200).JSON(t, &page)
		if len(page.Items) != 7 {
			t.Errorf("created_after filter: %d items", len(page.Items))
		}
		for param, q := range map[string]string{
			"sort":          "sort=colour",
			"sort ":         "sort=alias,-created_at",
			"fields":        "fields=id,secret",
			"per_page":      "per_page=101",
			"status":        "status=sleeping",
			"created_after": "created_after=yesterday",
		} {
			res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?" + q, Token: alice}).Expect(t, 422)
			if p := res.Problem(t); len(p.Errors) == 0 || p.Errors[0].Field != strings.TrimSpace(param) {
				t.Errorf("%s: problem = %s", q, res.Body)
			}
		}
		var one map[string]any
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + ids[0] + "?fields=alias", Token: alice}).Expect(t, 200).JSON(t, &one)
		if len(one) != 2 || one["id"] != ids[0] {
			t.Errorf("single GET with fields = %v", one)
		}
	})
}

// waitForTheNextSecond sleeps until the current second is over.
func waitForTheNextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
}

// Hardening item 20: If-Modified-Since never answers 304 for a change made in
// the same second as the Last-Modified the client holds. Last-Modified is sent
// only once the second of the change is over, and a date of a second not yet
// over is not honoured.
func TestIfModifiedSinceNeverAnswers304ForAChangeInTheSameSecond(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Now().UTC().Truncate(time.Second).Add(200 * time.Millisecond))
	h := apitest.New(t, apitest.Options{Clock: clock})
	token := verifiedUser(t, h, "ann@example.com")
	p, _ := createProvider(t, h, token, "Main")
	path := "/api/v1/providers/" + p.ID
	second := clock.Now().Truncate(time.Second).Format(http.TimeFormat)

	res := h.Do(apitest.Request{Method: "GET", Path: path, Token: token}).Expect(t, 200)
	if lm := res.Header.Get("Last-Modified"); lm != "" {
		t.Fatalf("Last-Modified %q sent in the second of the change", lm)
	}
	// A second change, in the same second; a client holding that second's
	// date must get the new representation.
	clock.Advance(400 * time.Millisecond)
	h.Do(apitest.Request{Method: "PATCH", Path: path, Token: token, Body: map[string]any{"alias": "Renamed"}}).Expect(t, 200)
	h.Do(apitest.Request{Method: "GET", Path: path, Token: token, Header: map[string]string{"If-Modified-Since": second}}).Expect(t, 200)

	clock.Advance(time.Second)
	res = h.Do(apitest.Request{Method: "GET", Path: path, Token: token}).Expect(t, 200)
	if lm := res.Header.Get("Last-Modified"); lm != second {
		t.Fatalf("Last-Modified %q once the second is over, want %q", lm, second)
	}
	h.Do(apitest.Request{Method: "GET", Path: path, Token: token, Header: map[string]string{"If-Modified-Since": second}}).Expect(t, 304)
}

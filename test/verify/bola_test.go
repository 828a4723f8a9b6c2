package verify

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/dashtam/dashtam/test/apitest"
)

// Broken object level authorization (OWASP API1): random sequences of operations
// by random users never let one user see, change or learn the existence of
// another user's providers, authorizations, sessions, accounts, transactions or exports. An oracle tracks who
// owns what and in which state it is. Every answer about a resource the caller
// does not own (another user's, a deleted one, a revoked session) must be
// exactly the answer for an id that never existed: same status, same problem
// (up to the request id and the id in the path), same headers. Lists never carry
// a foreign row. At the end each owner finds everything as the oracle says:
// nothing another user tried changed it.
//
// Every response is also validated against the OpenAPI document by apitest.
// The number of runs is rapid's: RAPID_CHECKS or -rapid.checks (make verify
// asks for 100). Without either, 20: under make test's race detector each run
// costs a fifth of a second.
func TestNoUserReachesAnotherUsersResources(t *testing.T) {
	if os.Getenv("RAPID_CHECKS") == "" && !flagGiven("rapid.checks") {
		if err := flag.Set("rapid.checks", "20"); err != nil {
			t.Fatal(err)
		}
	}
	t.Parallel() // only now: the flag is set before any other test runs
	base := apitest.New(t, apitest.Options{Env: unlimited})
	runs := 0
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		tb := rapidTB{TB: t, rt: rt}
		m := &oracle{h: base.For(tb), t: tb, run: runs}
		m.register(rt, true)
		m.register(rt, true)
		rt.Repeat(map[string]func(*rapid.T){
			"register":           func(rt *rapid.T) { m.register(rt, rapid.Bool().Draw(rt, "verified")) },
			"login":              m.login,
			"createProvider":     m.createProvider,
			"getProvider":        m.getProvider,
			"changeProvider":     m.changeProvider,
			"deleteProvider":     m.deleteProvider,
			"listProviders":      m.listProviders,
			"startAuthorization": m.startAuthorization,
			"getAuthorization":   m.getAuthorization,
			"touchAuthorization": m.touchForeignAuthorization,
			"listSessions":       m.listSessions,
			"getSession":         m.getSession,
			"deleteSession":      m.deleteSession,
			"logout":             m.logout,
			"storeFinance":       m.storeFinance,
			"readFinance":        m.readFinance,
			"listFinance":        m.listFinance,
			"startExport":        m.startExport,
			"readExport":         m.readExport,
		})
		m.checkEverything()
	})
}

func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// rapidTB lets apitest report to the current rapid run, so that a failure is
// that run's and rapid can shrink it. The enclosing test supplies the rest of
// testing.TB (TempDir, Cleanup).
type rapidTB struct {
	testing.TB
	rt *rapid.T
}

func (r rapidTB) Helper()                         {}
func (r rapidTB) Error(args ...any)               { r.rt.Error(args...) }
func (r rapidTB) Errorf(format string, a ...any)  { r.rt.Errorf(format, a...) }
func (r rapidTB) Fatal(args ...any)               { r.rt.Fatal(args...) }
func (r rapidTB) Fatalf(format string, a ...any)  { r.rt.Fatalf(format, a...) }
func (r rapidTB) Fail()                           { r.rt.Fail() }
func (r rapidTB) FailNow()                        { r.rt.FailNow() }
func (r rapidTB) Failed() bool                    { return r.rt.Failed() }
func (r rapidTB) Log(args ...any)                 { r.rt.Log(args...) }
func (r rapidTB) Logf(format string, args ...any) { r.rt.Logf(format, args...) }

const bolaPassword = "property passphrase"

type bolaUser struct {
	name     string
	email    string
	verified bool
}

type bolaSession struct {
	id     string
	token  string
	owner  *bolaUser
	active bool
}

type bolaProvider struct {
	id      string
	owner   *bolaUser
	alias   string
	deleted bool
	started bool
	etag    string // the owner's latest, "" when unknown
}

// GoString keeps rapid's log of a failing run readable (it prints draws with %#v).
func (u *bolaUser) GoString() string { return fmt.Sprintf("%s (verified=%v)", u.name, u.verified) }

func (s *bolaSession) GoString() string {
	return fmt.Sprintf("session %s of %s (active=%v)", s.id, s.owner.name, s.active)
}

// oracle is the model: every user, session and provider of one run.
type oracle struct {
	h         *apitest.Harness
	t         testing.TB
	run       int
	names     int
	users     []*bolaUser
	sessions  []*bolaSession
	providers []*bolaProvider
	accounts  []*bolaAccount
	exports   []*bolaExport
}

func (m *oracle) fresh(kind string) string {
	m.names++
	return fmt.Sprintf("%s %d-%d", kind, m.run, m.names)
}

func (m *oracle) register(rt *rapid.T, verified bool) {
	if len(m.users) >= 5 {
		rt.Skip("enough users")
	}
	u := &bolaUser{name: m.fresh("user")}
	u.email = strings.ReplaceAll(u.name, " ", "-") + "@bola.example"
	m.h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{
		"email": u.email, "password": bolaPassword, "name": u.name,
	}}).Expect(m.t, http.StatusCreated)
	if verified {
		token := m.h.Mail.LastToken(m.t, u.email, "Verify")
		m.h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications", Body: map[string]any{"token": token}}).Expect(m.t, http.StatusOK)
		u.verified = true
	}
	m.users = append(m.users, u)
	m.loginAs(u)
}

func (m *oracle) loginAs(u *bolaUser) *bolaSession {
	var grant struct {
		AccessToken string `json:"access_token"`
		Session     struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	m.h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{
		"email": u.email, "password": bolaPassword,
	}}).Expect(m.t, http.StatusCreated).JSON(m.t, &grant)
	s := &bolaSession{id: grant.Session.ID, token: grant.AccessToken, owner: u, active: true}
	m.sessions = append(m.sessions, s)
	return s
}

func (m *oracle) login(rt *rapid.T) { m.loginAs(m.user(rt, "user")) }

func (m *oracle) user(rt *rapid.T, label string) *bolaUser {
	return rapid.SampledFrom(m.users).Draw(rt, label)
}

// tokenOf returns one of u's working access tokens, logging in when u has none.
func (m *oracle) tokenOf(rt *rapid.T, u *bolaUser) (*bolaSession, string) {
	var active []*bolaSession
	for _, s := range m.sessions {
		if s.owner == u && s.active {
			active = append(active, s)
		}
	}
	if len(active) == 0 {
		s := m.loginAs(u)
		return s, s.token
	}
	s := rapid.SampledFrom(active).Draw(rt, "session used")
	return s, s.token
}

// providerTarget draws any provider of the run (the caller's or another user's,
// live or deleted), or nil for an id that never existed.
func (m *oracle) providerTarget(rt *rapid.T) *bolaProvider {
	i := rapid.IntRange(0, len(m.providers)).Draw(rt, "provider")
	if i == len(m.providers) {
		return nil
	}
	return m.providers[i]
}

func (p *bolaProvider) idOr(random string) string {
	if p == nil {
		return random
	}
	return p.id
}

func ownLive(p *bolaProvider, u *bolaUser) bool { return p != nil && p.owner == u && !p.deleted }

// sameAsRandom sends req (built for id) and the same request for an id that
// never existed, and fails unless the two answers are indistinguishable.
func (m *oracle) sameAsRandom(what, id string, build func(id string) apitest.Request, allowed ...int) *apitest.Response {
	got := m.h.Do(build(id))
	random := uuid.NewString()
	want := m.h.Do(build(random))
	if len(allowed) == 0 {
		allowed = []int{http.StatusNotFound}
	}
	if !slices.Contains(allowed, want.Status) {
		m.t.Fatalf("%s of an id that never existed -> %d, want one of %v: %s", what, want.Status, allowed, want.Body)
	}
	if got.Status != want.Status {
		m.t.Fatalf("%s of a resource the caller does not own -> %d, but %d for an id that never existed: %s", what, got.Status, want.Status, got.Body)
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "WWW-Authenticate", "ETag", "Last-Modified", "Location", "Allow"} {
		if got.Header.Get(h) != want.Header.Get(h) {
			m.t.Fatalf("%s: header %s is %q for another user's resource, %q for an id that never existed", what, h, got.Header.Get(h), want.Header.Get(h))
		}
	}
	if len(got.Body) == 0 && len(want.Body) == 0 {
		return got
	}
	g, w := got.Problem(m.t), want.Problem(m.t)
	g.RequestID, w.RequestID = "", ""
	gs, ws := strings.ReplaceAll(fmt.Sprintf("%+v", g), id, "{id}"), strings.ReplaceAll(fmt.Sprintf("%+v", w), random, "{id}")
	if gs != ws {
		m.t.Fatalf("%s: the problem for another user's resource differs from the one for an id that never existed:\n%s\n%s", what, gs, ws)
	}
	var gi, wi struct {
		Instance string `json:"instance"`
	}
	got.JSON(m.t, &gi)
	want.JSON(m.t, &wi)
	if strings.ReplaceAll(gi.Instance, id, "{id}") != strings.ReplaceAll(wi.Instance, random, "{id}") {
		m.t.Fatalf("%s: instance %q vs %q", what, gi.Instance, wi.Instance)
	}
	return got
}

func (m *oracle) createProvider(rt *rapid.T) {
	u := m.user(rt, "user")
	_, token := m.tokenOf(rt, u)
	alias := m.fresh("alias")
	var others, own []string
	for _, p := range m.providers {
		if p.deleted {
			continue
		}
		if p.owner == u {
			own = append(own, p.alias)
		} else {
			others = append(others, p.alias)
		}
	}
	switch rapid.IntRange(0, 2).Draw(rt, "alias kind") {
	case 1: // another user's alias: aliases are unique per user only
		if len(others) > 0 {
			alias = rapid.SampledFrom(others).Draw(rt, "foreign alias")
		}
	case 2: // one of the caller's own, in other case
		if len(own) > 0 {
			alias = strings.ToUpper(rapid.SampledFrom(own).Draw(rt, "own alias"))
		}
	}
	res := m.h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "sandbox", "alias": alias}})
	switch {
	case !u.verified:
		res.Expect(m.t, http.StatusForbidden)
	case slices.ContainsFunc(own, func(a string) bool { return strings.EqualFold(a, alias) }):
		res.Expect(m.t, http.StatusConflict)
	default:
		res.Expect(m.t, http.StatusCreated)
		var p struct {
			ID string `json:"id"`
		}
		res.JSON(m.t, &p)
		m.providers = append(m.providers, &bolaProvider{id: p.ID, owner: u, alias: alias, etag: res.Header.Get("ETag")})
	}
}

func (m *oracle) getProvider(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	p := m.providerTarget(rt)
	build := func(id string) apitest.Request {
		return apitest.Request{Method: "GET", Path: "/api/v1/providers/" + id, Token: token}
	}
	if !ownLive(p, u) {
		m.sameAsRandom("GET provider", p.idOr(uuid.NewString()), build)
		return
	}
	res := m.h.Do(build(p.id)).Expect(m.t, http.StatusOK)
	var got struct {
		Alias string `json:"alias"`
	}
	res.JSON(m.t, &got)
	if got.Alias != p.alias {
		m.t.Fatalf("alias %q, the oracle says %q", got.Alias, p.alias)
	}
	p.etag = res.Header.Get("ETag")
}

func (m *oracle) changeProvider(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	p := m.providerTarget(rt)
	method := rapid.SampledFrom([]string{"PATCH", "PUT"}).Draw(rt, "method")
	alias := m.fresh("renamed")
	// The If-Match of a foreign provider is its real ETag: a 412 instead of a 404
	// would tell the caller the provider exists.
	ifMatch := ""
	if p != nil && p.etag != "" && rapid.Bool().Draw(rt, "with If-Match") {
		ifMatch = p.etag
	}
	build := func(id string) apitest.Request {
		r := apitest.Request{Method: method, Path: "/api/v1/providers/" + id, Token: token, Body: map[string]any{"alias": alias}}
		if ifMatch != "" {
			r.Header = map[string]string{"If-Match": ifMatch}
		}
		return r
	}
	if !ownLive(p, u) {
		m.sameAsRandom(method+" provider", p.idOr(uuid.NewString()), build)
		return
	}
	// The oracle's ETag is always current (starting an authorization, which
	// changes the status, forgets it), so the change must go through.
	res := m.h.Do(build(p.id)).Expect(m.t, http.StatusOK)
	p.alias, p.etag = alias, res.Header.Get("ETag")
}

func (m *oracle) deleteProvider(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	p := m.providerTarget(rt)
	build := func(id string) apitest.Request {
		return apitest.Request{Method: "DELETE", Path: "/api/v1/providers/" + id, Token: token}
	}
	if !ownLive(p, u) {
		m.sameAsRandom("DELETE provider", p.idOr(uuid.NewString()), build)
		return
	}
	m.h.Do(build(p.id)).Expect(m.t, http.StatusNoContent)
	p.deleted = true
}

func (m *oracle) listProviders(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	q := url.Values{}
	search := ""
	if len(m.providers) > 0 && rapid.Bool().Draw(rt, "search") {
		// Often another user's alias: it must find nothing of theirs.
		search = rapid.SampledFrom(m.providers).Draw(rt, "alias searched").alias
		q.Set("search", search)
	}
	cursorMode := rapid.Bool().Draw(rt, "cursor mode")
	size := rapid.IntRange(1, 4).Draw(rt, "page size")
	var want []string
	for _, p := range m.providers {
		if ownLive(p, u) && strings.Contains(strings.ToLower(p.alias), strings.ToLower(search)) {
			want = append(want, p.id)
		}
	}
	var got []string
	for page := 1; page <= 50; page++ {
		if cursorMode {
			q.Set("limit", strconv.Itoa(size))
		} else {
			q.Set("page", strconv.Itoa(page))
			q.Set("per_page", strconv.Itoa(size))
		}
		var body struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			Total      *int64  `json:"total"`
			HasMore    *bool   `json:"has_more"`
			NextCursor *string `json:"next_cursor"`
		}
		m.h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?" + q.Encode(), Token: token}).Expect(m.t, http.StatusOK).JSON(m.t, &body)
		for _, it := range body.Items {
			got = append(got, it.ID)
		}
		if cursorMode {
			if body.HasMore == nil || !*body.HasMore {
				break
			}
			q.Set("cursor", *body.NextCursor)
			continue
		}
		if body.Total == nil || *body.Total != int64(len(want)) {
			m.t.Fatalf("total %v, the oracle counts %d of the caller's providers", body.Total, len(want))
		}
		if len(body.Items) < size {
			break
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		m.t.Fatalf("%s listed %v (search %q), the oracle says %v", u.name, got, search, want)
	}
}

func (m *oracle) startAuthorization(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	p := m.providerTarget(rt)
	build := func(id string) apitest.Request {
		return apitest.Request{Method: "POST", Path: "/api/v1/providers/" + id + "/authorization", Token: token}
	}
	if !ownLive(p, u) {
		// An unverified caller may be refused before the lookup (403), as long
		// as the refusal is the same for every id.
		allowed := []int{http.StatusNotFound}
		if !u.verified {
			allowed = append(allowed, http.StatusForbidden)
		}
		m.sameAsRandom("start authorization", p.idOr(uuid.NewString()), build, allowed...)
		return
	}
	m.h.Do(build(p.id)).Expect(m.t, http.StatusCreated)
	p.started, p.etag = true, ""
}

func (m *oracle) getAuthorization(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	p := m.providerTarget(rt)
	build := func(id string) apitest.Request {
		return apitest.Request{Method: "GET", Path: "/api/v1/providers/" + id + "/authorization", Token: token}
	}
	switch {
	case !ownLive(p, u):
		m.sameAsRandom("GET authorization", p.idOr(uuid.NewString()), build)
	case p.started:
		var a struct {
			Status string `json:"status"`
		}
		m.h.Do(build(p.id)).Expect(m.t, http.StatusOK).JSON(m.t, &a)
		if a.Status != "pending" {
			m.t.Fatalf("authorization status %q, the oracle says pending", a.Status)
		}
	default:
		m.h.Do(build(p.id)).Expect(m.t, http.StatusNotFound)
	}
}

// touchForeignAuthorization refreshes, revokes or completes (a relayed
// redirect code or a link public token) the authorization of a provider that
// is not the caller's.
func (m *oracle) touchForeignAuthorization(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	p := m.providerTarget(rt)
	if ownLive(p, u) {
		rt.Skip("only foreign authorizations are touched")
	}
	kind := rapid.IntRange(0, 3).Draw(rt, "operation")
	build := func(id string) apitest.Request {
		path := "/api/v1/providers/" + id + "/authorization"
		switch kind {
		case 0:
			return apitest.Request{Method: "PATCH", Path: path, Token: token}
		case 1:
			return apitest.Request{Method: "DELETE", Path: path, Token: token}
		case 2:
			return apitest.Request{Method: "POST", Path: path + "/callback", Token: token, Body: map[string]any{"state": "guessed", "code": "C0.guessed@"}}
		}
		return apitest.Request{Method: "POST", Path: path + "/callback", Token: token, Body: map[string]any{"state": "guessed", "public_token": "public-sandbox-x"}}
	}
	m.sameAsRandom("authorization write", p.idOr(uuid.NewString()), build)
}

func (m *oracle) listSessions(rt *rapid.T) {
	u := m.user(rt, "caller")
	used, token := m.tokenOf(rt, u)
	var want []string
	for _, s := range m.sessions {
		if s.owner == u && s.active {
			want = append(want, s.id)
		}
	}
	var page struct {
		Items []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"items"`
		Total int64 `json:"total"`
	}
	m.h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions?per_page=100", Token: token}).Expect(m.t, http.StatusOK).JSON(m.t, &page)
	var got []string
	for _, it := range page.Items {
		got = append(got, it.ID)
		if it.Current != (it.ID == used.id) {
			m.t.Fatalf("session %s current=%v; the request used %s", it.ID, it.Current, used.id)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || page.Total != int64(len(want)) {
		m.t.Fatalf("%s's sessions %v (total %d), the oracle says %v", u.name, got, page.Total, want)
	}
}

func (m *oracle) sessionTarget(rt *rapid.T) *bolaSession {
	i := rapid.IntRange(0, len(m.sessions)).Draw(rt, "session")
	if i == len(m.sessions) {
		return nil
	}
	return m.sessions[i]
}

func (m *oracle) getSession(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	s := m.sessionTarget(rt)
	build := func(id string) apitest.Request {
		return apitest.Request{Method: "GET", Path: "/api/v1/sessions/" + id, Token: token}
	}
	if s == nil || s.owner != u || !s.active {
		m.sameAsRandom("GET session", sessionIDOr(s), build)
		return
	}
	m.h.Do(build(s.id)).Expect(m.t, http.StatusOK)
}

func (m *oracle) deleteSession(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	s := m.sessionTarget(rt)
	build := func(id string) apitest.Request {
		return apitest.Request{Method: "DELETE", Path: "/api/v1/sessions/" + id, Token: token}
	}
	if s == nil || s.owner != u || !s.active {
		m.sameAsRandom("DELETE session", sessionIDOr(s), build)
		if s != nil && s.active {
			// The other user's session still works.
			m.h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: s.token}).Expect(m.t, http.StatusOK)
		}
		return
	}
	m.h.Do(build(s.id)).Expect(m.t, http.StatusNoContent)
	s.active = false
}

func sessionIDOr(s *bolaSession) string {
	if s == nil {
		return uuid.NewString()
	}
	return s.id
}

func (m *oracle) logout(rt *rapid.T) {
	u := m.user(rt, "caller")
	s, token := m.tokenOf(rt, u)
	m.h.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/sessions/current", Token: token}).Expect(m.t, http.StatusNoContent)
	s.active = false
	m.h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: token}).Expect(m.t, http.StatusUnauthorized)
}

// checkEverything compares each user's view with the oracle: their providers
// (alias, connection status, nothing deleted behind their back, nothing
// foreign) and their sessions (each still working).
func (m *oracle) checkEverything() {
	for _, u := range m.users {
		var token string
		for _, s := range m.sessions {
			if s.owner == u && s.active {
				m.h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: s.token}).Expect(m.t, http.StatusOK)
				token = s.token
			}
		}
		if token == "" {
			token = m.loginAs(u).token
		}
		var list struct {
			Items []struct {
				ID               string `json:"id"`
				Alias            string `json:"alias"`
				ConnectionStatus string `json:"connection_status"`
			} `json:"items"`
		}
		m.h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers?per_page=100", Token: token}).Expect(m.t, http.StatusOK).JSON(m.t, &list)
		got := map[string]string{}
		for _, it := range list.Items {
			got[it.ID] = it.Alias + "/" + it.ConnectionStatus
		}
		want := map[string]string{}
		for _, p := range m.providers {
			if ownLive(p, u) {
				status := "not_connected"
				if p.started {
					status = "pending"
				}
				want[p.id] = p.alias + "/" + status
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			m.t.Fatalf("%s finds %v, the oracle says %v", u.name, got, want)
		}
	}
}

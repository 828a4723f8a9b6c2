package verify

import (
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/dashtam/dashtam/test/apitest"
)

// Exports in the BOLA property: any user asks for exports of their data; a
// read of another user's export, or of its download, must answer exactly as
// for an id that never existed, and one's own reads back as one's own.

// bolaExport is an export the run asked for.
type bolaExport struct {
	id    string
	owner *bolaUser
}

func (e *bolaExport) GoString() string { return fmt.Sprintf("export %s of %s", e.id, e.owner.name) }

// startExport asks for an export of a user's data: 202, or 409 while one of
// theirs is still in flight (the harness's job engine may not have run it).
func (m *oracle) startExport(rt *rapid.T) {
	u := m.user(rt, "user")
	_, token := m.tokenOf(rt, u)
	res := m.h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users/me/exports", Token: token})
	if res.Status == http.StatusConflict {
		if p := res.Problem(m.t); p.Code != "EXPORT_IN_PROGRESS" {
			m.t.Fatalf("POST /users/me/exports: 409 %s, want EXPORT_IN_PROGRESS", p.Code)
		}
		return
	}
	res.Expect(m.t, http.StatusAccepted)
	var e struct {
		ID string `json:"id"`
	}
	res.JSON(m.t, &e)
	if res.Header.Get("Location") != "/api/v1/users/me/exports/"+e.ID {
		m.t.Fatalf("POST /users/me/exports: Location %q for export %s", res.Header.Get("Location"), e.ID)
	}
	m.exports = append(m.exports, &bolaExport{id: e.ID, owner: u})
}

// readExport reads an export, or its download, by id.
func (m *oracle) readExport(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	var e *bolaExport
	if i := rapid.IntRange(0, len(m.exports)).Draw(rt, "export"); i < len(m.exports) {
		e = m.exports[i]
	}
	id := uuid.NewString()
	if e != nil {
		id = e.id
	}
	suffix := rapid.SampledFrom([]string{"", "/download"}).Draw(rt, "what")
	build := func(id string) apitest.Request {
		return apitest.Request{Method: "GET", Path: "/api/v1/users/me/exports/" + id + suffix, Token: token}
	}
	if e == nil || e.owner != u {
		m.sameAsRandom("GET export"+suffix, id, build)
		return
	}
	if suffix != "" {
		return // one's own download is once: the API test covers it
	}
	var got struct {
		ID string `json:"id"`
	}
	m.h.Do(build(id)).Expect(m.t, http.StatusOK).JSON(m.t, &got)
	if got.ID != e.id {
		m.t.Fatalf("GET export %s answered export %s", e.id, got.ID)
	}
}

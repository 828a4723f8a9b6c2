package providers_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/domain/provider"
)

type auditLine struct {
	action  audit.Action
	actor   uuid.UUID
	outcome audit.Outcome
	reason  string
}

func (h *harness) auditLines(subject audit.Subject) []auditLine {
	var out []auditLine
	for _, e := range h.audit.All() {
		if e.Subject != subject {
			continue
		}
		if e.RequestID != "req-p" {
			h.t.Fatalf("entry %s has request id %q, want the context's", e.Action, e.RequestID)
		}
		out = append(out, auditLine{e.Action, e.Actor, e.Outcome, e.Reason})
	}
	return out
}

// A provider's life, created, granted, refreshed (once by its user, once
// refused by the institution in the background), revoked and deleted, is
// audited step by step with who acted; no token is in any entry.
func TestAProvidersLifeIsAudited(t *testing.T) {
	h := newHarness(t)
	h.ctx = audit.WithRequest(h.ctx, audit.Request{ID: "req-p", ClientIP: "192.0.2.3"})
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "Main")
	h.clock.Advance(2 * refreshPoll)
	if _, err := h.conns.RefreshNow(h.ctx, user, p.ID()); err != nil {
		t.Fatal(err)
	}
	h.bank.onRefresh(call[provider.Credentials]{err: errInstitutionDown})
	h.clock.Advance(tokenLifetime)
	if _, failed, err := h.conns.RefreshDue(h.ctx); err != nil || failed != 1 {
		t.Fatalf("RefreshDue: failed %d, %v", failed, err)
	}
	if err := h.conns.Revoke(h.ctx, user, p.ID()); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Delete(h.ctx, user, p.ID(), nil); err != nil {
		t.Fatal(err)
	}
	got := h.auditLines(audit.Of(audit.SubjectProvider, p.ID()))
	want := []auditLine{
		{audit.ActionProviderCreate, user, audit.Success, ""},
		{audit.ActionAuthorizationGrant, user, audit.Success, ""},
		{audit.ActionAuthorizationRefresh, user, audit.Success, ""},
		{audit.ActionAuthorizationRefresh, uuid.Nil, audit.Failure, "provider_unavailable"},
		{audit.ActionAuthorizationRevoke, user, audit.Success, ""},
		{audit.ActionProviderDelete, user, audit.Success, ""},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit lines\n got %v\nwant %v", got, want)
	}
	for _, e := range h.audit.All() {
		if strings.Contains(e.Subject.ID+e.Reason, "consent") || strings.Contains(e.Subject.ID+e.Reason, "token") {
			t.Fatalf("entry holds a grant or token: %+v", e)
		}
	}
}

func TestARefusedGrantIsAuditedAsAFailure(t *testing.T) {
	h := newHarness(t)
	h.ctx = audit.WithRequest(h.ctx, audit.Request{ID: "req-p"})
	user := h.verifiedUser()
	p := h.create(user, bankKey, "Main")
	h.begin(user, p)
	if _, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), "not-the-state", "consent"); err == nil {
		t.Fatal("a wrong state was accepted")
	}
	got := h.auditLines(audit.Of(audit.SubjectProvider, p.ID()))
	if len(got) != 2 || got[1].action != audit.ActionAuthorizationGrant || got[1].outcome != audit.Failure || got[1].actor != user {
		t.Fatalf("audit lines %v, want a failed grant after the creation", got)
	}
}

package providers_test

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/provider"
)

// --- The catalog ---

func TestTypesListsTheCatalogByKey(t *testing.T) {
	h := newHarness(t)
	types := h.svc.Types()
	if len(types) != 2 || types[0].Key != bankKey || types[1].Key != linkKey {
		t.Fatalf("Types() = %+v, want %s then %s", types, bankKey, linkKey)
	}
	if types[0].Flow != providersapp.FlowRedirect || !types[0].CanRefresh || types[1].Flow != providersapp.FlowLinkToken || types[1].CanRefresh {
		t.Errorf("Types() = %+v: want each connector's own description", types)
	}
}

func TestTypeReturnsOneEntryAndNotFoundForAnUnknownKey(t *testing.T) {
	h := newHarness(t)
	got, err := h.svc.Type(linkKey)
	if err != nil || !reflect.DeepEqual(got, h.linked.Type()) {
		t.Fatalf("Type(%s) = %+v, %v; want the connector's type", linkKey, got, err)
	}
	for _, key := range []string{"", "nope", "BANK"} {
		_, err := h.svc.Type(key)
		mustBe(t, fmt.Sprintf("Type(%q)", key), err, domain.ErrNotFound)
	}
}

// --- Create ---

func TestCreateAddsANotConnectedProvider(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	h.clock.Advance(time.Hour)
	p := h.create(user, bankKey, "  My Bank ")
	stored := h.provider(p.ID())
	if stored.UserID() != user || stored.Key() != bankKey || stored.Alias() != "My Bank" {
		t.Errorf("stored provider of %s, key %q, alias %q; want the caller's, %q, %q", stored.UserID(), stored.Key(), stored.Alias(), bankKey, "My Bank")
	}
	if stored.Status() != provider.StatusNotConnected || stored.Version() != 1 || !stored.CreatedAt().Equal(start.Add(time.Hour)) {
		t.Errorf("status %v, version %d, created %v; want not_connected, 1, %v", stored.Status(), stored.Version(), stored.CreatedAt(), start.Add(time.Hour))
	}
	if stored.Snapshot() != p.Snapshot() {
		t.Errorf("Create returned %+v but stored %+v", p.Snapshot(), stored.Snapshot())
	}
}

func TestCreateRefusesAUserWhoseEmailIsNotVerified(t *testing.T) {
	h := newHarness(t)
	user := h.unverifiedUser()
	_, err := h.svc.Create(h.ctx, user, bankKey, "My Bank")
	mustBe(t, "Create", err, identity.ErrEmailNotVerified)
	mustBe(t, "Create", err, domain.ErrForbidden)
	if page := h.list(user, providersapp.ListQuery{Limit: 10}, false); page.Total != 0 {
		t.Errorf("an unverified user's Create stored %d providers", page.Total)
	}
}

func TestCreateReportsAnUnknownKeyAndABadAliasTogether(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	_, err := h.svc.Create(h.ctx, user, "nope", "  ")
	got := fieldCodes(t, err)
	want := map[string]string{"provider_key": "unknown", "alias": "required"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields = %v, want %v", got, want)
	}
	_, err = h.svc.Create(h.ctx, user, "nope", "Fine")
	if got := fieldCodes(t, err); !reflect.DeepEqual(got, map[string]string{"provider_key": "unknown"}) {
		t.Errorf("unknown key alone: fields = %v", got)
	}
	if page := h.list(user, providersapp.ListQuery{Limit: 10}, false); page.Total != 0 {
		t.Errorf("invalid creates stored %d providers", page.Total)
	}
}

func TestCreateRefusesAnAliasTheUserAlreadyHasInAnyCase(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedUser(), h.verifiedUser()
	first := h.create(alice, bankKey, "My Bank")
	_, err := h.svc.Create(h.ctx, alice, linkKey, "MY BANK")
	mustBe(t, "Create with a taken alias", err, provider.ErrAliasTaken)
	mustBe(t, "Create with a taken alias", err, domain.ErrConflict)
	if page := h.list(alice, providersapp.ListQuery{Limit: 10}, false); page.Total != 1 || page.Items[0].ID() != first.ID() {
		t.Errorf("alice has %d providers, want only the first", page.Total)
	}
	// Aliases are unique per user, not across users.
	h.create(bob, bankKey, "My Bank")
}

// --- Get ---

func TestGetReturnsOnlyTheCallersProvider(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedUser(), h.verifiedUser()
	p := h.create(alice, bankKey, "My Bank")
	got, err := h.svc.Get(h.ctx, alice, p.ID())
	if err != nil || got.Snapshot() != p.Snapshot() {
		t.Fatalf("Get by the owner = %v, %v", got, err)
	}
	_, foreignErr := h.svc.Get(h.ctx, bob, p.ID())
	mustBe(t, "Get of another user's provider", foreignErr, domain.ErrNotFound)
	_, missingErr := h.svc.Get(h.ctx, alice, uuid.New())
	mustBe(t, "Get of a missing provider", missingErr, domain.ErrNotFound)
	if strings.Contains(foreignErr.Error(), alice.String()) {
		t.Errorf("the not-found error names the owner: %v", foreignErr)
	}
}

// --- List ---

func (h *harness) list(user uuid.UUID, q providersapp.ListQuery, cursor bool) providersapp.Page {
	h.t.Helper()
	q.UserID = user
	page, err := h.svc.List(h.ctx, q, cursor)
	if err != nil {
		h.t.Fatalf("List: %v", err)
	}
	return page
}

// fiveProviders creates five providers for user a second apart, and one for
// someone else, and returns user's newest first.
func (h *harness) fiveProviders(user uuid.UUID) []uuid.UUID {
	h.t.Helper()
	var ids []uuid.UUID
	for i := range 5 {
		h.clock.Advance(time.Second)
		ids = append([]uuid.UUID{h.create(user, bankKey, fmt.Sprintf("Bank %d", i)).ID()}, ids...)
	}
	h.create(h.verifiedUser(), bankKey, "Someone else's")
	return ids
}

func ids(items []*provider.Provider) []uuid.UUID {
	out := make([]uuid.UUID, len(items))
	for i, p := range items {
		out[i] = p.ID()
	}
	return out
}

func TestListInCursorModeWalksEveryPageOnceNewestFirst(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	want := h.fiveProviders(user)

	var got []uuid.UUID
	q := providersapp.ListQuery{Limit: 2}
	for pages := 1; ; pages++ {
		page := h.list(user, q, true)
		got = append(got, ids(page.Items)...)
		if page.Total != 0 {
			t.Errorf("page %d: Total %d in cursor mode, want it not computed", pages, page.Total)
		}
		if !page.HasMore {
			if pages != 3 || len(page.Items) != 1 {
				t.Errorf("the walk ended on page %d with %d items, want page 3 with 1", pages, len(page.Items))
			}
			break
		}
		if len(page.Items) != 2 || page.Next != providersapp.PositionOf(page.Items[1]) {
			t.Fatalf("page %d: %d items, next %+v; want 2 items and the position of the last", pages, len(page.Items), page.Next)
		}
		if pages > 3 {
			t.Fatal("the walk does not end")
		}
		q.After = &page.Next
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the walk gave %v, want %v", got, want)
	}
}

func TestListInCursorModeHasNoMoreWhenThePageIsExactlyFull(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	want := h.fiveProviders(user)
	page := h.list(user, providersapp.ListQuery{Limit: 5}, true)
	if page.HasMore || !reflect.DeepEqual(ids(page.Items), want) {
		t.Errorf("HasMore %v with %v, want every provider and no more", page.HasMore, ids(page.Items))
	}
}

func TestListInOffsetModeCountsTheTotalAndIgnoresACursor(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	want := h.fiveProviders(user)
	after := providersapp.Position{CreatedAt: start.Add(time.Hour)} // would skip everything
	page := h.list(user, providersapp.ListQuery{Offset: 2, Limit: 2, After: &after}, false)
	if page.Total != 5 || page.HasMore || !reflect.DeepEqual(ids(page.Items), want[2:4]) {
		t.Errorf("total %d, has more %v, items %v; want 5, false, %v", page.Total, page.HasMore, ids(page.Items), want[2:4])
	}
}

func TestListSortsAsAsked(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	want := h.fiveProviders(user)
	page := h.list(user, providersapp.ListQuery{Limit: 10, Sort: []providersapp.SortField{{Key: providersapp.SortAlias}}}, false)
	// Aliases "Bank 0".."Bank 4" were created oldest first.
	wantAsc := []uuid.UUID{want[4], want[3], want[2], want[1], want[0]}
	if !reflect.DeepEqual(ids(page.Items), wantAsc) {
		t.Errorf("by alias: %v, want %v", ids(page.Items), wantAsc)
	}
}

func TestListRefusesAPageSizeOutOfRange(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	for _, limit := range []int{-1, 0, providersapp.MaxPerPage + 1} {
		for _, cursor := range []bool{false, true} {
			_, err := h.svc.List(h.ctx, providersapp.ListQuery{UserID: user, Limit: limit}, cursor)
			if got := fieldCodes(t, err); !reflect.DeepEqual(got, map[string]string{"limit": "out_of_range"}) {
				t.Errorf("limit %d (cursor %v): fields %v, want limit out_of_range", limit, cursor, got)
			}
		}
	}
	for _, limit := range []int{1, providersapp.MaxPerPage} {
		h.list(user, providersapp.ListQuery{Limit: limit}, true)
		h.list(user, providersapp.ListQuery{Limit: limit}, false)
	}
}

// --- Update ---

func alias(s string) providersapp.UpdateInput { return providersapp.UpdateInput{Alias: &s} }

func TestUpdateRenamesTheProvider(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "Old")
	h.clock.Advance(time.Minute)
	got, err := h.svc.Update(h.ctx, user, p.ID(), alias(" New "), providersapp.Precondition{1})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	stored := h.provider(p.ID())
	if stored.Alias() != "New" || stored.Version() != 2 || !stored.UpdatedAt().Equal(h.clock.Now()) {
		t.Errorf("stored alias %q, version %d, updated %v; want New, 2, %v", stored.Alias(), stored.Version(), stored.UpdatedAt(), h.clock.Now())
	}
	if got.Snapshot() != stored.Snapshot() {
		t.Errorf("Update returned %+v, stored %+v", got.Snapshot(), stored.Snapshot())
	}
}

func TestUpdateWithNothingToChangeKeepsTheVersion(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "Same")
	for _, in := range []providersapp.UpdateInput{{}, alias("Same")} {
		if _, err := h.svc.Update(h.ctx, user, p.ID(), in, nil); err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	if got := h.provider(p.ID()); got.Version() != 1 {
		t.Errorf("version %d after no-op updates, want 1", got.Version())
	}
}

func TestUpdateWithAStalePreconditionChangesNothing(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "Old")
	if _, err := h.svc.Update(h.ctx, user, p.ID(), alias("Second"), nil); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Update(h.ctx, user, p.ID(), alias("Third"), providersapp.Precondition{1})
	mustBe(t, "Update at version 1", err, domain.ErrPreconditionFailed)
	if got := h.provider(p.ID()); got.Alias() != "Second" || got.Version() != 2 {
		t.Errorf("after a failed precondition: %q at version %d, want Second at 2", got.Alias(), got.Version())
	}
	// Any of several acceptable versions will do.
	if _, err := h.svc.Update(h.ctx, user, p.ID(), alias("Third"), providersapp.Precondition{1, 2}); err != nil {
		t.Errorf("Update accepting versions 1 and 2: %v", err)
	}
}

func TestUpdateOfAnotherUsersProviderIsNotFound(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedUser(), h.verifiedUser()
	p := h.create(alice, bankKey, "Alice's")
	// Not found comes before the precondition, so it reveals nothing.
	for _, pre := range []providersapp.Precondition{nil, {99}} {
		_, err := h.svc.Update(h.ctx, bob, p.ID(), alias("Bob's now"), pre)
		mustBe(t, "Update by another user", err, domain.ErrNotFound)
	}
	if got := h.provider(p.ID()); got.Alias() != "Alice's" || got.Version() != 1 {
		t.Errorf("another user's update changed the provider to %q at version %d", got.Alias(), got.Version())
	}
}

func TestUpdateOntoATakenAliasIsRefused(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	h.create(user, bankKey, "Taken")
	p := h.create(user, bankKey, "Mine")
	_, err := h.svc.Update(h.ctx, user, p.ID(), alias("taken"), nil)
	mustBe(t, "Update onto a taken alias", err, provider.ErrAliasTaken)
	if got := h.provider(p.ID()); got.Alias() != "Mine" {
		t.Errorf("alias %q after a refused rename", got.Alias())
	}
}

func TestUpdateRefusesAnInvalidAlias(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "Mine")
	_, err := h.svc.Update(h.ctx, user, p.ID(), alias(strings.Repeat("x", provider.MaxAliasLength+1)), nil)
	if got := fieldCodes(t, err); got["alias"] != "too_long" {
		t.Errorf("fields %v, want alias too_long", got)
	}
}

// --- Delete ---

// gone fails unless neither the provider nor its authorization is stored.
func (h *harness) gone(id uuid.UUID) {
	h.t.Helper()
	if _, err := h.providers.ProviderByID(h.ctx, id); !errors.Is(err, domain.ErrNotFound) {
		h.t.Errorf("provider after Delete: %v, want ErrNotFound", err)
	}
	if _, err := h.auths.AuthorizationStore.AuthorizationByProvider(h.ctx, id); !errors.Is(err, domain.ErrNotFound) {
		h.t.Errorf("authorization after Delete: %v, want ErrNotFound", err)
	}
}

func TestDeleteRevokesTheGrantAtTheInstitutionThenDeletes(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	creds := h.authorization(p.ID()).Credentials()
	if err := h.svc.Delete(h.ctx, user, p.ID(), providersapp.Precondition{p.Version()}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := h.bank.revokes(); len(got) != 1 || !reflect.DeepEqual(got[0], creds) {
		t.Errorf("institution revokes %+v, want one with the stored credentials %+v", got, creds)
	}
	h.gone(p.ID())
	mustBe(t, "a second Delete", h.svc.Delete(h.ctx, user, p.ID(), nil), domain.ErrNotFound)
	if n := len(h.bank.revokes()); n != 1 {
		t.Errorf("the second Delete revoked again (%d revokes)", n)
	}
}

func TestDeleteWithoutCredentialsCallsNoInstitution(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setUp func(h *harness, user uuid.UUID, p *provider.Provider)
	}{
		{"never authorized", func(*harness, uuid.UUID, *provider.Provider) {}},
		{"an attempt in flight", func(h *harness, user uuid.UUID, p *provider.Provider) { h.begin(user, p) }},
		{"revoked", func(h *harness, user uuid.UUID, p *provider.Provider) {
			h.complete(user, p, h.begin(user, p), "code")
			if err := h.conns.Revoke(h.ctx, user, p.ID()); err != nil {
				h.t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			user := h.verifiedUser()
			p := h.create(user, bankKey, "My Bank")
			tc.setUp(h, user, p)
			revokesBefore := len(h.bank.revokes())
			if err := h.svc.Delete(h.ctx, user, p.ID(), nil); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if n := len(h.bank.revokes()); n != revokesBefore {
				t.Errorf("Delete called the institution's revoke %d times, want none", n-revokesBefore)
			}
			h.gone(p.ID())
		})
	}
}

// Hardening item 3: deleting always succeeds here. With the institution down,
// or its provider type no longer configured, the provider is deleted at once
// and a job revokes its credentials at the institution when it can.
func TestLocalDeletionAlwaysSucceedsAndAJobRevokesAtTheInstitutionLater(t *testing.T) {
	t.Run("institution down", func(t *testing.T) {
		h := newHarness(t)
		user := h.verifiedUser()
		p := h.authorized(user, bankKey, "My Bank")
		granted := h.authorization(p.ID()).Credentials()
		h.bank.onRevoke(call[struct{}]{err: errInstitutionDown})
		if err := h.svc.Delete(h.ctx, user, p.ID(), providersapp.Precondition{p.Version()}); err != nil {
			t.Fatalf("Delete with the institution down: %v, want it done here", err)
		}
		if _, err := h.providers.ProviderByID(h.ctx, p.ID()); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("provider after Delete: %v, want deleted", err)
		}
		if err := h.conns.RevokeSetAside(h.ctx, h.revokeJob()); err != nil {
			t.Fatalf("the job: %v", err)
		}
		if got := h.bank.revokes(); len(got) != 2 || !reflect.DeepEqual(got[1], granted) {
			t.Errorf("institution revokes %+v, want the grant's credentials revoked by the job", got)
		}
	})
	t.Run("provider type no longer configured", func(t *testing.T) {
		h := newHarness(t)
		user := h.verifiedUser()
		p := h.authorized(user, bankKey, "My Bank")
		onlyLinked, err := providersapp.NewRegistry(h.linked)
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewTextHandler(h.logs, nil))
		svc := providersapp.NewService(h.providers, h.auths, h.users, onlyLinked, h.clock, log)
		if err := svc.Delete(h.ctx, user, p.ID(), nil); err != nil {
			t.Fatalf("Delete of an unconfigured type: %v, want it done here", err)
		}
		if _, err := h.providers.ProviderByID(h.ctx, p.ID()); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("provider after Delete: %v, want deleted", err)
		}
		job := h.revokeJob()
		conns := providersapp.NewConnections(h.providers, h.auths, h.users, onlyLinked, h.clock, providersapp.ConnectionsConfig{}, log)
		mustBe(t, "the job while the type is not configured", conns.RevokeSetAside(h.ctx, job), domain.ErrProviderUnavailable)
		if err := h.conns.RevokeSetAside(h.ctx, job); err != nil { // configured again
			t.Fatalf("the job once the type is configured: %v", err)
		}
		if n := len(h.bank.revokes()); n != 1 {
			t.Errorf("institution revokes: %d, want the job's one", n)
		}
	})
}

func TestDeleteWithAStalePreconditionRevokesAndDeletesNothing(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	err := h.svc.Delete(h.ctx, user, p.ID(), providersapp.Precondition{p.Version() - 1})
	mustBe(t, "Delete", err, domain.ErrPreconditionFailed)
	if n := len(h.bank.revokes()); n != 0 {
		t.Errorf("a failed precondition revoked the grant %d times", n)
	}
	if a := h.authorization(p.ID()); !a.IsAuthorized() {
		t.Error("a failed precondition dropped the grant")
	}
}

func TestDeleteOfAnotherUsersProviderIsNotFoundAndRevokesNothing(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedUser(), h.verifiedUser()
	p := h.authorized(alice, bankKey, "Alice's")
	mustBe(t, "Delete by another user", h.svc.Delete(h.ctx, bob, p.ID(), nil), domain.ErrNotFound)
	if n := len(h.bank.revokes()); n != 0 {
		t.Errorf("another user's Delete revoked the grant %d times", n)
	}
	if a := h.authorization(p.ID()); !a.IsAuthorized() || h.provider(p.ID()).Status() != provider.StatusActive {
		t.Error("another user's Delete changed the provider")
	}
}

// Credentials that cannot be decrypted cannot be revoked at the institution, but
// they must not keep the user from deleting the provider and its tokens.
func TestDeleteOfAProviderWhoseAuthorizationCannotBeReadStillDeletesIt(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	h.auths.failReads(errors.New("cipher: message authentication failed"))
	if err := h.svc.Delete(h.ctx, user, p.ID(), nil); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if n := len(h.bank.revokes()); n != 0 {
		t.Errorf("revoked %d times with unreadable credentials", n)
	}
	h.gone(p.ID())
	logs := h.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, p.ID().String()) {
		t.Errorf("the unreadable authorization was not logged as an error naming the provider:\n%s", logs)
	}
}

func TestDeleteWhileAuthorizationsAreUnavailableDeletesNothing(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	h.auths.failReads(fmt.Errorf("database: %w", domain.ErrUnavailable))
	mustBe(t, "Delete", h.svc.Delete(h.ctx, user, p.ID(), nil), domain.ErrUnavailable)
	h.auths.failReads(nil)
	if a := h.authorization(p.ID()); !a.IsAuthorized() {
		t.Error("the grant was dropped")
	}
	if n := len(h.bank.revokes()); n != 0 {
		t.Errorf("revoked %d times", n)
	}
}

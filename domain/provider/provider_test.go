package provider

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
)

// validationCode returns the code of err, a validation error on one field,
// failing otherwise.
func validationCode(t *testing.T, err error, field string) string {
	t.Helper()
	var verr *domain.ValidationError
	if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[0].Field != field {
		t.Fatalf("err = %v, want one validation error on %s", err, field)
	}
	return verr.Fields[0].Code
}

func newProvider(t *testing.T, alias string) *Provider {
	t.Helper()
	p, err := New(uuid.New(), uuid.New(), "sandbox", alias, t0)
	if err != nil {
		t.Fatalf("New(%q): %v", alias, err)
	}
	return p
}

func TestNewProviderIsNotConnectedAtVersionOne(t *testing.T) {
	id, user := uuid.New(), uuid.New()
	p, err := New(id, user, "schwab", "  My Schwab  ", t0)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID() != id || p.UserID() != user || p.Key() != "schwab" || !p.OwnedBy(user) || p.OwnedBy(uuid.New()) {
		t.Errorf("provider %s of %s with key %q: want %s of %s with key schwab", p.ID(), p.UserID(), p.Key(), id, user)
	}
	if p.Alias() != "My Schwab" || p.AliasKey() != "my schwab" {
		t.Errorf("alias %q (key %q), want the trimmed %q (key %q)", p.Alias(), p.AliasKey(), "My Schwab", "my schwab")
	}
	if p.Status() != StatusNotConnected || p.Version() != 1 || !p.CreatedAt().Equal(t0) || !p.UpdatedAt().Equal(t0) {
		t.Errorf("status %v, version %d, created %v, updated %v; want not_connected, 1, %v, %v",
			p.Status(), p.Version(), p.CreatedAt(), p.UpdatedAt(), t0, t0)
	}
}

func TestNewProviderRefusesAnInvalidAlias(t *testing.T) {
	for _, tc := range []struct {
		name, alias, code string
	}{
		{"empty", "", "required"},
		{"only spaces", " \t ", "required"},
		{"101 characters", strings.Repeat("a", MaxAliasLength+1), "too_long"},
		{"101 characters of two bytes each", strings.Repeat("é", MaxAliasLength+1), "too_long"},
		{"a newline", "My\nBank", "invalid_characters"},
		{"a NUL", "My\x00Bank", "invalid_characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(uuid.New(), uuid.New(), "sandbox", tc.alias, t0)
			if p != nil {
				t.Errorf("New returned a provider with alias %q", p.Alias())
			}
			if got := validationCode(t, err, "alias"); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
		})
	}
}

func TestNewProviderAcceptsAHundredCharactersWhateverTheirBytes(t *testing.T) {
	for _, alias := range []string{strings.Repeat("a", MaxAliasLength), strings.Repeat("é", MaxAliasLength), "x"} {
		if _, err := New(uuid.New(), uuid.New(), "sandbox", alias, t0); err != nil {
			t.Errorf("New(%d runes): %v", len([]rune(alias)), err)
		}
	}
}

func TestRenameChangesAliasVersionAndUpdatedAt(t *testing.T) {
	p := newProvider(t, "Old")
	at := t0.Add(time.Hour)
	if err := p.Rename("  New  ", at); err != nil {
		t.Fatal(err)
	}
	if p.Alias() != "New" || p.Version() != 2 || !p.UpdatedAt().Equal(at) || !p.CreatedAt().Equal(t0) {
		t.Errorf("alias %q, version %d, updated %v, created %v; want New, 2, %v, %v", p.Alias(), p.Version(), p.UpdatedAt(), p.CreatedAt(), at, t0)
	}
}

func TestRenameToADifferentCaseIsAChange(t *testing.T) {
	p := newProvider(t, "bank")
	if err := p.Rename("Bank", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if p.Alias() != "Bank" || p.Version() != 2 {
		t.Errorf("alias %q at version %d, want Bank at 2", p.Alias(), p.Version())
	}
}

func TestRenameToTheSameAliasChangesNothing(t *testing.T) {
	p := newProvider(t, "My Bank")
	before := p.Snapshot()
	for _, alias := range []string{"My Bank", "  My Bank\t"} {
		if err := p.Rename(alias, t0.Add(time.Hour)); err != nil {
			t.Fatalf("Rename(%q): %v", alias, err)
		}
	}
	if got := p.Snapshot(); got != before {
		t.Errorf("renaming to the same alias changed %+v to %+v", before, got)
	}
}

func TestRenameRefusesAnInvalidAliasAndChangesNothing(t *testing.T) {
	p := newProvider(t, "My Bank")
	before := p.Snapshot()
	err := p.Rename(" ", t0.Add(time.Hour))
	if got := validationCode(t, err, "alias"); got != "required" {
		t.Errorf("code %q, want required", got)
	}
	if got := p.Snapshot(); got != before {
		t.Errorf("a refused rename changed %+v to %+v", before, got)
	}
}

// Version and updated_at move together, so Last-Modified and sorting by
// updated_at follow the ETag even when two changes share a clock reading or the
// clock goes back.
func TestEveryChangeMovesUpdatedAtStrictlyForward(t *testing.T) {
	p := newProvider(t, "a")
	changes := []struct {
		name   string
		at     time.Time
		change func(at time.Time) error
	}{
		{"rename at the creation instant", t0, func(at time.Time) error { return p.Rename("b", at) }},
		{"rename at the same instant again", t0, func(at time.Time) error { return p.Rename("c", at) }},
		{"status with the clock gone back", t0.Add(-time.Hour), func(at time.Time) error { p.SetStatus(StatusPending, at); return nil }},
	}
	last, version := p.UpdatedAt(), p.Version()
	for _, c := range changes {
		if err := c.change(c.at); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !p.UpdatedAt().After(last) || p.Version() != version+1 {
			t.Errorf("%s: updated %v after %v, version %d after %d; want both strictly increasing", c.name, p.UpdatedAt(), last, p.Version(), version)
		}
		if want := last.Add(time.Microsecond); !p.UpdatedAt().Equal(want) {
			t.Errorf("%s: updated %v, want the smallest step forward, %v", c.name, p.UpdatedAt(), want)
		}
		last, version = p.UpdatedAt(), p.Version()
	}
}

func TestSetStatusChangesOnlyOnAChange(t *testing.T) {
	p := newProvider(t, "a")
	at := t0.Add(time.Minute)
	p.SetStatus(StatusNotConnected, at)
	if p.Version() != 1 || !p.UpdatedAt().Equal(t0) {
		t.Errorf("setting the same status: version %d, updated %v; want 1, %v", p.Version(), p.UpdatedAt(), t0)
	}
	p.SetStatus(StatusActive, at)
	if p.Status() != StatusActive || p.Version() != 2 || !p.UpdatedAt().Equal(at) {
		t.Errorf("status %v, version %d, updated %v; want active, 2, %v", p.Status(), p.Version(), p.UpdatedAt(), at)
	}
}

func TestFollowAuthorizationTakesTheAuthorizationsStatus(t *testing.T) {
	for _, s := range AuthorizationStatuses() {
		t.Run(s.String(), func(t *testing.T) {
			a := inStatus(t, s)
			p := newProvider(t, "a")
			version := int64(2)
			if s == AuthorizationNotConnected { // where a provider starts: move it away first
				p.SetStatus(StatusPending, t0.Add(time.Second))
				version = 3
			}
			at := t0.Add(time.Minute)
			p.FollowAuthorization(a, at)
			if p.Status().String() != s.String() || p.Version() != version || !p.UpdatedAt().Equal(at) {
				t.Errorf("status %v, version %d, updated %v; want %v, %d, %v", p.Status(), p.Version(), p.UpdatedAt(), s, version, at)
			}
			p.FollowAuthorization(a, at.Add(time.Minute))
			if p.Version() != version {
				t.Errorf("following the same status again bumped the version to %d", p.Version())
			}
		})
	}
}

func TestProviderSnapshotRoundTrips(t *testing.T) {
	s := Snapshot{ID: uuid.New(), UserID: uuid.New(), Key: "plaid", Alias: "Checking", Status: StatusReauthorizationRequired,
		Version: 7, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}
	p := Rehydrate(s)
	if got := p.Snapshot(); got != s {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
	}
	if p.AliasKey() != "checking" || !p.OwnedBy(s.UserID) {
		t.Errorf("rehydrated provider: alias key %q, owned by its user %v", p.AliasKey(), p.OwnedBy(s.UserID))
	}
}

func TestParseStatusRoundTrips(t *testing.T) {
	statuses := Statuses()
	if len(statuses) != 5 {
		t.Fatalf("%d statuses, want 5", len(statuses))
	}
	for _, s := range statuses {
		got, err := ParseStatus(s.String())
		if err != nil || got != s || got.IsZero() {
			t.Errorf("ParseStatus(%q) = %v, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "Active", "active ", "connected"} {
		if got, err := ParseStatus(bad); err == nil {
			t.Errorf("ParseStatus(%q) = %v, want an error", bad, got)
		}
	}
	if !(Status{}).IsZero() {
		t.Error("the zero Status is not IsZero")
	}
}

func TestAliasKeyIgnoresCaseOnly(t *testing.T) {
	if AliasKey("My Schwab") != AliasKey("my SCHWAB") {
		t.Error("aliases differing in case have different keys")
	}
	if AliasKey("My Schwab") == AliasKey("MySchwab") {
		t.Error("aliases differing in more than case share a key")
	}
	if AliasKey("Ünïcode") != "ünïcode" {
		t.Errorf("AliasKey(Ünïcode) = %q", AliasKey("Ünïcode"))
	}
}

// Hardening item 16: an alias holds no invisible formatting characters, and
// aliases that look the same are the same alias.
func TestAliasRejectsUnicodeFormatCharactersAndItsKeyIsNFKCNormalised(t *testing.T) {
	for name, alias := range map[string]string{
		"bidi override":    "Savings\u202Egnikceh",
		"bidi isolate":     "Savings\u2066x\u2069",
		"zero-width space": "My\u200BSchwab",
		"zero-width join":  "My\u200DSchwab",
		"byte-order mark":  "\uFEFFMy Schwab",
		"invalid UTF-8":    "My \xffSchwab",
	} {
		if _, err := ValidateAlias(alias); err == nil {
			t.Errorf("%s: ValidateAlias(%q) accepted it", name, alias)
		}
	}
	if got, err := ValidateAlias("Café Ünïcode"); err != nil || got != "Café Ünïcode" {
		t.Errorf("ValidateAlias of ordinary accented text = %q, %v", got, err)
	}
	if a, b := AliasKey("My Schwab"), AliasKey("Ｍｙ Ｓｃｈｗａｂ"); a != b {
		t.Errorf("AliasKey: %q and its full-width twin give %q and %q, want one key", "My Schwab", a, b)
	}
	if a, b := AliasKey("Cafe\u0301"), AliasKey("Café"); a != b {
		t.Errorf("AliasKey: decomposed and composed é give %q and %q, want one key", a, b)
	}
}

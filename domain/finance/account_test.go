package finance

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/money"
)

func checking() AccountDetails {
	return AccountDetails{InstitutionAccountID: "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp", Name: "Plaid Checking",
		OfficialName: "Plaid Gold Standard 0% Interest Checking", Mask: "0000", Type: AccountDepository,
		Subtype: "checking", Currency: money.USD}
}

func newAccount(t *testing.T) *Account {
	t.Helper()
	a, err := NewAccount(uuid.New(), uuid.New(), checking(), t0)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAccountTypesAndStatusesParseByName(t *testing.T) {
	for _, ty := range AccountTypes() {
		if got, err := ParseAccountType(ty.String()); err != nil || got != ty {
			t.Errorf("ParseAccountType(%q) = %v, %v", ty, got, err)
		}
	}
	for _, st := range AccountStatuses() {
		if got, err := ParseAccountStatus(st.String()); err != nil || got != st {
			t.Errorf("ParseAccountStatus(%q) = %v, %v", st, got, err)
		}
	}
	if _, err := ParseAccountType("brokerage"); !slices.Equal(fieldCodes(t, err), []string{"type:invalid"}) {
		t.Errorf("ParseAccountType(brokerage): %v, want an invalid type", err)
	}
	if _, err := ParseAccountStatus("frozen"); !slices.Equal(fieldCodes(t, err), []string{"status:invalid"}) {
		t.Errorf("ParseAccountStatus(frozen): %v, want an invalid status", err)
	}
}

func TestNewAccountIsOpenAtVersionOne(t *testing.T) {
	id, provider := uuid.New(), uuid.New()
	a, err := NewAccount(id, provider, checking(), t0)
	if err != nil {
		t.Fatal(err)
	}
	d := checking()
	if a.ID() != id || a.ProviderID() != provider || a.InstitutionAccountID() != d.InstitutionAccountID ||
		a.Name() != d.Name || a.OfficialName() != d.OfficialName || a.Mask() != "0000" || a.Type() != AccountDepository ||
		a.Subtype() != "checking" || a.Currency() != money.USD {
		t.Errorf("account %+v, want %+v of provider %s", a.Snapshot(), d, provider)
	}
	if want := (AccountKey{provider, d.InstitutionAccountID}); a.Key() != want {
		t.Errorf("key %+v, want %+v", a.Key(), want)
	}
	if a.Status() != AccountOpen || a.Version() != 1 || !a.CreatedAt().Equal(t0) || !a.UpdatedAt().Equal(t0) {
		t.Errorf("status %v, version %d, created %v, updated %v; want open, 1, %v, %v", a.Status(), a.Version(), a.CreatedAt(), a.UpdatedAt(), t0, t0)
	}
}

func TestAMaskKeepsOnlyTheLastFourCharacters(t *testing.T) {
	for given, want := range map[string]string{
		"0000":             "0000",
		"12":               "12",
		"":                 "",
		"123456789012":     "9012",
		"****1234":         "1234",
		"  x9876 ":         "9876",
		"4111111111111111": "1111",
	} {
		d := checking()
		d.Mask = given
		a, err := NewAccount(uuid.New(), uuid.New(), d, t0)
		if err != nil || a.Mask() != want || len(a.Mask()) > MaskLength {
			t.Errorf("mask %q: got %q, %v; want %q", given, a.Mask(), err, want)
		}
	}
}

func TestNewAccountRefusesWhatCannotBeStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*AccountDetails)
		want   []string
	}{
		{"no institution id", func(d *AccountDetails) { d.InstitutionAccountID = " " }, []string{"institution_account_id:required"}},
		{"no name", func(d *AccountDetails) { d.Name = "" }, []string{"name:required"}},
		{"a long name", func(d *AccountDetails) { d.Name = strings.Repeat("é", 201) }, []string{"name:too_long"}},
		{"a mask ending in punctuation", func(d *AccountDetails) { d.Mask = "12-4" }, []string{"mask:invalid"}},
		{"no type", func(d *AccountDetails) { d.Type = AccountType{} }, []string{"type:required"}},
		{"no currency", func(d *AccountDetails) { d.Currency = money.Currency{} }, []string{"currency:required"}},
		{"everything missing", func(d *AccountDetails) { *d = AccountDetails{} },
			[]string{"currency:required", "institution_account_id:required", "name:required", "type:required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := checking()
			tc.change(&d)
			a, err := NewAccount(uuid.New(), uuid.New(), d, t0)
			if a != nil {
				t.Errorf("got an account %+v", a.Snapshot())
			}
			if got := fieldCodes(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("fields %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAccountTextIsCleanedNotRefused(t *testing.T) {
	d := checking()
	d.Name, d.OfficialName = " Joint\tChecking\n", "Bad \xff byte"
	a, err := NewAccount(uuid.New(), uuid.New(), d, t0)
	if err != nil || a.Name() != "Joint Checking" || a.OfficialName() != "Bad   byte" {
		t.Errorf("name %q, official name %q, err %v; want control characters and bad bytes as spaces", a.Name(), a.OfficialName(), err)
	}
}

func TestAccountUpdateAppliesChangesAndBumpsTheVersion(t *testing.T) {
	a := newAccount(t)
	d := checking()
	d.Name = "Everyday Checking"
	at := t0.Add(time.Hour)
	if changed, err := a.Update(d, at); err != nil || !changed {
		t.Fatalf("Update = %v, %v; want a change", changed, err)
	}
	if a.Name() != "Everyday Checking" || a.Version() != 2 || !a.UpdatedAt().Equal(at) {
		t.Errorf("name %q, version %d, updated %v; want Everyday Checking, 2, %v", a.Name(), a.Version(), a.UpdatedAt(), at)
	}
	if changed, err := a.Update(d, at.Add(time.Hour)); err != nil || changed || a.Version() != 2 {
		t.Errorf("the same details again: changed %v, err %v, version %d; want no change", changed, err, a.Version())
	}
}

func TestAccountUpdateRefusesAnotherAccountsDetailsAndChangesNothing(t *testing.T) {
	a := newAccount(t)
	before := a.Snapshot()
	other := checking()
	other.InstitutionAccountID = "another"
	if _, err := a.Update(other, t0.Add(time.Hour)); !errors.Is(err, ErrInstitutionIDChanged) || !errors.Is(err, domain.ErrConflict) {
		t.Errorf("err = %v, want ErrInstitutionIDChanged", err)
	}
	invalid := checking()
	invalid.Name = ""
	if _, err := a.Update(invalid, t0.Add(time.Hour)); !slices.Equal(fieldCodes(t, err), []string{"name:required"}) {
		t.Errorf("err = %v, want name:required", err)
	}
	if a.Snapshot() != before {
		t.Errorf("refused updates changed %+v to %+v", before, a.Snapshot())
	}
}

func TestAClosedAccountListedAgainReopens(t *testing.T) {
	a := newAccount(t)
	if !a.Close(t0.Add(time.Minute)) || a.Status() != AccountClosed || a.Version() != 2 {
		t.Fatalf("status %v at version %d, want closed at 2", a.Status(), a.Version())
	}
	if a.Close(t0.Add(2*time.Minute)) || a.Version() != 2 {
		t.Errorf("closing a closed account changed it (version %d)", a.Version())
	}
	if changed, err := a.Update(checking(), t0.Add(3*time.Minute)); err != nil || !changed || a.Status() != AccountOpen || a.Version() != 3 {
		t.Errorf("listed again: changed %v, err %v, status %v, version %d; want reopened at 3", changed, err, a.Status(), a.Version())
	}
}

func TestAccountUpdatedAtMovesForwardEvenIfTheClockDoesNot(t *testing.T) {
	a := newAccount(t)
	a.Close(t0.Add(-time.Hour))
	if want := t0.Add(time.Microsecond); !a.UpdatedAt().Equal(want) {
		t.Errorf("updated %v, want %v", a.UpdatedAt(), want)
	}
}

func TestAccountSnapshotRoundTrips(t *testing.T) {
	s := AccountSnapshot{ID: uuid.New(), ProviderID: uuid.New(), Details: checking(), Status: AccountClosed, Version: 4,
		CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}
	if got := RehydrateAccount(s).Snapshot(); got != s {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
}

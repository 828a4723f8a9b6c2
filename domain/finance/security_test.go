package finance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/money"
)

func apple() SecurityDetails {
	return SecurityDetails{InstitutionSecurityID: "JDdP7XPMklt5vwPmDN45t3KAoWAPmjtpaW7DP", ISIN: "US0378331005",
		CUSIP: "037833100", Symbol: "AAPL", Name: "Apple Inc.", Type: SecurityEquity, Currency: money.USD}
}

func TestSecurityTypesParseByName(t *testing.T) {
	for _, ty := range SecurityTypes() {
		if got, err := ParseSecurityType(ty.String()); err != nil || got != ty {
			t.Errorf("ParseSecurityType(%q) = %v, %v", ty, got, err)
		}
	}
	if _, err := ParseSecurityType("EQUITY"); !slices.Equal(fieldCodes(t, err), []string{"security_type:invalid"}) {
		t.Errorf("ParseSecurityType(EQUITY): %v", err)
	}
}

func TestNewSecurityKeepsWhatTheInstitutionSaid(t *testing.T) {
	id, provider := uuid.New(), uuid.New()
	s, err := NewSecurity(id, provider, apple(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID() != id || s.ProviderID() != provider || s.Details() != apple() || !s.UpdatedAt().Equal(t0) {
		t.Errorf("security %+v", s.Snapshot())
	}
}

func TestASecurityIsKnownByAnIdentifierTheInstitutionSent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*SecurityDetails)
		want   SecurityKey
	}{
		{"the institution's id first", func(*SecurityDetails) {}, SecurityKey{SchemeInstitution, "JDdP7XPMklt5vwPmDN45t3KAoWAPmjtpaW7DP"}},
		{"then the ISIN", func(d *SecurityDetails) { d.InstitutionSecurityID = "" }, SecurityKey{SchemeISIN, "US0378331005"}},
		{"then the CUSIP", func(d *SecurityDetails) { d.InstitutionSecurityID, d.ISIN = "", "" }, SecurityKey{SchemeCUSIP, "037833100"}},
	} {
		d := apple()
		tc.change(&d)
		s, err := NewSecurity(uuid.New(), uuid.New(), d, t0)
		if err != nil || s.Key() != tc.want {
			t.Errorf("%s: key %+v, %v; want %+v", tc.name, s.Key(), err, tc.want)
		}
	}
}

func TestNewSecurityRefusesWhatCannotBeStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*SecurityDetails)
		want   []string
	}{
		{"only a symbol", func(d *SecurityDetails) { d.InstitutionSecurityID, d.ISIN, d.CUSIP = "", "", "" },
			[]string{"institution_security_id:required"}},
		{"an ISIN with a wrong check digit", func(d *SecurityDetails) { d.ISIN = "US0378331006" }, []string{"isin:invalid"}},
		{"an ISIN without its country", func(d *SecurityDetails) { d.ISIN = "120378331004" }, []string{"isin:invalid"}},
		{"a short ISIN", func(d *SecurityDetails) { d.ISIN = "US037833100" }, []string{"isin:invalid"}},
		{"a lower-case ISIN", func(d *SecurityDetails) { d.ISIN = "us0378331005" }, []string{"isin:invalid"}},
		{"a CUSIP with a wrong check digit", func(d *SecurityDetails) { d.CUSIP = "037833101" }, []string{"cusip:invalid"}},
		{"a CUSIP with punctuation", func(d *SecurityDetails) { d.CUSIP = "03783-100" }, []string{"cusip:invalid"}},
		{"no type", func(d *SecurityDetails) { d.Type = SecurityType{} }, []string{"type:required"}},
		{"no currency", func(d *SecurityDetails) { d.Currency = money.Currency{} }, []string{"currency:required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := apple()
			tc.change(&d)
			s, err := NewSecurity(uuid.New(), uuid.New(), d, t0)
			if s != nil {
				t.Errorf("got a security %+v", s.Snapshot())
			}
			if got := fieldCodes(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("fields %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRealIdentifiersPassTheirCheckDigits(t *testing.T) {
	for _, isin := range []string{"US0378331005", "US5949181045", "GB0002634946", "DE000BAY0017", "IE00B4L5Y983"} {
		if !validISIN(isin) {
			t.Errorf("ISIN %s refused", isin)
		}
	}
	for _, cusip := range []string{"037833100", "594918104", "38259P508", "46090E103", "922908769"} {
		if !ValidCUSIP(cusip) {
			t.Errorf("CUSIP %s refused", cusip)
		}
	}
}

func TestSecurityUpdateFollowsARenameButNotAnotherIdentity(t *testing.T) {
	s, err := NewSecurity(uuid.New(), uuid.New(), apple(), t0)
	if err != nil {
		t.Fatal(err)
	}
	renamed := apple()
	renamed.Symbol = "APPL2"
	at := t0.Add(time.Hour)
	if changed, err := s.Update(renamed, at); err != nil || !changed || s.Details().Symbol != "APPL2" || !s.UpdatedAt().Equal(at) {
		t.Errorf("Update = %v, %v; symbol %q, updated %v", changed, err, s.Details().Symbol, s.UpdatedAt())
	}
	if changed, err := s.Update(renamed, at.Add(time.Hour)); err != nil || changed {
		t.Errorf("the same details again: %v, %v; want no change", changed, err)
	}
	before := s.Snapshot()
	other := apple()
	other.InstitutionSecurityID = "another"
	if _, err := s.Update(other, at); !errors.Is(err, ErrInstitutionIDChanged) {
		t.Errorf("err = %v, want ErrInstitutionIDChanged", err)
	}
	invalid := apple()
	invalid.Type = SecurityType{}
	if _, err := s.Update(invalid, at); !slices.Equal(fieldCodes(t, err), []string{"type:required"}) {
		t.Errorf("err = %v, want type:required", err)
	}
	if s.Snapshot() != before {
		t.Errorf("refused updates changed %+v to %+v", before, s.Snapshot())
	}
}

func TestSecuritySnapshotRoundTrips(t *testing.T) {
	d := apple()
	d.CashEquivalent = true
	snap := SecuritySnapshot{ID: uuid.New(), ProviderID: uuid.New(), Details: d, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}
	if got := RehydrateSecurity(snap).Snapshot(); got != snap {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, snap)
	}
}

package finance

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/money"
)

// SecurityType is what kind of instrument a security is.
type SecurityType struct{ s string }

// The security types. Connectors map their institution's onto these (Schwab's
// COLLECTIVE_INVESTMENT of type EXCHANGE_TRADED_FUND is etf; its
// CASH_EQUIVALENT is cash).
var (
	SecurityCash           = SecurityType{"cash"}
	SecurityEquity         = SecurityType{"equity"}
	SecurityETF            = SecurityType{"etf"}
	SecurityMutualFund     = SecurityType{"mutual_fund"}
	SecurityFixedIncome    = SecurityType{"fixed_income"}
	SecurityOption         = SecurityType{"option"}
	SecurityDerivative     = SecurityType{"derivative"}
	SecurityCryptocurrency = SecurityType{"cryptocurrency"}
	SecurityOther          = SecurityType{"other"}
)

// SecurityTypes lists every security type.
func SecurityTypes() []SecurityType {
	return []SecurityType{SecurityCash, SecurityEquity, SecurityETF, SecurityMutualFund, SecurityFixedIncome,
		SecurityOption, SecurityDerivative, SecurityCryptocurrency, SecurityOther}
}

// ParseSecurityType turns a type name into a SecurityType.
func ParseSecurityType(s string) (SecurityType, error) {
	for _, t := range SecurityTypes() {
		if t.s == s {
			return t, nil
		}
	}
	return SecurityType{}, domain.NewValidationError("security_type", "invalid", fmt.Sprintf("Unknown security type %q.", s))
}

func (t SecurityType) String() string { return t.s }

// SecurityDetails are what an institution says about a security.
type SecurityDetails struct {
	// InstitutionSecurityID is the institution's id (Plaid security_id, Schwab
	// instrumentId). At least one of it, ISIN and CUSIP is required.
	InstitutionSecurityID string
	ISIN                  string // optional, validated with its check digit
	CUSIP                 string // optional, validated with its check digit
	Symbol                string // optional; a ticker changes, so it is never the identity
	Name                  string // optional
	Type                  SecurityType
	Currency              money.Currency
	// CashEquivalent marks a money-market fund or sweep: part of the account's
	// cash, so a total counts it once, not as cash and again as a holding.
	CashEquivalent bool
}

func (d SecurityDetails) validate() (SecurityDetails, error) {
	var v domain.ValidationError
	var err error
	d.InstitutionSecurityID, err = cleanText("institution_security_id", d.InstitutionSecurityID, maxIdentifierLength, false)
	v.Merge(err)
	d.Symbol, err = cleanText("symbol", d.Symbol, maxNameLength, false)
	v.Merge(err)
	d.Name, err = cleanText("name", d.Name, maxNameLength, false)
	v.Merge(err)
	if d.ISIN != "" && !validISIN(d.ISIN) {
		v.Add("isin", "invalid", "ISIN must be 12 characters with a valid check digit.")
	}
	if d.CUSIP != "" && !ValidCUSIP(d.CUSIP) {
		v.Add("cusip", "invalid", "CUSIP must be 9 characters with a valid check digit.")
	}
	if d.InstitutionSecurityID == "" && d.ISIN == "" && d.CUSIP == "" {
		v.Add("institution_security_id", "required", "A security needs a stable identity: the institution's id, an ISIN or a CUSIP.")
	}
	if d.Type == (SecurityType{}) {
		v.Add("type", "required", "Security type is required.")
	}
	if d.Currency.IsZero() {
		v.Add("currency", "required", "Currency is required.")
	}
	return d, v.OrNil()
}

// SecurityKey is a security's stable identity within a provider: the
// institution's own id when it gives one, else the ISIN, else the CUSIP. It is
// always an identifier the institution sent, never one made up from a symbol
// or a name, which change and collide.
type SecurityKey struct{ Scheme, Value string }

// The schemes of a SecurityKey.
const (
	SchemeInstitution = "institution"
	SchemeISIN        = "isin"
	SchemeCUSIP       = "cusip"
)

// Key returns the identity of the security these details describe.
func (d SecurityDetails) Key() SecurityKey {
	switch {
	case d.InstitutionSecurityID != "":
		return SecurityKey{SchemeInstitution, d.InstitutionSecurityID}
	case d.ISIN != "":
		return SecurityKey{SchemeISIN, d.ISIN}
	}
	return SecurityKey{SchemeCUSIP, d.CUSIP}
}

// Security is an instrument held or traded in a provider's accounts.
type Security struct {
	id         uuid.UUID
	providerID uuid.UUID
	details    SecurityDetails
	createdAt  time.Time
	updatedAt  time.Time
}

// NewSecurity records a security the institution reported. Errors are
// *domain.ValidationError listing every field at fault.
func NewSecurity(id, providerID uuid.UUID, d SecurityDetails, now time.Time) (*Security, error) {
	d, err := d.validate()
	if err != nil {
		return nil, err
	}
	return &Security{id: id, providerID: providerID, details: d, createdAt: now, updatedAt: now}, nil
}

// SecuritySnapshot is every field of a Security, for storage.
type SecuritySnapshot struct {
	ID, ProviderID       uuid.UUID
	Details              SecurityDetails
	CreatedAt, UpdatedAt time.Time
}

// Snapshot returns the security's fields for storage.
func (s *Security) Snapshot() SecuritySnapshot {
	return SecuritySnapshot{ID: s.id, ProviderID: s.providerID, Details: s.details, CreatedAt: s.createdAt, UpdatedAt: s.updatedAt}
}

// RehydrateSecurity rebuilds a security from storage.
func RehydrateSecurity(s SecuritySnapshot) *Security {
	return &Security{id: s.ID, providerID: s.ProviderID, details: s.Details, createdAt: s.CreatedAt, updatedAt: s.UpdatedAt}
}

// ID returns the security's id.
func (s *Security) ID() uuid.UUID { return s.id }

// ProviderID returns the provider whose institution reported the security.
func (s *Security) ProviderID() uuid.UUID { return s.providerID }

// Key returns the security's stable identity, unique per provider.
func (s *Security) Key() SecurityKey { return s.details.Key() }

// Details returns what the institution last said about the security.
func (s *Security) Details() SecurityDetails { return s.details }

// UpdatedAt returns when the security last changed.
func (s *Security) UpdatedAt() time.Time { return s.updatedAt }

// Update applies what the institution now says about the security (a new
// symbol after a rename, a name) and reports whether anything changed. The
// identity cannot change: ErrInstitutionIDChanged.
func (s *Security) Update(d SecurityDetails, now time.Time) (bool, error) {
	d, err := d.validate()
	if err != nil {
		return false, err
	}
	if d.Key() != s.Key() {
		return false, ErrInstitutionIDChanged
	}
	if d == s.details {
		return false, nil
	}
	s.details, s.updatedAt = d, later(s.updatedAt, now)
	return true, nil
}

// validISIN checks an ISIN (ISO 6166): two letters, nine letters or digits, and
// a Luhn check digit over the letters read as numbers (A=10 ... Z=35).
func validISIN(s string) bool {
	if len(s) != 12 || !isUpper(s[0]) || !isUpper(s[1]) || !isDigit(s[11]) {
		return false
	}
	digits := make([]int, 0, 24)
	for i := range len(s) {
		switch c := s[i]; {
		case isDigit(c):
			digits = append(digits, int(c-'0'))
		case isUpper(c):
			n := int(c-'A') + 10
			digits = append(digits, n/10, n%10)
		default:
			return false
		}
	}
	sum := 0
	for i := range digits {
		d := digits[len(digits)-1-i]
		if i%2 == 1 {
			d *= 2
		}
		sum += d/10 + d%10
	}
	return sum%10 == 0
}

// ValidCUSIP checks a CUSIP: eight letters, digits or *@# and a check digit,
// the sum of the digits of the values with every second one doubled.
func ValidCUSIP(s string) bool {
	if len(s) != 9 || !isDigit(s[8]) {
		return false
	}
	sum := 0
	for i := range 8 {
		var v int
		switch c := s[i]; {
		case isDigit(c):
			v = int(c - '0')
		case isUpper(c):
			v = int(c-'A') + 10
		case c == '*':
			v = 36
		case c == '@':
			v = 37
		case c == '#':
			v = 38
		default:
			return false
		}
		if i%2 == 1 {
			v *= 2
		}
		sum += v/10 + v%10
	}
	return int(s[8]-'0') == (10-sum%10)%10
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

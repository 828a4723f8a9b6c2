package persistence

import (
	"bytes"
	"crypto/sha256"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/provider"
)

// TokenCipher encrypts provider tokens at rest. Associated data binds a ciphertext
// to its row and field, so a ciphertext copied elsewhere does not decrypt. The
// authorization store is its only user, so the port is declared here; the vault
// adapter's Keyring implements it (checked in this package's tests).
type TokenCipher interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
	// IsPrimary reports whether ciphertext was made under the current primary key,
	// so a re-encryption pass can skip it.
	IsPrimary(ciphertext []byte) bool
}

// authorizationRow mirrors migrations/*/00003_authorizations.sql, 00010
// (prior_status), 00012 (attempt_repair, link_token_ct, link_expires_at) and
// 00015 (external_id_hash, provider.HashExternalID of the external id, NULL
// without one). The *CT fields hold ciphertext only: authorizationFromDomain
// encrypts and toDomain decrypts, and nothing else touches them. Nullable times are pointers (NULL is the zero
// time) and nullable ids are uuid.NullUUID (NULL is uuid.Nil).
type authorizationRow struct {
	ProviderID       uuid.UUID     `gorm:"column:provider_id;primaryKey"`
	UserID           uuid.UUID     `gorm:"column:user_id"`
	Status           string        `gorm:"column:status"`
	AttemptID        uuid.NullUUID `gorm:"column:attempt_id"`
	StateHash        nullBytes     `gorm:"column:state_hash"`
	StateExpiresAt   *time.Time    `gorm:"column:state_expires_at"`
	PriorStatus      *string       `gorm:"column:prior_status"`
	AttemptRepair    *string       `gorm:"column:attempt_repair"`
	LinkTokenCT      nullBytes     `gorm:"column:link_token_ct"`
	LinkExpiresAt    *time.Time    `gorm:"column:link_expires_at"`
	AccessTokenCT    nullBytes     `gorm:"column:access_token_ct"`
	RefreshTokenCT   nullBytes     `gorm:"column:refresh_token_ct"`
	TokenExpiresAt   *time.Time    `gorm:"column:token_expires_at"`
	RefreshExpiresAt *time.Time    `gorm:"column:refresh_expires_at"`
	Scopes           string        `gorm:"column:scopes"`
	ExternalIDCT     nullBytes     `gorm:"column:external_id_ct"`
	ExternalIDHash   nullBytes     `gorm:"column:external_id_hash"`
	AuthorizedAt     *time.Time    `gorm:"column:authorized_at"`
	RefreshedAt      *time.Time    `gorm:"column:refreshed_at"`
	LeaseOwner       uuid.NullUUID `gorm:"column:lease_owner"`
	LeaseUntil       *time.Time    `gorm:"column:lease_until"`
	CreatedAt        time.Time     `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt        time.Time     `gorm:"column:updated_at;autoCreateTime:false;autoUpdateTime:false"`
}

func (authorizationRow) TableName() string { return "authorizations" }

// The encrypted fields, by column. The column name is also the field's part of
// the associated data, so renaming a column means migrating its ciphertexts.
const (
	colAccessToken  = "access_token_ct"
	colRefreshToken = "refresh_token_ct"
	colExternalID   = "external_id_ct"
	colLinkToken    = "link_token_ct"
)

// attemptRepair is attempt_repair's value for an attempt that repairs the
// credentials held (provider.AttemptBegun.Repair); NULL is a new consent.
const attemptRepair = "repair"

// secretField is one encrypted column of a row, for code that walks them all.
type secretField struct {
	column string
	// aadField names the field in the associated data.
	aadField string
	value    *nullBytes
}

func (r *authorizationRow) secretFields() []secretField {
	return []secretField{
		{column: colAccessToken, aadField: "access_token", value: &r.AccessTokenCT},
		{column: colRefreshToken, aadField: "refresh_token", value: &r.RefreshTokenCT},
		{column: colExternalID, aadField: "external_id", value: &r.ExternalIDCT},
		{column: colLinkToken, aadField: "link_token", value: &r.LinkTokenCT},
	}
}

// credentialAAD is the associated data of one encrypted field: it binds the
// ciphertext to its row (user and provider) and field, so a ciphertext copied
// into another row or column fails authentication instead of decrypting. The
// version prefix lets the binding change later while old rows stay readable.
func credentialAAD(userID, providerID uuid.UUID, field string) []byte {
	return []byte("dashtam/authorizations/v1|" + userID.String() + "|" + providerID.String() + "|" + field)
}

// authorizationFromDomain turns a into a row, encrypting its credentials under
// cipher's primary key. Empty credentials are stored as NULL, not encrypted.
func authorizationFromDomain(a *provider.Authorization, cipher TokenCipher) (authorizationRow, error) {
	s := a.Snapshot()
	scopes, err := joinScopes(s.Credentials.Scopes)
	if err != nil {
		return authorizationRow{}, fmt.Errorf("authorization of provider %s: %w", s.ProviderID, err)
	}
	r := authorizationRow{
		ProviderID:       s.ProviderID,
		UserID:           s.UserID,
		Status:           s.Status.String(),
		AttemptID:        nullUUID(s.AttemptID),
		StateHash:        nullBytes(bytes.Clone(s.StateHash)),
		StateExpiresAt:   nullableTime(s.StateExpiresAt),
		PriorStatus:      nullableStatus(s.PriorStatus),
		LinkExpiresAt:    nullableTime(s.Begun.LinkExpiresAt),
		TokenExpiresAt:   nullableTime(s.Credentials.ExpiresAt),
		RefreshExpiresAt: nullableTime(s.Credentials.RefreshExpiresAt),
		Scopes:           scopes,
		AuthorizedAt:     nullableTime(s.AuthorizedAt),
		RefreshedAt:      nullableTime(s.RefreshedAt),
		LeaseOwner:       nullUUID(s.LeaseOwner),
		LeaseUntil:       nullableTime(s.LeaseUntil),
		CreatedAt:        dbTime(s.CreatedAt),
		UpdatedAt:        dbTime(s.UpdatedAt),
	}
	plain := map[string]string{
		colAccessToken:  s.Credentials.AccessToken,
		colRefreshToken: s.Credentials.RefreshToken,
		colExternalID:   s.Credentials.ExternalID,
		colLinkToken:    s.Begun.LinkToken,
	}
	if s.Credentials.ExternalID != "" {
		h := provider.HashExternalID(s.Credentials.ExternalID)
		r.ExternalIDHash = h[:]
	}
	if s.Begun.Repair {
		v := attemptRepair
		r.AttemptRepair = &v
	}
	for _, f := range r.secretFields() {
		v := plain[f.column]
		if v == "" {
			continue
		}
		ct, err := cipher.Encrypt([]byte(v), credentialAAD(r.UserID, r.ProviderID, f.aadField))
		if err != nil {
			return authorizationRow{}, fmt.Errorf("authorization of provider %s: encrypt %s: %w", r.ProviderID, f.aadField, err)
		}
		*f.value = ct
	}
	return r, nil
}

// toDomain rebuilds the authorization, decrypting its credentials. A ciphertext
// that does not decrypt (tampered, copied from another row or field, or under a
// key the keyring no longer holds) is an error, never an empty credential.
func (r authorizationRow) toDomain(cipher TokenCipher) (*provider.Authorization, error) {
	status, err := provider.ParseAuthorizationStatus(r.Status)
	if err != nil {
		return nil, fmt.Errorf("authorization of provider %s: stored status is invalid: %w", r.ProviderID, err)
	}
	var prior provider.AuthorizationStatus
	if r.PriorStatus != nil {
		if prior, err = provider.ParseAuthorizationStatus(*r.PriorStatus); err != nil {
			return nil, fmt.Errorf("authorization of provider %s: stored prior status is invalid: %w", r.ProviderID, err)
		}
	}
	if len(r.StateHash) != 0 && len(r.StateHash) != sha256.Size {
		return nil, fmt.Errorf("authorization of provider %s: stored state digest has %d bytes, want %d",
			r.ProviderID, len(r.StateHash), sha256.Size)
	}
	if r.AttemptRepair != nil && *r.AttemptRepair != attemptRepair {
		return nil, fmt.Errorf("authorization of provider %s: stored attempt_repair %q is invalid", r.ProviderID, *r.AttemptRepair)
	}
	plain := make(map[string]string, 4)
	for _, f := range r.secretFields() {
		if len(*f.value) == 0 {
			continue
		}
		pt, err := r.decrypt(cipher, f)
		if err != nil {
			return nil, err
		}
		plain[f.column] = string(pt)
	}
	s := provider.AuthorizationSnapshot{
		ProviderID:     r.ProviderID,
		UserID:         r.UserID,
		Status:         status,
		AttemptID:      r.AttemptID.UUID, // uuid.Nil when NULL
		StateHash:      bytes.Clone(r.StateHash),
		StateExpiresAt: domainTime(r.StateExpiresAt),
		PriorStatus:    prior,
		Begun: provider.AttemptBegun{
			Repair:        r.AttemptRepair != nil,
			LinkToken:     plain[colLinkToken],
			LinkExpiresAt: domainTime(r.LinkExpiresAt),
		},
		Credentials: provider.Credentials{
			AccessToken:      plain[colAccessToken],
			RefreshToken:     plain[colRefreshToken],
			ExpiresAt:        domainTime(r.TokenExpiresAt),
			RefreshExpiresAt: domainTime(r.RefreshExpiresAt),
			Scopes:           splitScopes(r.Scopes),
			ExternalID:       plain[colExternalID],
		},
		AuthorizedAt: domainTime(r.AuthorizedAt),
		RefreshedAt:  domainTime(r.RefreshedAt),
		LeaseOwner:   r.LeaseOwner.UUID,
		LeaseUntil:   domainTime(r.LeaseUntil),
		CreatedAt:    r.CreatedAt.UTC(),
		UpdatedAt:    r.UpdatedAt.UTC(),
	}
	return provider.RehydrateAuthorization(s), nil
}

// decrypt opens one encrypted field of r. The error names the row and field,
// never the ciphertext, and wraps the cipher's error (for errors.Is), which
// carries no domain error kind: the API answers 500.
func (r *authorizationRow) decrypt(cipher TokenCipher, f secretField) ([]byte, error) {
	pt, err := cipher.Decrypt(*f.value, credentialAAD(r.UserID, r.ProviderID, f.aadField))
	if err != nil {
		return nil, fmt.Errorf("authorization of provider %s: decrypt %s: %w", r.ProviderID, f.aadField, err)
	}
	return pt, nil
}

// joinScopes stores scopes space-separated, as OAuth sends them. A scope that is
// empty or holds whitespace would not read back as itself, so it is refused
// (RFC 6749 §3.3 allows neither).
func joinScopes(scopes []string) (string, error) {
	for i, sc := range scopes {
		if sc == "" || strings.ContainsFunc(sc, unicode.IsSpace) {
			return "", fmt.Errorf("scope %d is empty or contains whitespace, which cannot be stored", i)
		}
	}
	return strings.Join(scopes, " "), nil
}

// splitScopes reads stored scopes; none is nil.
func splitScopes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func nullUUID(id uuid.UUID) uuid.NullUUID {
	return uuid.NullUUID{UUID: id, Valid: id != uuid.Nil}
}

// nullBytes is a nullable binary column: empty is stored as NULL and NULL reads
// as nil. (A nil []byte alone is not reliably NULL across drivers, and an empty
// state digest must not collide in a unique index.)
type nullBytes []byte

// Value implements driver.Valuer.
func (b nullBytes) Value() (driver.Value, error) {
	if len(b) == 0 {
		return nil, nil
	}
	return []byte(b), nil
}

// Scan implements sql.Scanner.
func (b *nullBytes) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = bytes.Clone(v) // the driver may reuse its buffer
	case string:
		*b = []byte(v)
	default:
		return fmt.Errorf("cannot scan %T into a binary column", src)
	}
	if len(*b) == 0 {
		*b = nil
	}
	return nil
}

// nullableStatus stores the zero status as NULL.
func nullableStatus(s provider.AuthorizationStatus) *string {
	if s == (provider.AuthorizationStatus{}) {
		return nil
	}
	v := s.String()
	return &v
}

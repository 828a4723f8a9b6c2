package persistence

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/provider"
)

// setAsideRow mirrors migrations/*/00011_set_aside_credentials.sql: the
// credentials of a grant revoked here, still to be revoked at the institution.
type setAsideRow struct {
	ID            uuid.UUID `gorm:"column:id;primaryKey"`
	ProviderKey   string    `gorm:"column:provider_key"`
	ProviderID    uuid.UUID `gorm:"column:provider_id"`
	UserID        uuid.UUID `gorm:"column:user_id"`
	CredentialsCT []byte    `gorm:"column:credentials_ct"`
	CreatedAt     time.Time `gorm:"column:created_at;autoCreateTime:false"`
}

func (setAsideRow) TableName() string { return "set_aside_credentials" }

// setAsideAAD binds a set-aside ciphertext to its row.
func setAsideAAD(id uuid.UUID) []byte {
	return []byte("set_aside_credentials:" + id.String() + ":credentials_ct")
}

// WithSetAside lets UpdateAuthorization keep the credentials a revocation set
// aside (provider.Authorization.RevokeLater): encrypted, in a row of their
// own, with the RevokeJob that revokes them at the institution enqueued on
// queue in the same transaction. Without it, saving set-aside credentials is
// an error.
func WithSetAside(queue JobQueue) AuthorizationOption {
	return func(s *AuthorizationStore) { s.setAsideQueue = queue }
}

// keepSetAside stores, in tx, the credentials a's revocation set aside, and
// enqueues their RevokeJob.
func (s *AuthorizationStore) keepSetAside(ctx context.Context, tx *gorm.DB, p *provider.Provider, creds provider.Credentials,
	now time.Time,
) error {
	if s.setAsideQueue == nil {
		return fmt.Errorf("credentials of provider %s were set aside, but the store has no job queue to revoke them", p.ID())
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	plain, err := json.Marshal(creds)
	if err != nil {
		return err
	}
	ct, err := s.cipher.Encrypt(plain, setAsideAAD(id))
	if err != nil {
		return fmt.Errorf("encrypt set-aside credentials: %w", err)
	}
	row := setAsideRow{ID: id, ProviderKey: p.Key(), ProviderID: p.ID(), UserID: p.UserID(), CredentialsCT: ct, CreatedAt: dbTime(now)}
	if err := tx.Create(&row).Error; err != nil {
		return err
	}
	_, err = enqueueTx(ctx, s.setAsideQueue, tx, providersapp.RevokeJob{SetAsideID: id})
	return err
}

// SetAsideCredentials returns the set-aside credentials with id, decrypted,
// or domain.ErrNotFound.
func (s *AuthorizationStore) SetAsideCredentials(ctx context.Context, id uuid.UUID) (providersapp.SetAside, error) {
	var row setAsideRow
	if err := s.db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return providersapp.SetAside{}, dbError("set-aside credentials "+id.String(), err)
	}
	plain, err := s.cipher.Decrypt(row.CredentialsCT, setAsideAAD(row.ID))
	if err != nil {
		return providersapp.SetAside{}, fmt.Errorf("decrypt set-aside credentials %s: %w", id, err)
	}
	var creds provider.Credentials
	if err := json.Unmarshal(plain, &creds); err != nil {
		return providersapp.SetAside{}, fmt.Errorf("set-aside credentials %s: %w", id, err)
	}
	return providersapp.SetAside{ID: row.ID, ProviderKey: row.ProviderKey, Credentials: creds}, nil
}

// ForgetSetAside deletes the set-aside credentials with id; deleting them
// twice is not an error.
func (s *AuthorizationStore) ForgetSetAside(ctx context.Context, id uuid.UUID) error {
	err := s.db.Gorm.WithContext(ctx).Where("id = ?", id).Delete(&setAsideRow{}).Error
	return dbError("forget set-aside credentials "+id.String(), err)
}

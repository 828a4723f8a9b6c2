package persistence

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/dashtam/dashtam/adapters/idempotency"
	"github.com/dashtam/dashtam/application/erasure"
	"github.com/dashtam/dashtam/domain/identity"
)

var _ erasure.Store = (*ErasureStore)(nil)

// ErasureStore deletes a user and every row of theirs (erasure.Store). It
// works over the identity store (the user, its admin count and its session
// cache) and the authorization store (the grants' cipher and the set-aside
// credentials' job queue, WithSetAside).
type ErasureStore struct {
	identity *IdentityStore
	auths    *AuthorizationStore
	log      *slog.Logger
}

// NewErasureStore returns an erasure store over the identity and
// authorization stores of one database.
func NewErasureStore(identity *IdentityStore, auths *AuthorizationStore, log *slog.Logger) *ErasureStore {
	return &ErasureStore{identity: identity, auths: auths, log: log}
}

// EraseUser does everything in one transaction, so a crash or an error
// leaves the account whole, to be deleted again:
//
//  1. locks the active admins and the user, and asks check;
//  2. locks the user's providers and grants (in id order: a token refresh
//     or a sync saving a grant waits, then finds it gone) and sets the
//     credentials of each grant aside, encrypted, with the
//     institution_revoke job that revokes them at the institution;
//  3. revokes the user's sessions with an UPDATE, whose trigger (00006)
//     tells every instance to drop them from its session cache when the
//     transaction commits (a DELETE would not);
//  4. deletes the rows that do not go with the user by foreign key: the
//     event log's, the Idempotency-Key records', and the institution
//     webhook deliveries naming the user's connections;
//  5. deletes the user, and with it (ON DELETE CASCADE) their sessions and
//     tokens, providers, grants, accounts, balances, securities, holdings,
//     transactions, syncs, webhook endpoints and deliveries, and exports.
//
// The audit log keeps its entries (append-only, purged by its retention),
// and the set-aside grants stay until their jobs have revoked them.
func (s *ErasureStore) EraseUser(ctx context.Context, id uuid.UUID, now time.Time,
	check func(u *identity.User, activeAdmins int) error,
) (erasure.Erased, error) {
	db := s.identity.db
	var erased erasure.Erased
	defer s.identity.cache.dropUser(id)
	err := db.inTx(ctx, "erase user "+id.String(), func(tx *gorm.DB) error {
		u, admins, err := s.identity.lockForAdministration(tx, id)
		if err != nil {
			return err
		}
		if err := fromCaller(check(u, admins)); err != nil {
			return err
		}
		hashes, err := s.setGrantsAside(ctx, tx, id, now, &erased)
		if err != nil {
			return err
		}
		err = tx.Exec("UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE user_id = ? AND revoked_at IS NULL",
			dbTime(now), string(identity.RevokedUserDeleted), id).Error
		if err != nil {
			return err
		}
		if err := tx.Exec("DELETE FROM events WHERE user_id = ?", id).Error; err != nil {
			return err
		}
		if err := tx.Exec("DELETE FROM idempotency_records WHERE scope = ?", idempotency.UserScope(id.String())).Error; err != nil {
			return err
		}
		if len(hashes) > 0 {
			if err := tx.Exec("DELETE FROM institution_webhook_deliveries WHERE external_id_hash IN ?", hashes).Error; err != nil {
				return err
			}
		}
		return tx.Exec("DELETE FROM users WHERE id = ?", id).Error
	})
	if err != nil {
		return erasure.Erased{}, err
	}
	return erased, nil
}

// setGrantsAside sets aside, in tx, the credentials of every grant of the
// user's providers, for the jobs that revoke them at their institutions, and
// returns the hashes of the grants' institution connection ids (the keys of
// their institution webhooks). A grant whose credentials cannot be decrypted
// (a key retired too early) cannot be revoked anywhere: it is logged and
// deleted with the rest.
func (s *ErasureStore) setGrantsAside(ctx context.Context, tx *gorm.DB, userID uuid.UUID, now time.Time, erased *erasure.Erased) ([][]byte, error) {
	db := s.identity.db
	var providers []providerRow
	if err := db.lockRows(tx, &providers, "user_id = ?", userID); err != nil {
		return nil, err
	}
	erased.Providers = len(providers)
	if len(providers) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(providers))
	byID := make(map[uuid.UUID]providerRow, len(providers))
	for i, r := range providers {
		ids[i] = r.ID
		byID[r.ID] = r
	}
	var grants []authorizationRow
	locking := tx
	if db.Dialect == Postgres {
		locking = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	if err := locking.Where("provider_id IN ?", ids).Order("provider_id").Find(&grants).Error; err != nil {
		return nil, err
	}
	var hashes [][]byte
	for _, g := range grants {
		if len(g.ExternalIDHash) > 0 {
			hashes = append(hashes, g.ExternalIDHash)
		}
		a, err := g.toDomain(s.auths.cipher)
		if err != nil {
			s.log.ErrorContext(ctx, "erasing a user's grant whose credentials cannot be read; it cannot be revoked at the institution",
				"provider_id", g.ProviderID.String(), "error", err.Error())
			continue
		}
		creds := a.Credentials()
		if creds.IsZero() {
			continue
		}
		p, err := byID[g.ProviderID].toDomain()
		if err != nil {
			return nil, err
		}
		if err := s.auths.keepSetAside(ctx, tx, p, creds, now); err != nil {
			return nil, fmt.Errorf("set aside the grant of provider %s: %w", p.ID(), err)
		}
		erased.GrantsToRevoke++
	}
	return hashes, nil
}

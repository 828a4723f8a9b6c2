package persistence

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	adminapp "github.com/dashtam/dashtam/application/admin"
	"github.com/dashtam/dashtam/domain/identity"
)

var (
	_ adminapp.Users    = (*IdentityStore)(nil)
	_ adminapp.Sessions = (*IdentityStore)(nil)
)

// ListUsers returns one page of the users matching q, newest first (ties
// broken by id, descending): after q.After when it is set, else from
// q.Offset; with the number of matches when q.WithTotal.
func (s *IdentityStore) ListUsers(ctx context.Context, q adminapp.UserQuery) ([]*identity.User, int64, error) {
	matching := func() *gorm.DB {
		db := s.db.Gorm.WithContext(ctx).Model(&userRow{})
		f := q.Filter
		if f.Email != "" {
			// Emails are stored lower-cased.
			db = db.Where(`email LIKE ? ESCAPE '\'`, "%"+likeEscaper.Replace(strings.ToLower(strings.TrimSpace(f.Email)))+"%")
		}
		if !f.Role.IsZero() {
			db = db.Where("role = ?", f.Role.String())
		}
		if !f.Status.IsZero() {
			db = db.Where("status = ?", f.Status.String())
		}
		if !f.CreatedAfter.IsZero() {
			db = db.Where("created_at > ?", dbTime(f.CreatedAfter))
		}
		return db
	}
	const op = "list users"
	var total int64
	if q.WithTotal {
		if err := matching().Count(&total).Error; err != nil {
			return nil, 0, dbError(op, err)
		}
	}
	page := matching().Order("created_at DESC").Order("id DESC").Limit(q.Limit)
	if q.After != nil {
		at := dbTime(q.After.CreatedAt)
		page = page.Where("(created_at < ? OR (created_at = ? AND id < ?))", at, at, q.After.ID)
	} else {
		page = page.Offset(max(q.Offset, 0))
	}
	var rows []userRow
	if err := page.Find(&rows).Error; err != nil {
		return nil, 0, dbError(op, err)
	}
	out := make([]*identity.User, len(rows))
	for i, r := range rows {
		u, err := r.toDomain()
		if err != nil {
			return nil, 0, err
		}
		out[i] = u
	}
	return out, total, nil
}

// AdministerUser locks the active admins (in id order, so concurrent calls
// queue instead of deadlocking) and the user, counts the active admins, lets
// fn change the user and saves it, in one transaction. On SQLite the
// transaction's write lock already serialises everything.
func (s *IdentityStore) AdministerUser(ctx context.Context, id uuid.UUID, fn func(*identity.User, int) error) (*identity.User, error) {
	var saved *identity.User
	err := s.db.inTx(ctx, "administer user "+id.String(), func(tx *gorm.DB) error {
		u, admins, err := s.lockForAdministration(tx, id)
		if err != nil {
			return err
		}
		if err := fromCaller(fn(u, admins)); err != nil {
			return err
		}
		row := userFromDomain(u)
		if err := tx.Save(&row).Error; err != nil {
			return err
		}
		saved = u
		return nil
	})
	return saved, err
}

// lockForAdministration locks, in tx, the active admins (in id order, so
// concurrent calls queue instead of deadlocking) and the user with id, and
// returns the user and how many active admins there are. On SQLite the
// transaction's write lock already serialises everything.
func (s *IdentityStore) lockForAdministration(tx *gorm.DB, id uuid.UUID) (*identity.User, int, error) {
	admins := tx.Model(&userRow{}).Where("role = ? AND status = ?", identity.RoleAdmin.String(), identity.UserActive.String()).Order("id")
	if s.db.Dialect == Postgres {
		admins = admins.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var ids []uuid.UUID
	if err := admins.Pluck("id", &ids).Error; err != nil {
		return nil, 0, err
	}
	u, err := s.lockUser(tx, id)
	if err != nil {
		return nil, 0, err
	}
	return u, len(ids), nil
}

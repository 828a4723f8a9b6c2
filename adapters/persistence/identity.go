package persistence

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/identity"
)

var (
	_ identityapp.Users         = (*IdentityStore)(nil)
	_ identityapp.Sessions      = (*IdentityStore)(nil)
	_ identityapp.OneTimeTokens = (*IdentityStore)(nil)
)

// emailTaken is what a second account with one email runs into.
var emailTaken = uniqueKey{index: "users_email_key", columns: "users.email", err: identity.ErrEmailTaken}

// IdentityStore keeps users, sessions, refresh tokens and one-time tokens in the
// database. It implements the identity application's Users, Sessions and
// OneTimeTokens ports.
//
// The methods that take a closure run it inside a transaction holding the row
// locks of what they load: SELECT ... FOR UPDATE on Postgres; on SQLite the
// connection begins every transaction IMMEDIATE, which already takes the
// database's single write lock. The closure must not call back into the store.
//
// SessionValidity answers from a short-lived cache (sessioncache.go) when
// sessionCacheTTL > 0; on Postgres only while WatchSessions runs.
type IdentityStore struct {
	db          *DB
	queue       JobQueue
	cache       *sessionCache
	validitySQL string // SessionValidity's statement, built once
}

// DefaultSessionCacheTTL is how long SessionValidity may answer from its cache
// without asking the database: SESSION_CACHE_TTL's default on SQLite.
const DefaultSessionCacheTTL = time.Second

// NewIdentityStore returns a store on db, which must be migrated, whose session
// cache keeps entries for sessionCacheTTL (0: no cache), and which enqueues
// the jobs its changes call for on queue.
func NewIdentityStore(db *DB, sessionCacheTTL time.Duration, queue JobQueue) *IdentityStore {
	return &IdentityStore{
		db:    db,
		queue: queue,
		cache: newSessionCache(sessionCacheTTL, db.Dialect == SQLite),
		validitySQL: db.bind("SELECT user_id, " + db.timeColumn("expires_at") + ", " + db.timeColumn("revoked_at") +
			" FROM sessions WHERE id = ?"),
	}
}

// CreateUser inserts u and enqueues mail in one transaction. An email that is
// already registered is identity.ErrEmailTaken, and then nothing is stored or
// enqueued.
func (s *IdentityStore) CreateUser(ctx context.Context, u *identity.User, mail jobs.Job) error {
	user := userFromDomain(u)
	return s.db.inTx(ctx, "create user "+u.ID().String(), func(tx *gorm.DB) error {
		if err := tx.Create(&user).Error; err != nil {
			return err
		}
		_, err := enqueueTx(ctx, s.queue, tx, mail)
		return err
	}, emailTaken)
}

// UserByID returns the user with id, or domain.ErrNotFound.
func (s *IdentityStore) UserByID(ctx context.Context, id uuid.UUID) (*identity.User, error) {
	var row userRow
	if err := s.db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, dbError("user "+id.String(), err)
	}
	return row.toDomain()
}

// UserByEmail returns the user registered with email, or domain.ErrNotFound.
func (s *IdentityStore) UserByEmail(ctx context.Context, email identity.Email) (*identity.User, error) {
	var row userRow
	if err := s.db.Gorm.WithContext(ctx).Where("email = ?", email.String()).Take(&row).Error; err != nil {
		return nil, dbError("user by email", err)
	}
	return row.toDomain()
}

// UpdateUser loads the user under its row lock, lets fn change it and saves every
// field, in one transaction. fn's error rolls everything back and is returned as
// it is. An unknown id is domain.ErrNotFound, and fn is not called.
func (s *IdentityStore) UpdateUser(ctx context.Context, id uuid.UUID, fn func(*identity.User) error) error {
	return s.db.inTx(ctx, "update user "+id.String(), func(tx *gorm.DB) error {
		u, err := s.lockUser(tx, id)
		if err != nil {
			return err
		}
		if err := fromCaller(fn(u)); err != nil {
			return err
		}
		row := userFromDomain(u)
		if err := tx.Save(&row).Error; err != nil {
			return err
		}
		return writeEvents(tx, u.ID(), u.DrainEvents())
	}, emailTaken)
}

// CreateSession inserts s and its first refresh token in one transaction. A user
// that does not exist is domain.ErrNotFound.
func (s *IdentityStore) CreateSession(ctx context.Context, sess *identity.Session, first *identity.RefreshToken) error {
	row := sessionFromDomain(sess)
	token := refreshTokenFromDomain(first)
	err := s.db.Gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if err := tx.Create(&token).Error; err != nil {
			return err
		}
		return writeEvents(tx, sess.UserID(), sess.DrainEvents())
	})
	return dbError("create session "+sess.ID().String(), err)
}

// SessionByID returns the session with id, active or not, or domain.ErrNotFound.
func (s *IdentityStore) SessionByID(ctx context.Context, id uuid.UUID) (*identity.Session, error) {
	var row sessionRow
	if err := s.db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, dbError("session "+id.String(), err)
	}
	return row.toDomain(), nil
}

// SessionValidity reads only the three columns authentication needs, on every
// request: whose session it is, its expiry and its revocation; from the session
// cache when it has them.
func (s *IdentityStore) SessionValidity(ctx context.Context, id uuid.UUID) (identity.SessionValidity, error) {
	v, ok, gen := s.cache.get(id)
	if ok {
		return v, nil
	}
	err := s.db.SQL.QueryRowContext(ctx, s.validitySQL, id).Scan(&v.UserID, timeScan{&v.ExpiresAt}, timeScan{&v.RevokedAt})
	if err != nil {
		return identity.SessionValidity{}, dbError("session "+id.String(), err)
	}
	s.cache.put(id, v, gen)
	return v, nil
}

// ListActiveSessions returns the user's sessions that are neither revoked nor
// expired at now, newest first (ties broken by id, descending), skipping offset
// and returning at most limit (0 or less: no limit), with how many there are in all.
func (s *IdentityStore) ListActiveSessions(ctx context.Context, userID uuid.UUID, now time.Time, offset, limit int) ([]*identity.Session, int64, error) {
	active := func() *gorm.DB {
		return s.db.Gorm.WithContext(ctx).Model(&sessionRow{}).
			Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, dbTime(now))
	}
	op := "list sessions of user " + userID.String()
	var total int64
	if err := active().Count(&total).Error; err != nil {
		return nil, 0, dbError(op, err)
	}
	q := active().Order("created_at DESC").Order("id DESC").Offset(max(offset, 0))
	if limit > 0 {
		q = q.Limit(limit)
	}
	var rows []sessionRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, 0, dbError(op, err)
	}
	out := make([]*identity.Session, len(rows))
	for i, r := range rows {
		out[i] = r.toDomain()
	}
	return out, total, nil
}

// UpdateSession loads the session under its row lock, lets fn change it and saves
// every field, in one transaction. fn's error rolls everything back and is
// returned as it is. An unknown id is domain.ErrNotFound, and fn is not called.
func (s *IdentityStore) UpdateSession(ctx context.Context, id uuid.UUID, fn func(*identity.Session) error) error {
	defer s.cache.drop(id)
	return s.db.inTx(ctx, "update session "+id.String(), func(tx *gorm.DB) error {
		sess, err := s.lockSession(tx, id)
		if err != nil {
			return err
		}
		if err := fromCaller(fn(sess)); err != nil {
			return err
		}
		row := sessionFromDomain(sess)
		if err := tx.Save(&row).Error; err != nil {
			return err
		}
		return writeEvents(tx, sess.UserID(), sess.DrainEvents())
	})
}

// RevokeUserSessions revokes, at now and for reason, every session of the user
// that is active at now, except keep (uuid.Nil keeps none), and writes a
// session.revoked event for each, in one transaction. Sessions already
// revoked keep their first revocation; expired ones are left as they are.
func (s *IdentityStore) RevokeUserSessions(ctx context.Context, userID, keep uuid.UUID, now time.Time, reason identity.RevokeReason) error {
	defer s.cache.dropUser(userID)
	return s.db.inTx(ctx, "revoke sessions of user "+userID.String(), func(tx *gorm.DB) error {
		var ids []uuid.UUID
		err := tx.Model(&sessionRow{}).
			Where("user_id = ? AND id <> ? AND revoked_at IS NULL AND expires_at > ?", userID, keep, dbTime(now)).
			Order("id").Pluck("id", &ids).Error
		if err != nil || len(ids) == 0 {
			return err
		}
		// Revoked by id, under the row locks the update takes: a session
		// revoked meanwhile (revoked_at set) keeps its first revocation and
		// gets no second event.
		var revoked []uuid.UUID
		err = tx.Raw(`UPDATE sessions SET revoked_at = ?, revoke_reason = ?
			WHERE id IN ? AND revoked_at IS NULL RETURNING id`, dbTime(now), string(reason), ids).Scan(&revoked).Error
		if err != nil {
			return err
		}
		evs := make([]event.Event, len(revoked))
		for i, id := range revoked {
			evs[i] = identity.RevokedEvent(id, now, reason)
		}
		return writeEvents(tx, userID, evs)
	})
}

// RotateRefreshToken loads the refresh token with hash and its session under
// their row locks and calls rotate with them. Everything rotate changed (the
// presented token, the session, and the new token it returns, if any) is
// committed even when rotate returns an error; then rotate's error is returned as
// it is. An unknown digest is identity.ErrInvalidRefreshToken, and rotate is not
// called.
//
// Concurrent calls with one digest run one after the other, so only the first
// sees the token unused.
func (s *IdentityStore) RotateRefreshToken(ctx context.Context, hash identity.TokenHash,
	rotate func(presented *identity.RefreshToken, s *identity.Session) (*identity.RefreshToken, error),
) error {
	var (
		rotateErr error
		sessionID uuid.UUID
	)
	err := s.db.inTx(ctx, "rotate refresh token", func(tx *gorm.DB) error {
		var row refreshTokenRow
		if err := s.db.lockRow(tx, &row, "token_hash = ?", hash[:]); err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fromCaller(identity.ErrInvalidRefreshToken)
			}
			return err
		}
		presented, err := row.toDomain()
		if err != nil {
			return err
		}
		sess, err := s.lockSession(tx, presented.SessionID())
		if err != nil {
			return err
		}
		sessionID = sess.ID()
		var next *identity.RefreshToken
		next, rotateErr = rotate(presented, sess)
		// Commit regardless of rotateErr: reuse detection revokes the session here.
		row = refreshTokenFromDomain(presented)
		if err := tx.Save(&row).Error; err != nil {
			return err
		}
		sessRow := sessionFromDomain(sess)
		if err := tx.Save(&sessRow).Error; err != nil {
			return err
		}
		if next != nil {
			nextRow := refreshTokenFromDomain(next)
			if err := tx.Create(&nextRow).Error; err != nil {
				return err
			}
		}
		return writeEvents(tx, sess.UserID(), sess.DrainEvents())
	})
	if sessionID != uuid.Nil {
		s.cache.drop(sessionID) // after the commit, so no read can cache what came before
	}
	if err != nil {
		return err
	}
	return rotateErr
}

// CreateOneTimeToken stores t. A user that does not exist is domain.ErrNotFound.
func (s *IdentityStore) CreateOneTimeToken(ctx context.Context, t *identity.OneTimeToken) error {
	row := oneTimeTokenFromDomain(t)
	err := s.db.Gorm.WithContext(ctx).Create(&row).Error
	return dbError("create one-time token for user "+t.UserID().String(), err)
}

// VoidOneTimeTokens uses up, at now, every unused token of the user for purpose,
// in one statement.
func (s *IdentityStore) VoidOneTimeTokens(ctx context.Context, userID uuid.UUID, purpose identity.Purpose, now time.Time) error {
	err := s.db.Gorm.WithContext(ctx).Model(&oneTimeTokenRow{}).
		Where("user_id = ? AND purpose = ? AND used_at IS NULL", userID, purpose.String()).
		Update("used_at", dbTime(now)).Error
	return dbError("void one-time tokens of user "+userID.String(), err)
}

// CountOneTimeTokens counts the user's tokens for purpose created at or after
// since (compared as stored, to the microsecond), used or not.
func (s *IdentityStore) CountOneTimeTokens(ctx context.Context, userID uuid.UUID, purpose identity.Purpose, since time.Time) (int, error) {
	var n int64
	err := s.db.Gorm.WithContext(ctx).Model(&oneTimeTokenRow{}).
		Where("user_id = ? AND purpose = ? AND created_at >= ?", userID, purpose.String(), ceilMicrosecond(since)).
		Count(&n).Error
	return int(n), dbError("count one-time tokens of user "+userID.String(), err)
}

// PurgeExpired deletes, in one transaction, the never-verified users who
// registered before c.UnverifiedCreatedBefore (their sessions and tokens go
// with them, by the foreign keys), the sessions that expired or were revoked
// before c.SessionsEndedBefore (with their refresh tokens), and the one-time
// tokens that expired before c.TokensExpiredBefore.
func (s *IdentityStore) PurgeExpired(ctx context.Context, c identityapp.RetentionCutoffs) (identityapp.RetentionCounts, error) {
	var counts identityapp.RetentionCounts
	err := s.db.inTx(ctx, "purge expired identity records", func(tx *gorm.DB) error {
		// Stored times are whole microseconds, so "before t" is "before t
		// rounded up to the microsecond".
		users := tx.Where("email_verified_at IS NULL AND created_at < ?", ceilMicrosecond(c.UnverifiedCreatedBefore)).Delete(&userRow{})
		if users.Error != nil {
			return users.Error
		}
		ended := ceilMicrosecond(c.SessionsEndedBefore)
		sessions := tx.Where("expires_at < ? OR revoked_at < ?", ended, ended).Delete(&sessionRow{})
		if sessions.Error != nil {
			return sessions.Error
		}
		tokens := tx.Where("expires_at < ?", ceilMicrosecond(c.TokensExpiredBefore)).Delete(&oneTimeTokenRow{})
		counts = identityapp.RetentionCounts{Users: users.RowsAffected, Sessions: sessions.RowsAffected, OneTimeTokens: tokens.RowsAffected}
		return tokens.Error
	})
	return counts, err
}

// ConsumeOneTimeToken loads the one-time token with hash and its user under their
// row locks, calls fn with them and saves both, in one transaction. fn's error
// rolls everything back and is returned as it is. An unknown digest is
// identity.ErrInvalidOneTimeToken, and fn is not called.
func (s *IdentityStore) ConsumeOneTimeToken(ctx context.Context, hash identity.TokenHash, fn func(*identity.OneTimeToken, *identity.User) error) error {
	return s.db.inTx(ctx, "consume one-time token", func(tx *gorm.DB) error {
		var row oneTimeTokenRow
		if err := s.db.lockRow(tx, &row, "token_hash = ?", hash[:]); err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fromCaller(identity.ErrInvalidOneTimeToken)
			}
			return err
		}
		token, err := row.toDomain()
		if err != nil {
			return err
		}
		u, err := s.lockUser(tx, token.UserID())
		if err != nil {
			return err
		}
		if err := fromCaller(fn(token, u)); err != nil {
			return err
		}
		row = oneTimeTokenFromDomain(token)
		if err := tx.Save(&row).Error; err != nil {
			return err
		}
		userRow := userFromDomain(u)
		if err := tx.Save(&userRow).Error; err != nil {
			return err
		}
		return writeEvents(tx, u.ID(), u.DrainEvents())
	}, emailTaken)
}

func (s *IdentityStore) lockUser(tx *gorm.DB, id uuid.UUID) (*identity.User, error) {
	var row userRow
	if err := s.db.lockRow(tx, &row, "id = ?", id); err != nil {
		return nil, err
	}
	return row.toDomain()
}

func (s *IdentityStore) lockSession(tx *gorm.DB, id uuid.UUID) (*identity.Session, error) {
	var row sessionRow
	if err := s.db.lockRow(tx, &row, "id = ?", id); err != nil {
		return nil, err
	}
	return row.toDomain(), nil
}

package persistence

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/dashtam/dashtam/application/jobs"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
)

var _ providersapp.Authorizations = (*AuthorizationStore)(nil)

// AuthorizationStore keeps provider authorizations in the database, with their
// credentials (access token, refresh token and the institution's connection id)
// encrypted by a TokenCipher. It implements the providers
// application's Authorizations port; callers see credentials in clear.
//
// Each ciphertext is bound by its associated data to its row (user and provider)
// and column, so a ciphertext copied elsewhere fails to decrypt, and a failure to
// decrypt is an error, never an empty credential.
//
// UpdateAuthorization runs its closure inside a transaction holding the row locks
// of the provider and then of its authorization: SELECT ... FOR UPDATE on
// Postgres; on SQLite the connection begins every transaction IMMEDIATE, which
// already takes the database's single write lock. The closure must not call back
// into the store.
type AuthorizationStore struct {
	db     *DB
	cipher TokenCipher
	// reencryptBatch is how many rows ReencryptAll reads at a time.
	reencryptBatch int
	// syncs and firstSync, when set (WithFirstSync), begin a provider's
	// first sync in the transaction that saves its grant.
	syncs     *SyncStore
	firstSync FirstSync
	// setAsideQueue, when set (WithSetAside), enqueues the jobs that revoke
	// set-aside credentials at their institution.
	setAsideQueue JobQueue
}

// AuthorizationOption configures an AuthorizationStore.
type AuthorizationOption func(*AuthorizationStore)

// FirstSync returns the sync a grant of the provider's authorization begins,
// granted at now, and the job that runs it.
type FirstSync func(providerID uuid.UUID, now time.Time) (*datasync.Sync, jobs.Job)

// WithFirstSync makes UpdateAuthorization begin a sync, the one first
// returns, whenever it saves an authorization that turned active in that
// call (a grant landed): it is begun through syncs (SyncStore.Begin's rules:
// a sync already in flight is joined) in the transaction that saves the
// grant, so the grant and its first sync, job included, commit together or
// not at all.
func WithFirstSync(syncs *SyncStore, first FirstSync) AuthorizationOption {
	return func(s *AuthorizationStore) { s.syncs, s.firstSync = syncs, first }
}

// NewAuthorizationStore returns a store on db, which must be migrated, that
// encrypts under cipher's primary key and decrypts with any of its keys.
func NewAuthorizationStore(db *DB, cipher TokenCipher, opts ...AuthorizationOption) *AuthorizationStore {
	s := &AuthorizationStore{db: db, cipher: cipher, reencryptBatch: 200}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// AuthorizationByProvider returns the provider's authorization, or
// domain.ErrNotFound if none was ever started (or the provider does not exist).
func (s *AuthorizationStore) AuthorizationByProvider(ctx context.Context, providerID uuid.UUID) (*provider.Authorization, error) {
	var row authorizationRow
	if err := s.db.Gorm.WithContext(ctx).Where("provider_id = ?", providerID).Take(&row).Error; err != nil {
		return nil, dbError("authorization of provider "+providerID.String(), err)
	}
	return row.toDomain(s.cipher)
}

// AuthorizationByState returns the authorization whose attempt in flight has
// this state digest, or domain.ErrNotFound. A used-up state (the attempt was
// completed or replaced) is not found; an expired one is, and the domain refuses
// it.
func (s *AuthorizationStore) AuthorizationByState(ctx context.Context, stateHash [32]byte) (*provider.Authorization, error) {
	var row authorizationRow
	if err := s.db.Gorm.WithContext(ctx).Where("state_hash = ?", stateHash[:]).Take(&row).Error; err != nil {
		return nil, dbError("authorization by state", err)
	}
	return row.toDomain(s.cipher)
}

// ProvidersByExternalID returns the providers of type providerKey whose
// authorization holds credentials with this external id digest
// (provider.HashExternalID of Plaid's item_id), through an index, in order
// of id. None is an empty list.
func (s *AuthorizationStore) ProvidersByExternalID(ctx context.Context, providerKey string, externalIDHash [32]byte) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.db.Gorm.WithContext(ctx).Table("authorizations AS a").
		Joins("JOIN providers AS p ON p.id = a.provider_id").
		Where("a.external_id_hash = ? AND p.provider_key = ?", externalIDHash[:], providerKey).
		Order("a.provider_id").Pluck("a.provider_id", &ids).Error
	if err != nil {
		return nil, dbError("providers by external id", err)
	}
	return ids, nil
}

// UpdateAuthorization loads the provider and its authorization (nil when none
// exists yet) under their row locks, calls fn with them, and saves the
// authorization fn returns (inserted when new, every field otherwise) and the
// provider (every field, only if fn changed it), in one transaction. It returns
// both as stored after the commit; the authorization is the current one (nil
// when none) if fn returned nil, which saves only the provider. fn's error
// rolls everything back and is returned as it is. fn may not return the
// authorization of another provider (an error, and nothing is saved).
//
// When the store was built WithFirstSync and the saved authorization turned
// active in this call (it was not active before fn), the sync of the grant is
// begun in the same transaction: if it cannot be (its job not enqueued),
// nothing is saved and the error is returned.
//
// An unknown provider is domain.ErrNotFound, and fn is not called; so is a
// provider deleted meanwhile. A rename onto a taken alias is
// provider.ErrAliasTaken. A stored credential that does not decrypt is an
// error, and fn is not called.
func (s *AuthorizationStore) UpdateAuthorization(ctx context.Context, providerID uuid.UUID,
	fn func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error),
) (*provider.Provider, *provider.Authorization, error) {
	var (
		savedP *provider.Provider
		savedA *provider.Authorization
	)
	err := s.db.inTx(ctx, "update authorization of provider "+providerID.String(), func(tx *gorm.DB) error {
		p, err := lockProvider(s.db, tx, providerID)
		if err != nil {
			return err
		}
		current, err := s.lockAuthorization(tx, providerID)
		if err != nil {
			return err
		}
		before, wasActive := p.Version(), current != nil && current.Status() == provider.AuthorizationActive
		next, err := fn(p, current)
		if err := fromCaller(err); err != nil {
			return err
		}
		savedA = current
		if next != nil {
			if savedA, err = s.saveAuthorization(tx, p, next, current == nil); err != nil {
				return err
			}
			if !wasActive && savedA.Status() == provider.AuthorizationActive {
				if err := s.beginFirstSync(ctx, tx, savedA); err != nil {
					return err
				}
			}
			if creds := next.SetAside(); !creds.IsZero() {
				if err := s.keepSetAside(ctx, tx, p, creds, next.Snapshot().UpdatedAt); err != nil {
					return err
				}
			}
		}
		if savedP, err = saveProvider(tx, p, before); err != nil || next == nil {
			return err
		}
		return writeEvents(tx, p.UserID(), next.DrainEvents())
	}, aliasTaken)
	if err != nil {
		return nil, nil, err
	}
	return savedP, savedA, nil
}

// beginFirstSync begins, in tx, the sync of a's provider that its grant calls
// for (WithFirstSync), if the store was given one.
func (s *AuthorizationStore) beginFirstSync(ctx context.Context, tx *gorm.DB, a *provider.Authorization) error {
	if s.firstSync == nil {
		return nil
	}
	grantedAt := a.AuthorizedAt()
	if grantedAt.IsZero() {
		grantedAt = a.Snapshot().UpdatedAt
	}
	first, job := s.firstSync(a.ProviderID(), grantedAt)
	if _, _, err := s.syncs.beginTx(ctx, tx, first, job); err != nil {
		return fmt.Errorf("begin the first sync of provider %s: %w", a.ProviderID(), err)
	}
	return nil
}

// saveAuthorization inserts (isNew) or saves every field of a, which must be
// p's, and returns it as a read would give it back.
func (s *AuthorizationStore) saveAuthorization(tx *gorm.DB, p *provider.Provider, a *provider.Authorization, isNew bool) (*provider.Authorization, error) {
	if a.ProviderID() != p.ID() || a.UserID() != p.UserID() {
		return nil, fmt.Errorf("the closure returned the authorization of provider %s (user %s) for provider %s (user %s)",
			a.ProviderID(), a.UserID(), p.ID(), p.UserID())
	}
	row, err := authorizationFromDomain(a, s.cipher)
	if err != nil {
		return nil, err
	}
	save := tx.Save
	if isNew {
		save = tx.Create
	}
	if err := save(&row).Error; err != nil {
		return nil, err
	}
	return row.toDomain(s.cipher)
}

// lockAuthorization loads the provider's authorization under its row lock, or
// nil when there is none.
func (s *AuthorizationStore) lockAuthorization(tx *gorm.DB, providerID uuid.UUID) (*provider.Authorization, error) {
	var row authorizationRow
	err := s.db.lockRow(tx, &row, "provider_id = ?", providerID)
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return row.toDomain(s.cipher)
}

// The claim of ClaimDueRefreshes. Both pick the rows in one statement, so a row
// is claimed by one caller only: on Postgres, FOR UPDATE SKIP LOCKED passes over
// rows another transaction holds (and re-checks, after taking a row's lock, that
// it is still claimable); SQLite runs one writer at a time, so there a claim
// waits for a write in progress instead of skipping its row.
//
// On Postgres the candidates are a CTE rather than an IN (subquery): a CTE with
// FOR UPDATE is never inlined, so it runs once and the LIMIT bounds what is
// locked and updated, whatever plan the UPDATE gets.
//
// 'active' is written out, not a parameter, so that the partial index
// authorizations_refresh_due_idx, whose predicate is the same text, serves the
// query under a generic plan too. It is provider.StatusActive's name.
const (
	claimDueWhere = `status = 'active' AND refresh_token_ct IS NOT NULL AND token_expires_at < ?
		AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= ?)`

	claimDuePostgres = `WITH due AS (
		SELECT provider_id FROM authorizations
		WHERE ` + claimDueWhere + `
		ORDER BY token_expires_at, provider_id
		LIMIT ?
		FOR UPDATE SKIP LOCKED
	)
	UPDATE authorizations AS a SET lease_owner = ?, lease_until = ?
	FROM due WHERE a.provider_id = due.provider_id
	RETURNING a.*`

	claimDueSQLite = `UPDATE authorizations SET lease_owner = ?, lease_until = ?
	WHERE provider_id IN (
		SELECT provider_id FROM authorizations
		WHERE ` + claimDueWhere + `
		ORDER BY token_expires_at, provider_id
		LIMIT ?
	)
	RETURNING *`
)

// ClaimDueRefreshes gives owner the refresh lease, until until, of at most limit
// active authorizations that hold a refresh token, whose access token expires
// before dueBefore and whose lease is free or ran out (lease_until <= now), the
// soonest expiring first, and returns them in that order (ties by provider id).
// Rows another instance is claiming at the same moment are skipped, never waited
// for, so concurrent callers get disjoint sets. A limit below 1 claims nothing.
//
// The claim is committed before the credentials are decrypted. If some do not
// decrypt, the authorizations that did are returned together with an error
// naming the others, which keep their lease until it runs out.
func (s *AuthorizationStore) ClaimDueRefreshes(ctx context.Context, owner uuid.UUID, now, dueBefore, until time.Time, limit int) ([]*provider.Authorization, error) {
	if limit < 1 {
		return nil, nil
	}
	// Stored times are whole microseconds: t < dueBefore exactly when
	// t < ceil(dueBefore), and t <= now exactly when t <= floor(now).
	due, free := ceilMicrosecond(dueBefore), dbTime(now)
	var (
		rows []authorizationRow
		q    *gorm.DB
		db   = s.db.Gorm.WithContext(ctx)
	)
	if s.db.Dialect == Postgres {
		q = db.Raw(claimDuePostgres, due, free, limit, owner, dbTime(until))
	} else {
		q = db.Raw(claimDueSQLite, owner, dbTime(until), due, free, limit)
	}
	if err := q.Scan(&rows).Error; err != nil {
		return nil, dbError("claim due refreshes", err)
	}
	// RETURNING has no order.
	slices.SortFunc(rows, func(a, b authorizationRow) int {
		return cmp.Or(a.TokenExpiresAt.Compare(*b.TokenExpiresAt), slices.Compare(a.ProviderID[:], b.ProviderID[:]))
	})
	out := make([]*provider.Authorization, 0, len(rows))
	var errs []error
	for _, r := range rows {
		a, err := r.toDomain(s.cipher)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("claim due refreshes: %d of %d claimed authorizations are unreadable: %w",
			len(errs), len(rows), errors.Join(errs...))
	}
	return out, nil
}

// ReencryptAll re-encrypts, under the cipher's primary key, every stored
// credential that is under another key, so that key can be retired. It walks
// every authorization in batches, decrypts every credential (so a nil error also
// proves that the whole table reads under the current keyring) and rewrites a
// row whose ciphertexts are not all primary in a transaction of its own, under
// the row lock, leaving every other column (updated_at included) as it is. It
// returns how many rows it rewrote.
//
// It runs alongside the service: concurrent updates and claims only wait for one
// row. A row that does not decrypt is skipped and reported in the error, after
// the walk, so that one bad row does not hold up the rest; a database error stops
// the walk at once. Running it again after success rewrites nothing.
func (s *AuthorizationStore) ReencryptAll(ctx context.Context) (reencrypted int, err error) {
	const op = "re-encrypt authorizations"
	var (
		after  uuid.UUID
		failed []error
	)
	for {
		var batch []authorizationRow
		err := s.db.Gorm.WithContext(ctx).Where("provider_id > ?", after).
			Order("provider_id").Limit(s.reencryptBatch).Find(&batch).Error
		if err != nil {
			return reencrypted, dbError(op, err)
		}
		for i := range batch {
			r := &batch[i]
			if !s.allPrimary(r) {
				changed, err := s.reencryptRow(ctx, r.ProviderID)
				var rowErr *rowCryptoError
				switch {
				case errors.As(err, &rowErr):
					failed = append(failed, rowErr.err)
				case err != nil:
					return reencrypted, dbError(op, err)
				case changed:
					reencrypted++
				}
				continue
			}
			// Already current: check that it reads all the same.
			for _, f := range r.secretFields() {
				if len(*f.value) == 0 {
					continue
				}
				pt, err := r.decrypt(s.cipher, f)
				if err != nil {
					failed = append(failed, err)
					break
				}
				clear(pt)
			}
		}
		if len(batch) < s.reencryptBatch {
			break
		}
		after = batch[len(batch)-1].ProviderID
	}
	if len(failed) > 0 {
		const shown = 10 // a retired key may make thousands of rows fail alike
		return reencrypted, fmt.Errorf("%s: %d authorizations could not be decrypted and were left as they are (the first %d follow): %w",
			op, len(failed), min(shown, len(failed)), errors.Join(failed[:min(shown, len(failed))]...))
	}
	return reencrypted, nil
}

// allPrimary reports whether every ciphertext of r is under the primary key
// (and, for a row saved before external_id_hash existed, whether it has its
// lookup digest: the pass rewrites it otherwise, to fill it in).
func (s *AuthorizationStore) allPrimary(r *authorizationRow) bool {
	if len(r.ExternalIDCT) != 0 && len(r.ExternalIDHash) == 0 {
		return false
	}
	for _, f := range r.secretFields() {
		if len(*f.value) != 0 && !s.cipher.IsPrimary(*f.value) {
			return false
		}
	}
	return true
}

// rowCryptoError is a row ReencryptAll cannot decrypt, as opposed to a failing
// database.
type rowCryptoError struct{ err error }

func (e *rowCryptoError) Error() string { return e.err.Error() }
func (e *rowCryptoError) Unwrap() error { return e.err }

// reencryptRow decrypts every ciphertext of one row and re-encrypts those that
// are not under the primary key, under the row lock, and reports whether it changed the row (not
// when it is gone or was re-encrypted meanwhile).
func (s *AuthorizationStore) reencryptRow(ctx context.Context, providerID uuid.UUID) (changed bool, err error) {
	err = s.db.Gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r authorizationRow
		err := s.db.lockRow(tx, &r, "provider_id = ?", providerID)
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			return nil // deleted meanwhile
		case err != nil:
			return err
		}
		updates := map[string]any{}
		for _, f := range r.secretFields() {
			if len(*f.value) == 0 {
				continue
			}
			pt, err := r.decrypt(s.cipher, f)
			if err != nil {
				return &rowCryptoError{err: err}
			}
			if f.column == colExternalID && len(r.ExternalIDHash) == 0 {
				h := provider.HashExternalID(string(pt))
				updates["external_id_hash"] = h[:]
			}
			if s.cipher.IsPrimary(*f.value) {
				clear(pt)
				continue
			}
			ct, err := s.cipher.Encrypt(pt, credentialAAD(r.UserID, r.ProviderID, f.aadField))
			clear(pt)
			if err != nil {
				return &rowCryptoError{err: fmt.Errorf("authorization of provider %s: encrypt %s: %w", r.ProviderID, f.aadField, err)}
			}
			updates[f.column] = ct
		}
		if len(updates) == 0 {
			return nil
		}
		if err := tx.Model(&authorizationRow{}).Where("provider_id = ?", providerID).Updates(updates).Error; err != nil {
			return err
		}
		changed = true
		return nil
	})
	return changed, err
}

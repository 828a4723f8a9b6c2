package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
)

var _ datasyncapp.Store = (*SyncStore)(nil)

// errSyncInFlight: a second sync of a provider was inserted while one is in
// flight. Begin decides under the provider's row lock, so only a bug reaches
// the unique index that reports it.
var errSyncInFlight = fmt.Errorf("a sync of this provider is already in flight: %w", domain.ErrConflict)

// syncInFlight is the partial unique index of one sync in flight per provider.
var syncInFlight = uniqueKey{
	index:   "syncs_provider_id_in_flight_key",
	columns: "syncs.provider_id",
	err:     errSyncInFlight,
}

// inFlightStatuses are the statuses datasync.Status.InFlight names, as the
// index syncs_provider_id_in_flight_key's predicate spells them.
var inFlightStatuses = []string{datasync.StatusQueued.String(), datasync.StatusRunning.String()}

// SyncStore keeps syncs and each provider's sync state in the database. It
// implements the datasync application's Store port, and enqueues each sync's
// job on its JobQueue in the transaction that inserts the sync.
type SyncStore struct {
	db    *DB
	queue JobQueue
}

// NewSyncStore returns a store on db, which must be migrated, that enqueues
// the jobs of the syncs it begins on queue.
func NewSyncStore(db *DB, queue JobQueue) *SyncStore {
	return &SyncStore{db: db, queue: queue}
}

// syncRow mirrors the syncs table of migrations/*/00009.
type syncRow struct {
	ID                   uuid.UUID  `gorm:"column:id;primaryKey"`
	ProviderID           uuid.UUID  `gorm:"column:provider_id"`
	UserID               uuid.UUID  `gorm:"column:user_id"`
	Trigger              string     `gorm:"column:trigger"`
	Status               string     `gorm:"column:status"`
	AccountsTotal        int        `gorm:"column:accounts_total"`
	AccountsDone         int        `gorm:"column:accounts_done"`
	AccountsAdded        int        `gorm:"column:accounts_added"`
	AccountsUpdated      int        `gorm:"column:accounts_updated"`
	AccountsClosed       int        `gorm:"column:accounts_closed"`
	TransactionsAdded    int        `gorm:"column:transactions_added"`
	TransactionsModified int        `gorm:"column:transactions_modified"`
	TransactionsRemoved  int        `gorm:"column:transactions_removed"`
	HoldingsAdded        int        `gorm:"column:holdings_added"`
	HoldingsUpdated      int        `gorm:"column:holdings_updated"`
	HoldingsRemoved      int        `gorm:"column:holdings_removed"`
	Errors               string     `gorm:"column:errors"`
	CreatedAt            time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	StartedAt            *time.Time `gorm:"column:started_at"`
	FinishedAt           *time.Time `gorm:"column:finished_at"`
}

func (syncRow) TableName() string { return "syncs" }

// syncErrorJSON is one element of syncs.errors: an AccountError, whose
// message is Dashtam's own words (never an institution's text or a secret).
// The whole provider's errors have the nil account id.
type syncErrorJSON struct {
	AccountID uuid.UUID `json:"account_id"`
	Code      string    `json:"code"`
	Message   string    `json:"message"`
	Retryable bool      `json:"retryable"`
}

func syncFromDomain(s *datasync.Sync, userID uuid.UUID) (syncRow, error) {
	snap := s.Snapshot()
	errs := make([]syncErrorJSON, 0, len(snap.Errors))
	for _, e := range snap.Errors {
		errs = append(errs, syncErrorJSON{AccountID: e.AccountID, Code: e.Code, Message: e.Message, Retryable: e.Retryable})
	}
	errsJSON, err := json.Marshal(errs)
	if err != nil {
		return syncRow{}, fmt.Errorf("sync %s: errors: %w", snap.ID, err)
	}
	r := snap.Results
	return syncRow{ID: snap.ID, ProviderID: snap.ProviderID, UserID: userID, Trigger: snap.Trigger.String(),
		Status: snap.Status.String(), AccountsTotal: snap.Progress.AccountsTotal, AccountsDone: snap.Progress.AccountsDone,
		AccountsAdded: r.Accounts.Added, AccountsUpdated: r.Accounts.Updated, AccountsClosed: r.Accounts.Closed,
		TransactionsAdded: r.Transactions.Added, TransactionsModified: r.Transactions.Modified,
		TransactionsRemoved: r.Transactions.Removed, HoldingsAdded: r.Holdings.Added,
		HoldingsUpdated: r.Holdings.Updated, HoldingsRemoved: r.Holdings.Removed, Errors: string(errsJSON),
		CreatedAt: dbTime(snap.CreatedAt), StartedAt: nullableTime(snap.StartedAt), FinishedAt: nullableTime(snap.FinishedAt),
	}, nil
}

func (r syncRow) toDomain() (*datasync.Sync, error) {
	trigger, err := datasync.ParseTrigger(r.Trigger)
	if err != nil {
		return nil, fmt.Errorf("sync %s: stored trigger: %w", r.ID, err)
	}
	status, err := datasync.ParseStatus(r.Status)
	if err != nil {
		return nil, fmt.Errorf("sync %s: stored status: %w", r.ID, err)
	}
	var stored []syncErrorJSON
	if err := json.Unmarshal([]byte(r.Errors), &stored); err != nil {
		return nil, fmt.Errorf("sync %s: stored errors: %w", r.ID, err)
	}
	var errs []datasync.AccountError
	for _, e := range stored {
		errs = append(errs, datasync.AccountError{AccountID: e.AccountID, Code: e.Code, Message: e.Message, Retryable: e.Retryable})
	}
	return datasync.Rehydrate(datasync.Snapshot{ID: r.ID, ProviderID: r.ProviderID, Trigger: trigger, Status: status,
		Progress: datasync.Progress{AccountsTotal: r.AccountsTotal, AccountsDone: r.AccountsDone},
		Results: datasync.Results{
			Accounts:     datasync.AccountResults{Added: r.AccountsAdded, Updated: r.AccountsUpdated, Closed: r.AccountsClosed},
			Transactions: datasync.TransactionResults{Added: r.TransactionsAdded, Modified: r.TransactionsModified, Removed: r.TransactionsRemoved},
			Holdings:     datasync.HoldingResults{Added: r.HoldingsAdded, Updated: r.HoldingsUpdated, Removed: r.HoldingsRemoved},
		},
		Errors: errs, CreatedAt: r.CreatedAt.UTC(), StartedAt: domainTime(r.StartedAt), FinishedAt: domainTime(r.FinishedAt),
	}), nil
}

// syncStateRow is a provider_sync_states row but for its transaction resume
// state, which the FinanceStore writes with each page.
type syncStateRow struct {
	ProviderID   uuid.UUID  `gorm:"column:provider_id;primaryKey"`
	LastSyncedAt *time.Time `gorm:"column:last_synced_at"`
	DataAsOf     *time.Time `gorm:"column:data_as_of"`
	NextSyncAt   *time.Time `gorm:"column:next_sync_at"`
}

func (syncStateRow) TableName() string { return "provider_sync_states" }

func (r syncStateRow) toState() datasyncapp.State {
	return datasyncapp.State{ProviderID: r.ProviderID, LastSyncedAt: domainTime(r.LastSyncedAt),
		DataAsOf: domainTime(r.DataAsOf), NextSyncAt: domainTime(r.NextSyncAt)}
}

// Begin locks the provider's row and, in one transaction, either returns the
// provider's sync in flight (joined) or inserts s and enqueues job. An unknown
// provider is domain.ErrNotFound.
func (s *SyncStore) Begin(ctx context.Context, sy *datasync.Sync, job jobs.Job) (*datasync.Sync, bool, error) {
	var (
		got    *datasync.Sync
		joined bool
	)
	err := s.db.inTx(ctx, "begin a sync of provider "+sy.ProviderID().String(), func(tx *gorm.DB) error {
		var err error
		got, joined, err = s.beginTx(ctx, tx, sy, job)
		return err
	}, syncInFlight)
	if err != nil {
		return nil, false, err
	}
	return got, joined, nil
}

// beginTx is Begin in tx, a transaction the caller opened: Begin's own, or
// the one of an authorization whose grant begins the first sync. Locking the
// provider's row serializes the Begins of one provider, so the second finds
// the first's sync; the partial unique index backs that up.
func (s *SyncStore) beginTx(ctx context.Context, tx *gorm.DB, sy *datasync.Sync, job jobs.Job) (*datasync.Sync, bool, error) {
	p, err := lockProvider(s.db, tx, sy.ProviderID())
	if err != nil {
		return nil, false, err
	}
	var row syncRow
	err = tx.Where("provider_id = ? AND status IN ?", sy.ProviderID(), inFlightStatuses).Take(&row).Error
	switch {
	case err == nil:
		inFlight, err := row.toDomain()
		return inFlight, true, err
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return nil, false, err
	}
	if row, err = syncFromDomain(sy, p.UserID()); err != nil {
		return nil, false, err
	}
	if err := tx.Create(&row).Error; err != nil {
		return nil, false, err
	}
	if _, err := enqueueTx(ctx, s.queue, tx, job); err != nil {
		return nil, false, err
	}
	saved, err := row.toDomain()
	return saved, false, err
}

// SyncByID returns the sync with id, or domain.ErrNotFound.
func (s *SyncStore) SyncByID(ctx context.Context, id uuid.UUID) (*datasync.Sync, error) {
	var row syncRow
	if err := s.db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, dbError("get sync "+id.String(), err)
	}
	return row.toDomain()
}

// ListSyncs returns one page of q.ProviderID's syncs, newest first (created
// at, then id, both descending), older than q.Before when it is set: a keyset
// page of the index (provider_id, created_at, id) scanned backwards. A Before
// that names no sync gives an empty page.
func (s *SyncStore) ListSyncs(ctx context.Context, q datasyncapp.SyncQuery) ([]*datasync.Sync, error) {
	stmt := s.db.Gorm.WithContext(ctx).Where("provider_id = ?", q.ProviderID)
	if q.Before != uuid.Nil {
		stmt = stmt.Where("(created_at, id) < (SELECT b.created_at, b.id FROM syncs b WHERE b.id = ?)", q.Before)
	}
	var rows []syncRow
	if err := stmt.Order("created_at DESC, id DESC").Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, dbError("list syncs of provider "+q.ProviderID.String(), err)
	}
	out := make([]*datasync.Sync, 0, len(rows))
	for _, r := range rows {
		sy, err := r.toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, sy)
	}
	return out, nil
}

// UpdateSync locks the sync's provider and the sync (lockSync), loads the
// provider's state (zero but for the provider when it has none yet), calls
// fn, and saves both, in one transaction; it returns the sync as saved. fn's error rolls everything back
// and is returned as it is. An unknown sync is domain.ErrNotFound, and fn is
// not called.
func (s *SyncStore) UpdateSync(ctx context.Context, id uuid.UUID, fn func(*datasync.Sync, *datasyncapp.State) error) (*datasync.Sync, error) {
	var saved *datasync.Sync
	err := s.db.inTx(ctx, "update sync "+id.String(), func(tx *gorm.DB) error {
		row, err := s.lockSync(tx, id)
		if err != nil {
			return err
		}
		sy, err := row.toDomain()
		if err != nil {
			return err
		}
		st, err := loadSyncState(tx, row.ProviderID)
		if err != nil {
			return err
		}
		if err := fromCaller(fn(sy, &st)); err != nil {
			return err
		}
		if sy.ID() != id || sy.ProviderID() != row.ProviderID {
			return fmt.Errorf("update sync %s: the closure replaced the sync's identity", id)
		}
		next, err := syncFromDomain(sy, row.UserID)
		if err != nil {
			return err
		}
		if err := tx.Save(&next).Error; err != nil {
			return err
		}
		st.ProviderID = row.ProviderID
		if err := saveSyncState(tx, st); err != nil {
			return err
		}
		if err := writeEvents(tx, row.UserID, sy.DrainEvents()); err != nil {
			return err
		}
		saved, err = next.toDomain()
		return err
	}, syncInFlight)
	if err != nil {
		return nil, err
	}
	return saved, nil
}

// lockSync locks the sync's provider and then the sync. Every writer of a
// provider's data takes the provider's row first (FinanceStore.lockAccount
// says why); the state row UpdateSync upserts is also written by each page of
// transactions (StoreTransactionPage), which holds the provider's lock, so
// taking it here too keeps the two from waiting on each other in a cycle. A
// sync never changes provider, so reading it unlocked first is safe.
func (s *SyncStore) lockSync(tx *gorm.DB, id uuid.UUID) (syncRow, error) {
	var row syncRow
	if err := tx.Select("provider_id").Where("id = ?", id).Take(&row).Error; err != nil {
		return row, err
	}
	if _, err := lockProvider(s.db, tx, row.ProviderID); err != nil {
		return row, err
	}
	err := s.db.lockRow(tx, &row, "id = ?", id)
	return row, err
}

// loadSyncState returns the provider's state, zero but for ProviderID when
// it has no row.
func loadSyncState(tx *gorm.DB, providerID uuid.UUID) (datasyncapp.State, error) {
	var rows []syncStateRow
	err := tx.Select("provider_id, last_synced_at, data_as_of, next_sync_at").
		Where("provider_id = ?", providerID).Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return datasyncapp.State{ProviderID: providerID}, err
	}
	return rows[0].toState(), nil
}

// saveSyncState writes st into its provider's row, creating the row if it
// has none, and leaves the transaction resume state as it is.
func saveSyncState(tx *gorm.DB, st datasyncapp.State) error {
	return tx.Exec(`INSERT INTO provider_sync_states (provider_id, last_synced_at, data_as_of, next_sync_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (provider_id) DO UPDATE SET last_synced_at = excluded.last_synced_at,
			data_as_of = excluded.data_as_of, next_sync_at = excluded.next_sync_at`,
		st.ProviderID, nullableTime(st.LastSyncedAt), nullableTime(st.DataAsOf), nullableTime(st.NextSyncAt)).Error
}

// ProviderState returns the provider's state, zero but for ProviderID before
// its first sync. An unknown provider is domain.ErrNotFound.
func (s *SyncStore) ProviderState(ctx context.Context, providerID uuid.UUID) (datasyncapp.State, error) {
	op := "sync state of provider " + providerID.String()
	var rows []syncStateRow
	err := s.db.Gorm.WithContext(ctx).Raw(`SELECT p.id AS provider_id, s.last_synced_at, s.data_as_of, s.next_sync_at
		FROM providers p LEFT JOIN provider_sync_states s ON s.provider_id = p.id WHERE p.id = ?`, providerID).Scan(&rows).Error
	switch {
	case err != nil:
		return datasyncapp.State{}, dbError(op, err)
	case len(rows) == 0:
		return datasyncapp.State{}, dbError(op, gorm.ErrRecordNotFound)
	}
	return rows[0].toState(), nil
}

// ProviderStates returns the State of each of the providers that has one
// (a provider never synced has none), by provider id, in one read: a page of
// providers shows each one's last_synced_at and data_as_of.
func (s *SyncStore) ProviderStates(ctx context.Context, providerIDs []uuid.UUID) (map[uuid.UUID]datasyncapp.State, error) {
	out := make(map[uuid.UUID]datasyncapp.State, len(providerIDs))
	if len(providerIDs) == 0 {
		return out, nil
	}
	var rows []syncStateRow
	err := s.db.Gorm.WithContext(ctx).Select("provider_id, last_synced_at, data_as_of, next_sync_at").
		Where("provider_id IN ?", providerIDs).Find(&rows).Error
	if err != nil {
		return nil, dbError("sync states of providers", err)
	}
	for _, r := range rows {
		out[r.ProviderID] = r.toState()
	}
	return out, nil
}

// dueProvidersSQL selects the providers whose authorization is active, whose
// user is not disabled, and that are due: no state row, no next sync time
// (due now), or a next sync time not after the given instant. Those never
// scheduled come first, then the most overdue; ties by id. 'active' is
// provider.AuthorizationActive's name: a provider whose authorization needs
// the user is not due; 'disabled' is identity.UserDisabled's: an operator
// disabled the user, and their syncs stop until they are enabled.
const dueProvidersSQL = `SELECT p.id FROM providers p
	JOIN authorizations a ON a.provider_id = p.id
	JOIN users u ON u.id = p.user_id
	LEFT JOIN provider_sync_states s ON s.provider_id = p.id
	WHERE a.status = 'active' AND u.status <> 'disabled' AND (s.next_sync_at IS NULL OR s.next_sync_at <= ?)
	ORDER BY CASE WHEN s.next_sync_at IS NULL THEN 0 ELSE 1 END, s.next_sync_at, p.id
	LIMIT ?`

// DueProviders returns at most limit providers due for a scheduled sync at
// now, most overdue first (dueProvidersSQL). A limit below 1 returns none.
func (s *SyncStore) DueProviders(ctx context.Context, now time.Time, limit int) ([]uuid.UUID, error) {
	if limit < 1 {
		return nil, nil
	}
	var ids []uuid.UUID
	// Stored times are whole microseconds: t <= now exactly when t <= floor(now).
	if err := s.db.Gorm.WithContext(ctx).Raw(dueProvidersSQL, dbTime(now), limit).Scan(&ids).Error; err != nil {
		return nil, dbError("due providers", err)
	}
	return ids, nil
}

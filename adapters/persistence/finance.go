package persistence

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/finance"
)

// The unique keys of the financial data, and what their violation means.
var (
	accountKeyTaken = uniqueKey{
		index:   "accounts_provider_id_institution_account_id_key",
		columns: "accounts.provider_id, accounts.institution_account_id",
		err:     financeapp.ErrKeyTaken,
	}
	transactionKeyTaken = uniqueKey{
		index:   "transactions_account_id_institution_transaction_id_key",
		columns: "transactions.account_id, transactions.institution_transaction_id",
		err:     financeapp.ErrKeyTaken,
	}
)

// FinanceStore keeps accounts, transactions, balances, securities and
// holdings in the database. It implements
// the finance application's Writes and Reads ports.
type FinanceStore struct{ db *DB }

// NewFinanceStore returns a store on db.
func NewFinanceStore(db *DB) *FinanceStore { return &FinanceStore{db: db} }

// UpdateAccounts locks the provider's row, which serializes the writers of
// its accounts, loads its accounts, calls fn and saves what fn returns, in one
// transaction. An unknown provider is domain.ErrNotFound.
func (s *FinanceStore) UpdateAccounts(ctx context.Context, providerID uuid.UUID,
	fn func(stored []*finance.Account) ([]*finance.Account, error),
) (financeapp.AccountCounts, error) {
	var counts financeapp.AccountCounts
	err := s.db.inTx(ctx, "update accounts of provider "+providerID.String(), func(tx *gorm.DB) error {
		p, err := lockProvider(s.db, tx, providerID)
		if err != nil {
			return err
		}
		var rows []accountRow
		if err := tx.Where("provider_id = ?", providerID).Order("id").Find(&rows).Error; err != nil {
			return err
		}
		stored, err := accountsOf(rows)
		if err != nil {
			return err
		}
		before := map[uuid.UUID]*finance.Account{}
		for _, a := range stored {
			before[a.ID()] = finance.RehydrateAccount(a.Snapshot())
		}
		save, err := fn(stored)
		if err := fromCaller(err); err != nil {
			return err
		}
		for _, a := range save {
			if a.ProviderID() != providerID {
				return fromCaller(fmt.Errorf("%w: account %s", financeapp.ErrForeignRecord, a.ID()))
			}
			if err := saveAccount(tx, a, before[a.ID()], p.UserID(), &counts); err != nil {
				return err
			}
		}
		return nil
	}, accountKeyTaken)
	if err != nil {
		return financeapp.AccountCounts{}, err
	}
	return counts, nil
}

// saveAccount inserts a (was is nil) or updates it if its version moved, and
// counts what it did.
func saveAccount(tx *gorm.DB, a, was *finance.Account, userID uuid.UUID, counts *financeapp.AccountCounts) error {
	row := accountFromDomain(a, userID)
	switch {
	case was == nil:
		counts.Added++
		return tx.Create(&row).Error
	case was.Version() == a.Version():
		return nil
	case was.Status() == finance.AccountOpen && a.Status() == finance.AccountClosed:
		counts.Closed++
	default:
		counts.Updated++
	}
	return tx.Save(&row).Error
}

func accountsOf(rows []accountRow) ([]*finance.Account, error) {
	out := make([]*finance.Account, 0, len(rows))
	for _, r := range rows {
		a, err := r.toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// StoreTransactionPage locks the provider's row, then stores the batches of
// page as storeBatches does, then replaces the provider's transaction resume
// state with page.Resume, all in one transaction: the page and its resume
// state commit together or not at all. An unknown provider or account is
// domain.ErrNotFound; a batch for another provider's account is
// financeapp.ErrForeignRecord.
func (s *FinanceStore) StoreTransactionPage(ctx context.Context, providerID uuid.UUID, page financeapp.TransactionPageWrite,
) (financeapp.TransactionCounts, error) {
	var total financeapp.TransactionCounts
	err := s.db.inTx(ctx, "store a transaction page of provider "+providerID.String(), func(tx *gorm.DB) error {
		p, err := lockProvider(s.db, tx, providerID)
		if err != nil {
			return err
		}
		// Under the provider's lock, the stored resume state is the one every
		// writer of its pages sees: a page fetched from another is stale.
		var stored []byte
		err = tx.Raw("SELECT transaction_resume FROM provider_sync_states WHERE provider_id = ?", providerID).Row().Scan(&stored)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if !bytes.Equal(stored, page.From) {
			return fromCaller(fmt.Errorf("provider %s: %w", providerID, financeapp.ErrStalePage))
		}
		feedBefore, err := feedPosition(tx, p.UserID())
		if err != nil {
			return err
		}
		for _, run := range distinctAccountRuns(page.Batches) {
			c, err := s.storeBatches(tx, providerID, p.UserID(), run)
			if err != nil {
				return err
			}
			total.Added, total.Modified, total.Removed = total.Added+c.Added, total.Modified+c.Modified, total.Removed+c.Removed
		}
		if err := saveTransactionResume(tx, providerID, page.Resume); err != nil {
			return err
		}
		if total == (financeapp.TransactionCounts{}) {
			return nil
		}
		e := finance.TransactionsChanged(providerID, total.Added, total.Modified, total.Removed, feedBefore, tx.NowFunc())
		return writeEvents(tx, p.UserID(), []event.Event{e})
	}, transactionKeyTaken)
	if err != nil {
		return financeapp.TransactionCounts{}, err
	}
	return total, nil
}

// distinctAccountRuns splits batches, in order, into runs in which no account
// has two batches: storeBatches loads a run's stored transactions before it
// applies any batch of it, so a second batch of an account must see what the
// first wrote. The sync engine gives one batch per account: one run.
func distinctAccountRuns(batches []financeapp.TransactionBatch) [][]financeapp.TransactionBatch {
	var runs [][]financeapp.TransactionBatch
	start := 0
	seen := map[uuid.UUID]bool{}
	for i, b := range batches {
		if seen[b.AccountID] {
			runs = append(runs, batches[start:i])
			start, seen = i, map[uuid.UUID]bool{}
		}
		seen[b.AccountID] = true
	}
	if start < len(batches) {
		runs = append(runs, batches[start:])
	}
	return runs
}

// storeBatches stores batches, each of another account of providerID (whose
// row the caller holds locked: see lockAccount for the order), with a number
// of statements that does not grow with the number of accounts: it locks the
// accounts, loads their transactions with the batches' institution ids, calls
// each batch's Apply with its account's, and writes what they return, every
// written row at the next position of userID's feed (takePositions), new rows
// a statement whatever their account (insertTransactionRows). (An initial sync's
// page spreads over several accounts: with a lock, a load, a position
// reservation and an INSERT per account, the page path made four times the
// round trips of a bare batched upsert; docs/performance.md.)
func (s *FinanceStore) storeBatches(tx *gorm.DB, providerID, userID uuid.UUID, batches []financeapp.TransactionBatch,
) (financeapp.TransactionCounts, error) {
	ids := make([]uuid.UUID, 0, len(batches))
	for _, b := range batches {
		ids = append(ids, b.AccountID)
	}
	var accounts []accountRow
	if err := s.db.lockRows(tx, &accounts, "id IN ?", ids); err != nil {
		return financeapp.TransactionCounts{}, err
	}
	owners := make(map[uuid.UUID]uuid.UUID, len(accounts))
	for _, a := range accounts {
		owners[a.ID] = a.ProviderID
	}
	for _, b := range batches {
		owner, ok := owners[b.AccountID]
		if !ok {
			return financeapp.TransactionCounts{}, gorm.ErrRecordNotFound
		}
		if owner != providerID {
			return financeapp.TransactionCounts{}, fromCaller(fmt.Errorf("%w: account %s is not of provider %s",
				financeapp.ErrForeignRecord, b.AccountID, providerID))
		}
	}
	before, stored, err := s.loadTransactions(tx, batches)
	if err != nil {
		return financeapp.TransactionCounts{}, err
	}
	var changed []*finance.Transaction
	for _, b := range batches {
		save, err := b.Apply(stored[b.AccountID])
		if err := fromCaller(err); err != nil {
			return financeapp.TransactionCounts{}, err
		}
		c, err := changedTransactions(save, before, b.AccountID)
		if err != nil {
			return financeapp.TransactionCounts{}, fromCaller(err)
		}
		changed = append(changed, c...)
	}
	return writeTransactions(tx, userID, changed, before)
}

// saveTransactionResume replaces the provider's transaction resume state,
// creating its sync state row if it has none.
func saveTransactionResume(tx *gorm.DB, providerID uuid.UUID, resume []byte) error {
	return tx.Exec(`INSERT INTO provider_sync_states (provider_id, transaction_resume) VALUES (?, ?)
		ON CONFLICT (provider_id) DO UPDATE SET transaction_resume = excluded.transaction_resume`,
		providerID, resume).Error
}

// TransactionResume returns the resume state stored with the provider's last
// committed page, or nil before the first.
func (s *FinanceStore) TransactionResume(ctx context.Context, providerID uuid.UUID) ([]byte, error) {
	var resume []byte
	err := s.db.SQL.QueryRowContext(ctx, s.db.bind("SELECT transaction_resume FROM provider_sync_states WHERE provider_id = ?"),
		providerID).Scan(&resume)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbError("transaction resume of provider "+providerID.String(), err)
	}
	return resume, nil
}

// lockAccount locks the account's provider and then the account. A batch of
// transactions inserts rows referring to the provider, which takes a share
// lock on the provider's row: were the account locked first, an account batch
// (provider locked, then its accounts) running at the same moment would
// deadlock with it. Taking the provider first is the order every writer of a
// provider's data follows. A provider never changes, so reading it unlocked
// first is safe.
func (s *FinanceStore) lockAccount(tx *gorm.DB, accountID uuid.UUID) (accountRow, error) {
	var account accountRow
	if err := tx.Select("provider_id").Where("id = ?", accountID).Take(&account).Error; err != nil {
		return account, err
	}
	if _, err := lockProvider(s.db, tx, account.ProviderID); err != nil {
		return account, err
	}
	err := s.db.lockRow(tx, &account, "id = ?", accountID)
	return account, err
}

// loadTransactions returns the rows of each batch's account with the
// batch's institution ids, by id, and the transactions they hold by account,
// for the batches' Apply.
func (s *FinanceStore) loadTransactions(tx *gorm.DB, batches []financeapp.TransactionBatch,
) (map[uuid.UUID]transactionRow, map[uuid.UUID][]*finance.Transaction, error) {
	keys := 0
	for _, b := range batches {
		keys += len(b.InstitutionIDs)
	}
	before := make(map[uuid.UUID]transactionRow, keys)
	stored := make(map[uuid.UUID][]*finance.Transaction, len(batches))
	if keys == 0 {
		return before, stored, nil
	}
	read := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			r, err := scanTransactionRow(rows)
			if err != nil {
				return err
			}
			t, err := r.toDomain()
			if err != nil {
				return err
			}
			before[r.ID] = r
			stored[r.AccountID] = append(stored[r.AccountID], t)
		}
		return rows.Err()
	}
	if s.db.Dialect == Postgres {
		return before, stored, read(s.queryByKeys(tx, batches, keys))
	}
	for _, b := range batches {
		if len(b.InstitutionIDs) > 0 {
			if err := read(s.queryAccountByKeys(tx, b.AccountID, b.InstitutionIDs)); err != nil {
				return nil, nil, err
			}
		}
	}
	return before, stored, nil
}

// queryByKeys selects, on Postgres, the rows of each batch's account with the
// batch's institution ids, in order of id, in tx, in one statement for the
// whole run of batches: keys is how many ids they hold.
//
// The (account, key) pairs are two array parameters, and the statement is
// planned for its parameters each time (pgx's QueryExecModeExec, an unnamed
// statement): pgx otherwise prepares it, and after five executions Postgres
// may settle on a generic plan made while the table was small, which in an
// initial sync scanned the whole growing table page after page until
// autovacuum's next ANALYZE (docs/performance.md, "Storing an initial
// sync"). Even planned with its parameters, "account_id = $1 AND
// institution_transaction_id = ANY($2)" still depended on the statistics:
// while an initial sync grows the table faster than autovacuum analyses it,
// Postgres believed the account had a few hundred rows, read all of them
// through the index and filtered them by key, a cost that grew with every page
// (0.3 ms for the first, 4 ms after 100,000 rows: 1.8 s of an initial sync's
// 5 s, make bench). So each distinct pair is looked up on its own, LIMIT 1
// under LATERAL: a nested loop of probes of the unique index whatever the
// statistics say (0.2 ms for 130 keys in 100,000 rows).
func (s *FinanceStore) queryByKeys(tx *gorm.DB, batches []financeapp.TransactionBatch, keys int) (*sql.Rows, error) {
	accounts, ids := make([]string, 0, keys), make([]string, 0, keys)
	for _, b := range batches {
		account := b.AccountID.String()
		for _, id := range b.InstitutionIDs {
			accounts, ids = append(accounts, account), append(ids, id)
		}
	}
	return tx.Statement.ConnPool.QueryContext(tx.Statement.Context,
		"SELECT t.* FROM (SELECT DISTINCT account, key FROM unnest($1::uuid[], $2::text[]) AS k (account, key)) AS k, LATERAL ("+
			"SELECT "+transactionColumns(s.db)+" FROM transactions "+
			"WHERE account_id = k.account AND institution_transaction_id = k.key LIMIT 1) AS t ORDER BY t.id",
		pgx.QueryExecModeExec, accounts, ids)
}

// queryAccountByKeys selects, on SQLite, the account's rows with
// institutionIDs, in order of id, in tx. SQLite plans every statement for its
// parameters, and a statement is a call, not a round trip: one per account.
func (s *FinanceStore) queryAccountByKeys(tx *gorm.DB, accountID uuid.UUID, institutionIDs []string) (*sql.Rows, error) {
	marks := strings.Repeat(", ?", len(institutionIDs))[2:]
	args := make([]any, 0, 1+len(institutionIDs))
	args = append(args, accountID)
	for _, id := range institutionIDs {
		args = append(args, id)
	}
	return tx.Statement.ConnPool.QueryContext(tx.Statement.Context, "SELECT "+transactionColumns(s.db)+
		" FROM transactions WHERE account_id = ? AND institution_transaction_id IN ("+marks+") ORDER BY id", args...)
}

// changedTransactions keeps of save the new transactions and those whose
// version moved, stored ones first (so that a posting that takes over an
// institution id is written before anything else might claim it). A
// transaction of another account is ErrForeignRecord.
func changedTransactions(save []*finance.Transaction, before map[uuid.UUID]transactionRow, accountID uuid.UUID) ([]*finance.Transaction, error) {
	var updates, inserts []*finance.Transaction
	for _, t := range save {
		if t.AccountID() != accountID {
			return nil, fmt.Errorf("%w: transaction %s", financeapp.ErrForeignRecord, t.ID())
		}
		was, ok := before[t.ID()]
		switch {
		case !ok:
			inserts = append(inserts, t)
		case was.Version != t.Version():
			updates = append(updates, t)
		}
	}
	return append(updates, inserts...), nil
}

// insertBatchRows is how many rows one INSERT writes on Postgres: a
// 100,000-row initial sync is 200 statements, not 100,000 round trips, and a
// statement's parameters (29 a transaction) stay under Postgres' limit of
// 65,535.
const insertBatchRows = 500

// sqliteInsertBatchRows is how many rows one INSERT writes on SQLite, where a
// statement is a call, not a round trip, and a large one is slow: the driver
// (glebarez/go-sqlite) binds each parameter by scanning the arguments for
// its ordinal, a cost that grows with the square of the parameters. 20,000
// transactions over 4 accounts, in pages of 500: 12.6 s at 500 rows a
// statement, 2.8 s at 125, 1.4 s at 50, 1.2 s at 25 and at 10
// (docs/performance.md).
const sqliteInsertBatchRows = 25

// writeTransactions writes changed (updates, then inserts) at consecutive
// positions of userID's feed and counts them. Updates are one statement a
// row; inserts are multi-row statements (insertTransactionRows).
func writeTransactions(tx *gorm.DB, userID uuid.UUID, changed []*finance.Transaction, before map[uuid.UUID]transactionRow) (financeapp.TransactionCounts, error) {
	var counts financeapp.TransactionCounts
	if len(changed) == 0 {
		return counts, nil
	}
	first, err := takePositions(tx, userID, len(changed))
	if err != nil {
		return counts, err
	}
	var inserts []transactionRow
	for i, t := range changed {
		position := first + int64(i)
		was, stored := before[t.ID()]
		created := position
		if stored {
			created = was.CreatedPosition
		}
		row, err := transactionFromDomain(t, userID, created, position)
		if err != nil {
			return counts, fromCaller(err)
		}
		if !stored {
			if !t.Removed() {
				counts.Added++
			}
			inserts = append(inserts, row)
			continue
		}
		countUpdate(&counts, was.RemovedAt == nil, t.Removed())
		if err := tx.Save(&row).Error; err != nil {
			return counts, err
		}
	}
	if len(inserts) > 0 {
		if err := insertTransactionRows(tx, inserts); err != nil {
			return counts, err
		}
	}
	return counts, nil
}

// insertTransactionRows inserts rows, insertBatchRows to a statement on
// Postgres, sqliteInsertBatchRows on SQLite.
//
// On Postgres the statement is written here and its arguments are pgx's own
// types ([16]byte for a uuid, time.Time for a date). Through GORM each uuid and
// date went to pgx as its driver.Valuer's string, which pgx first failed to
// encode in binary (building an error with fmt.Errorf), then parsed and encoded
// again: with GORM's reflection, about a third of the service's CPU in an
// initial sync (make bench, docs/performance.md). SQLite stores uuids and dates
// as text, which the Valuers give: GORM's CreateInBatches stays there.
func insertTransactionRows(tx *gorm.DB, rows []transactionRow) error {
	if tx.Name() != "postgres" {
		return tx.CreateInBatches(&rows, sqliteInsertBatchRows).Error
	}
	ctx := tx.Statement.Context
	for start := 0; start < len(rows); start += insertBatchRows {
		chunk := rows[start:min(start+insertBatchRows, len(rows))]
		args := make([]any, 0, len(chunk)*transactionInsertColumns)
		for i := range chunk {
			args = chunk[i].appendPostgresArgs(args)
		}
		if _, err := tx.Statement.ConnPool.ExecContext(ctx, postgresTransactionInsert(len(chunk)), args...); err != nil {
			return err
		}
	}
	return nil
}

// transactionInsertColumns is the number of columns appendPostgresArgs gives.
const transactionInsertColumns = 29

// postgresTransactionInsert is the INSERT of n transaction rows with
// appendPostgresArgs' arguments; the statement of a full batch is built once.
func postgresTransactionInsert(n int) string {
	if n == insertBatchRows {
		fullTransactionInsert.once.Do(func() { fullTransactionInsert.sql = buildTransactionInsert(n) })
		return fullTransactionInsert.sql
	}
	return buildTransactionInsert(n)
}

var fullTransactionInsert struct {
	once sync.Once
	sql  string
}

func buildTransactionInsert(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO transactions (id, account_id, provider_id, user_id, institution_transaction_id, status,
amount, amount_key, currency, date, authorized_date, posted_date, description, merchant_name, description_key,
merchant_key, category_primary, category_detailed, kind, security_id, quantity, price, fees, removed_at, version,
created_at, updated_at, created_position, position) VALUES `)
	k := 0
	for r := range n {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range transactionInsertColumns {
			if c > 0 {
				b.WriteByte(',')
			}
			k++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(k))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// appendPostgresArgs appends r's columns in buildTransactionInsert's order,
// as types pgx encodes directly.
func (r *transactionRow) appendPostgresArgs(args []any) []any {
	var security any
	if r.SecurityID.Valid {
		security = [16]byte(r.SecurityID.UUID)
	}
	return append(args, [16]byte(r.ID), [16]byte(r.AccountID), [16]byte(r.ProviderID), [16]byte(r.UserID),
		r.InstitutionTransactionID, r.Status, r.Amount, r.AmountKey, r.Currency,
		r.Date.pgx(), r.AuthorizedDate.pgx(), r.PostedDate.pgx(), r.Description, r.MerchantName, r.DescriptionKey,
		r.MerchantKey, r.CategoryPrimary, r.CategoryDetailed, r.Kind, security, r.Quantity, r.Price, r.Fees,
		r.RemovedAt, r.Version, r.CreatedAt, r.UpdatedAt, r.CreatedPosition, r.Position)
}

// countUpdate counts an update of a row that was live (or not) and is now
// removed (or not). A tombstone changes only when the posted record linked to
// its pending transaction arrives after its removal (finance
// Transaction.PostLinked): live again, it counts as modified.
func countUpdate(counts *financeapp.TransactionCounts, wasLive, removed bool) {
	switch {
	case wasLive && removed:
		counts.Removed++
	case !removed:
		counts.Modified++
	}
}

// feedPosition returns the last position of userID's changes feed (0 before
// the first). Read before a page takes its positions, it is a position to
// read the feed after that sees every change of the page: the page's own
// positions all come later (another provider's commit in between only adds
// changes to read).
func feedPosition(tx *gorm.DB, userID uuid.UUID) (int64, error) {
	var last []int64
	err := tx.Raw("SELECT last_position FROM finance_feed_positions WHERE user_id = ?", userID).Scan(&last).Error
	if err != nil || len(last) == 0 {
		return 0, err
	}
	return last[0], nil
}

// takePositions reserves n consecutive positions of userID's feed and returns
// the first. Incrementing the user's counter row locks it until the
// transaction ends (on SQLite the whole database is locked already), so the
// user's next batch takes its positions only after this one commits or rolls
// back: positions grow in commit order, and a rolled-back batch leaves a gap,
// never a later commit below an earlier one.
func takePositions(tx *gorm.DB, userID uuid.UUID, n int) (int64, error) {
	var last int64
	err := tx.Raw(`INSERT INTO finance_feed_positions (user_id, last_position) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET last_position = finance_feed_positions.last_position + excluded.last_position
		RETURNING last_position`, userID, n).Scan(&last).Error
	return last - int64(n) + 1, err
}

package persistence

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/provider"
)

var _ providersapp.Repository = (*ProviderStore)(nil)

// aliasTaken is what a second provider of one user with one alias (by
// provider.AliasKey) runs into.
var aliasTaken = uniqueKey{
	index:   "providers_user_id_alias_key_key",
	columns: "providers.user_id, providers.alias_key",
	err:     provider.ErrAliasTaken,
}

// ProviderStore keeps providers in the database. It implements the providers
// application's Repository port.
//
// UpdateProvider and DeleteProvider run their closure inside a transaction
// holding the provider's row lock: SELECT ... FOR UPDATE on Postgres; on SQLite
// the connection begins every transaction IMMEDIATE, which already takes the
// database's single write lock. The closure must not call back into the store.
type ProviderStore struct {
	db      *DB
	columns string // the select list of the hand-written reads (scanProviders)
	byIDSQL string // ProviderByID's statement, built once
}

// NewProviderStore returns a store on db, which must be migrated.
func NewProviderStore(db *DB) *ProviderStore {
	columns := providerColumns(db)
	return &ProviderStore{db: db, columns: columns, byIDSQL: db.bind("SELECT " + columns + " FROM providers WHERE id = ?")}
}

// CreateProvider inserts p. An alias its user already has, in any case, is
// provider.ErrAliasTaken, decided by the unique index on (user_id, alias_key);
// a user that does not exist is domain.ErrNotFound.
func (s *ProviderStore) CreateProvider(ctx context.Context, p *provider.Provider) error {
	row := providerFromDomain(p)
	err := s.db.Gorm.WithContext(ctx).Create(&row).Error
	return dbError("create provider "+p.ID().String(), err, aliasTaken)
}

// ProviderByID returns the provider with id, or domain.ErrNotFound.
func (s *ProviderStore) ProviderByID(ctx context.Context, id uuid.UUID) (*provider.Provider, error) {
	rows, err := s.db.SQL.QueryContext(ctx, s.byIDSQL, id)
	if err != nil {
		return nil, dbError("provider "+id.String(), err)
	}
	list, err := scanProviders(rows, 1)
	switch {
	case err != nil:
		return nil, dbError("provider "+id.String(), err)
	case len(list) == 0:
		return nil, dbError("provider "+id.String(), sql.ErrNoRows)
	}
	return list[0], nil
}

// UpdateProvider loads the provider under its row lock, lets fn change it and,
// if fn changed it, saves every field, in one transaction, and returns the
// provider as stored. fn's error rolls everything back and is returned as it
// is. A rename onto an alias the user already has is provider.ErrAliasTaken,
// and then nothing is saved. An unknown id is domain.ErrNotFound, and fn is not
// called.
func (s *ProviderStore) UpdateProvider(ctx context.Context, id uuid.UUID, fn func(*provider.Provider) error) (*provider.Provider, error) {
	var saved *provider.Provider
	err := s.db.inTx(ctx, "update provider "+id.String(), func(tx *gorm.DB) error {
		p, err := lockProvider(s.db, tx, id)
		if err != nil {
			return err
		}
		before := p.Version()
		if err := fromCaller(fn(p)); err != nil {
			return err
		}
		saved, err = saveProvider(tx, p, before)
		return err
	}, aliasTaken)
	if err != nil {
		return nil, err
	}
	return saved, nil
}

// saveProvider saves every field of p, loaded at version before, unless its
// version did not move (nothing changed: the row is not rewritten), and returns
// p as a read would give it back (UTC, to the microsecond).
func saveProvider(tx *gorm.DB, p *provider.Provider, before int64) (*provider.Provider, error) {
	row := providerFromDomain(p)
	if p.Version() != before {
		if err := tx.Save(&row).Error; err != nil {
			return nil, err
		}
	}
	return row.toDomain()
}

// DeleteProvider loads the provider under its row lock and, if check returns
// nil, deletes it, in one transaction. check's error keeps the provider and is
// returned as it is. An unknown id is domain.ErrNotFound, and check is not called.
func (s *ProviderStore) DeleteProvider(ctx context.Context, id uuid.UUID, check func(*provider.Provider) error) error {
	return s.db.inTx(ctx, "delete provider "+id.String(), func(tx *gorm.DB) error {
		p, err := lockProvider(s.db, tx, id)
		if err != nil {
			return err
		}
		if err := fromCaller(check(p)); err != nil {
			return err
		}
		return tx.Where("id = ?", id).Delete(&providerRow{}).Error
	})
}

// ListProviders returns one page of q.UserID's providers that match q.Filter,
// ordered by q.Sort (DefaultSort when empty) with ties broken by id in the
// direction of the last sort field, and, when q.WithTotal, how many providers
// match the filter in all (counted by a statement of its own, so under
// concurrent writes the total and the page may disagree by those writes).
//
// With q.After the page holds the providers that come after that position in
// this order and q.Offset is ignored (keyset pagination: for a one-field sort
// the predicate is a range of that field's index, so a deep page costs what the
// first one costs; docs/performance.md has the numbers). Otherwise the page
// skips q.Offset providers. q.Limit < 1 means no limit.
//
// Search matches aliases containing it, compared under provider.AliasKey, with
// %, _ and \ taken literally. CreatedAfter and CreatedBefore are exclusive
// bounds; times are compared as stored, to the microsecond, as are the times of
// q.After. An unknown sort key is an error, never SQL: column names come only
// from a fixed table.
func (s *ProviderStore) ListProviders(ctx context.Context, q providersapp.ListQuery) ([]*provider.Provider, int64, error) {
	op := "list providers of user " + q.UserID.String()
	order, err := orderOf(q.Sort)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", op, err)
	}
	var total int64
	if q.WithTotal {
		count := s.db.newStatement()
		count.add("SELECT COUNT(*) FROM providers")
		where(count, q.UserID, q.Filter)
		if err := s.db.SQL.QueryRowContext(ctx, s.db.sql(count), count.args...).Scan(&total); err != nil {
			return nil, 0, dbError(op, err)
		}
	}
	page, err := s.page(ctx, q, order)
	if err != nil {
		return nil, 0, dbError(op, err)
	}
	return page, total, nil
}

// page reads one page. A keyset page of a two-field sort whose directions differ
// (provider_key,-created_at) is read in two index range scans, because no single
// row-value comparison expresses "after" in mixed directions: first the rest of
// the position's group (c1 = v1 AND (c2, id) after (v2, vid)), then, if the page
// is not full yet, the groups after it (c1 after v1). Every other page is one
// query.
func (s *ProviderStore) page(ctx context.Context, q providersapp.ListQuery, order []orderColumn) ([]*provider.Provider, error) {
	if q.After == nil || uniform(order) {
		return s.list(ctx, s.pageQuery(q, order), q.Limit)
	}
	rows, err := s.list(ctx, s.restOfGroupQuery(q, order), q.Limit)
	if err != nil || (q.Limit > 0 && len(rows) == q.Limit) {
		return rows, err
	}
	limit := max(q.Limit-len(rows), 0)
	next, err := s.list(ctx, s.laterGroupsQuery(q, order, limit), limit)
	return append(rows, next...), err
}

// restOfGroupQuery is the first statement of a mixed-direction keyset page:
// the rest of the position's group (c1 = v1 AND (c2, id) after (v2, vid)).
func (s *ProviderStore) restOfGroupQuery(q providersapp.ListQuery, order []orderColumn) *statement {
	group, rest := order[0], order[1:]
	stmt := s.selectPage(q)
	stmt.add(" AND "+group.column+" = ? AND ", group.value(*q.After))
	rowAfter(stmt, rest, *q.After)
	ordered(stmt, rest, q.Limit)
	return stmt
}

// laterGroupsQuery is the second statement of a mixed-direction keyset page:
// up to limit rows of the groups after the position's (c1 after v1).
func (s *ProviderStore) laterGroupsQuery(q providersapp.ListQuery, order []orderColumn, limit int) *statement {
	group := order[0]
	stmt := s.selectPage(q)
	stmt.add(" AND "+group.column+" "+keysetOp(group)+" ?", group.value(*q.After))
	ordered(stmt, order, limit)
	return stmt
}

// pageQuery is a page in one statement: the filter, then the keyset predicate
// (for columns that all go one way) or the offset, the order and the limit.
func (s *ProviderStore) pageQuery(q providersapp.ListQuery, order []orderColumn) *statement {
	stmt := s.selectPage(q)
	if q.After != nil {
		stmt.add(" AND ")
		rowAfter(stmt, order, *q.After)
	}
	ordered(stmt, order, q.Limit)
	if q.After == nil && q.Offset > 0 {
		stmt.add(" OFFSET ")
		stmt.number(q.Offset)
	}
	return stmt
}

// selectPage starts a page's statement: the columns, and the user's providers
// that match q.Filter.
func (s *ProviderStore) selectPage(q providersapp.ListQuery) *statement {
	stmt := s.db.newStatement()
	stmt.add("SELECT " + s.columns + " FROM providers")
	where(stmt, q.UserID, q.Filter)
	return stmt
}

// list runs stmt and reads the providers it selects; limit (when > 0) sizes
// the result.
func (s *ProviderStore) list(ctx context.Context, stmt *statement, limit int) ([]*provider.Provider, error) {
	rows, err := s.db.query(ctx, stmt)
	if err != nil {
		return nil, err
	}
	return scanProviders(rows, limit)
}

// ordered adds ORDER BY order and, when limit > 0, LIMIT limit.
func ordered(stmt *statement, order []orderColumn, limit int) {
	for i, c := range order {
		sep := ", "
		if i == 0 {
			sep = " ORDER BY "
		}
		dir := " ASC"
		if c.desc {
			dir = " DESC"
		}
		stmt.add(sep + c.column + dir)
	}
	if limit > 0 {
		stmt.add(" LIMIT ")
		stmt.number(limit)
	}
}

// where selects the user's providers that match f.
func where(stmt *statement, userID uuid.UUID, f providersapp.Filter) {
	stmt.add(" WHERE user_id = ?", userID)
	if !f.Status.IsZero() {
		stmt.add(" AND connection_status = ?", f.Status.String())
	}
	if f.Key != "" {
		stmt.add(" AND provider_key = ?", f.Key)
	}
	if f.Search != "" {
		stmt.add(` AND alias_key LIKE ? ESCAPE '\'`, "%"+likeEscaper.Replace(provider.AliasKey(f.Search))+"%")
	}
	if !f.CreatedAfter.IsZero() {
		// created_at > t holds for a whole microsecond exactly when it holds for t
		// truncated to the microsecond.
		stmt.add(" AND created_at > ?", dbTime(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		stmt.add(" AND created_at < ?", ceilMicrosecond(f.CreatedBefore))
	}
}

// likeEscaper makes LIKE's wildcards, and the escape character itself, literal.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ceilMicrosecond is t in UTC rounded up to the microsecond: for a time stored to
// the microsecond, created_at < t holds exactly when created_at < ceil(t).
func ceilMicrosecond(t time.Time) time.Time {
	down := dbTime(t)
	if down.Before(t) {
		return down.Add(time.Microsecond)
	}
	return down
}

// orderColumn is one column of a list's ORDER BY, with how to read its value
// from a Position.
type orderColumn struct {
	column string
	desc   bool
	value  func(providersapp.Position) any
}

// sortColumns maps each sortable field to its column and its value in a
// Position. It is the only source of column names in ListProviders' SQL.
var sortColumns = map[providersapp.SortKey]orderColumn{
	providersapp.SortAlias:     {column: "alias", value: func(p providersapp.Position) any { return p.Alias }},
	providersapp.SortKeyField:  {column: "provider_key", value: func(p providersapp.Position) any { return p.Key }},
	providersapp.SortCreatedAt: {column: "created_at", value: func(p providersapp.Position) any { return dbTime(p.CreatedAt) }},
	providersapp.SortUpdatedAt: {column: "updated_at", value: func(p providersapp.Position) any { return dbTime(p.UpdatedAt) }},
}

// idColumn breaks ties; its direction is the last sort field's.
var idColumn = orderColumn{column: "id", value: func(p providersapp.Position) any { return p.ID }}

// orderOf turns a sort into ORDER BY columns, id last. An empty sort is
// providersapp.DefaultSort.
func orderOf(sort []providersapp.SortField) ([]orderColumn, error) {
	if len(sort) == 0 {
		sort = providersapp.DefaultSort
	}
	out := make([]orderColumn, 0, len(sort)+1)
	for _, f := range sort {
		c, ok := sortColumns[f.Key]
		if !ok {
			return nil, fmt.Errorf("unknown sort key %q", f.Key)
		}
		c.desc = f.Desc
		out = append(out, c)
	}
	id := idColumn
	id.desc = sort[len(sort)-1].Desc
	return append(out, id), nil
}

// uniform reports whether every column of order goes one way.
func uniform(order []orderColumn) bool {
	for _, c := range order {
		if c.desc != order[0].desc {
			return false
		}
	}
	return true
}

// rowAfter adds the predicate "the row comes after position p" for columns
// that all go one way: a row-value comparison (c1, ..., id) > (v1, ..., vid)
// (or <), which Postgres and SQLite both support and Postgres answers with a
// range scan of the matching index.
func rowAfter(stmt *statement, order []orderColumn, p providersapp.Position) {
	cols := make([]string, len(order))
	marks := make([]string, len(order))
	args := make([]any, len(order))
	for i, c := range order {
		cols[i], marks[i], args[i] = c.column, "?", c.value(p)
	}
	stmt.add("("+strings.Join(cols, ", ")+") "+keysetOp(order[0])+" ("+strings.Join(marks, ", ")+")", args...)
}

// keysetOp is the comparison operator that selects the values after a given one in
// c's direction.
func keysetOp(c orderColumn) string {
	if c.desc {
		return "<"
	}
	return ">"
}

// lockProvider loads the provider with id under its row lock.
func lockProvider(db *DB, tx *gorm.DB, id uuid.UUID) (*provider.Provider, error) {
	var row providerRow
	if err := db.lockRow(tx, &row, "id = ?", id); err != nil {
		return nil, err
	}
	return row.toDomain()
}

package persistence

import (
	"context"
	"errors"
	"strings"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/provider"
)

// CreateProvidersInBatches inserts ps with multi-row INSERTs of batch rows each,
// for seeding large data sets fast. It bypasses nothing but the one-row-per-
// statement cost: the same rows, constraints and indexes as CreateProvider.
func CreateProvidersInBatches(ctx context.Context, s *ProviderStore, ps []*provider.Provider, batch int) error {
	rows := make([]providerRow, len(ps))
	for i, p := range ps {
		rows[i] = providerFromDomain(p)
	}
	return s.db.Gorm.WithContext(ctx).CreateInBatches(rows, batch).Error
}

// ExplainListProviders runs EXPLAIN (ANALYZE, BUFFERS) on the very statements
// ListProviders runs for q, with the same parameters, and returns the plans:
// one statement, or two for a mixed-direction keyset page (the second as if
// the first had found no rows). Postgres only.
func ExplainListProviders(ctx context.Context, s *ProviderStore, q providersapp.ListQuery) (string, error) {
	if s.db.Dialect != Postgres {
		return "", errors.New("EXPLAIN (ANALYZE, BUFFERS) needs Postgres")
	}
	order, err := orderOf(q.Sort)
	if err != nil {
		return "", err
	}
	stmts := []*statement{s.pageQuery(q, order)}
	if q.After != nil && !uniform(order) {
		stmts = []*statement{s.restOfGroupQuery(q, order), s.laterGroupsQuery(q, order, q.Limit)}
	}
	var lines []string
	for _, stmt := range stmts {
		text := s.db.sql(stmt)
		lines = append(lines, text)
		rows, err := s.db.SQL.QueryContext(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+text, stmt.args...)
		if err != nil {
			return "", err
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				_ = rows.Close()
				return "", err
			}
			lines = append(lines, line)
		}
		if err := rows.Close(); err != nil {
			return "", err
		}
	}
	return strings.Join(lines, "\n"), nil
}

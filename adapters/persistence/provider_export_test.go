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

// ExplainListProviders runs EXPLAIN (ANALYZE, BUFFERS) on the very page query
// ListProviders runs for q, with the same parameters, and returns the plan.
// Postgres only.
func ExplainListProviders(ctx context.Context, s *ProviderStore, q providersapp.ListQuery) (string, error) {
	if s.db.Dialect != Postgres {
		return "", errors.New("EXPLAIN (ANALYZE, BUFFERS) needs Postgres")
	}
	order, err := orderOf(q.Sort)
	if err != nil {
		return "", err
	}
	if q.After != nil && !uniform(order) {
		return "", errors.New("a mixed-direction keyset page runs two queries; explain one sort direction at a time")
	}
	stmt := s.pageQuery(q, order)
	text := s.db.sql(stmt)
	rows, err := s.db.SQL.QueryContext(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+text, stmt.args...)
	if err != nil {
		return "", err
	}
	defer func() { _ = rows.Close() }()
	lines := []string{text}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n"), rows.Err()
}

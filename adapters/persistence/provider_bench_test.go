package persistence_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/contract/providercontract"
	"github.com/dashtam/dashtam/test/dbtest"
)

const (
	benchRows  = 100_000
	benchDepth = 99_000
	benchPage  = 20
)

// BenchmarkProviderCursorPageDepth measures one 20-row page of a user with
// 100,000 providers on Postgres: the first page, the cursor page after row
// 99,000 and the offset page at offset 99,000 (with and without the total the
// offset mode also asks for), sorted by -created_at, by alias, and by
// provider_key,-created_at, which no single index serves. It logs
// EXPLAIN (ANALYZE, BUFFERS) of the deep cursor and offset queries.
// docs/performance.md records a run.
//
//	TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkProviderCursorPageDepth ./adapters/persistence/
func BenchmarkProviderCursorPageDepth(b *testing.B) {
	db := dbtest.Postgres(b) // a schema of its own, dropped at the end
	st := persistence.NewProviderStore(db)
	user := seedProviders(b, db, st)

	sorts := []struct {
		name string
		sort []providersapp.SortField
	}{
		{"sort=-created_at", []providersapp.SortField{{Key: providersapp.SortCreatedAt, Desc: true}}},
		{"sort=alias", []providersapp.SortField{{Key: providersapp.SortAlias}}},
		// No index matches two fields: the price of a mixed sort, for comparison.
		{"sort=provider_key,-created_at", []providersapp.SortField{{Key: providersapp.SortKeyField}, {Key: providersapp.SortCreatedAt, Desc: true}}},
	}
	for _, s := range sorts {
		at := func(offset, limit int) providersapp.ListQuery {
			return providersapp.ListQuery{UserID: user, Sort: s.sort, Offset: offset, Limit: limit}
		}
		// The cursor after row 99,000 and the offset 99,000 name the same page.
		deep := providersapp.PositionOf(mustList(b, st, at(benchDepth-1, 1))[0])
		cursor := providersapp.ListQuery{UserID: user, Sort: s.sort, After: &deep, Limit: benchPage + 1}
		byCursor, byOffset := mustList(b, st, cursor)[:benchPage], mustList(b, st, at(benchDepth, benchPage))
		if !slices.Equal(ids(byCursor), ids(byOffset)) {
			b.Fatalf("%s: the cursor page after row %d differs from the page at offset %d", s.name, benchDepth, benchDepth)
		}
		for _, q := range []struct {
			name string
			q    providersapp.ListQuery
		}{
			{"cursor_after_99000", cursor},
			{"offset_99000", at(benchDepth, benchPage)},
		} {
			plan, err := persistence.ExplainListProviders(b.Context(), st, q.q)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s/%s: EXPLAIN (ANALYZE, BUFFERS)\n%s", s.name, q.name, plan)
		}

		withTotal := at(benchDepth, benchPage)
		withTotal.WithTotal = true
		for _, c := range []struct {
			name string
			q    providersapp.ListQuery
		}{
			{"first_page", providersapp.ListQuery{UserID: user, Sort: s.sort, Limit: benchPage + 1}},
			{"cursor_after_99000", cursor},
			{"offset_99000", at(benchDepth, benchPage)},
			{"offset_99000_with_total", withTotal},
		} {
			b.Run(s.name+"/"+c.name, func(b *testing.B) {
				for b.Loop() {
					if _, _, err := st.ListProviders(b.Context(), c.q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// seedProviders stores one user with benchRows providers, created a few seconds
// apart (with some ties) under aliases in no particular order, plus a few other
// users' providers, and refreshes the planner's statistics.
func seedProviders(b *testing.B, db *persistence.DB, st *persistence.ProviderStore) uuid.UUID {
	b.Helper()
	ctx := b.Context()
	newUser := providercontract.UsersVia(persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL, discardJobs{}))
	user, err := newUser(ctx)
	if err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	words := []string{"Brokerage", "Checking", "IRA", "Joint", "Roth", "Savings", "Trust", "529"}
	keys := []string{"schwab", "plaid", "sandbox"}
	start := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	perm := rnd.Perm(benchRows)
	var ps []*provider.Provider
	add := func(owner uuid.UUID, i int) {
		alias := fmt.Sprintf("%s %06d", words[rnd.IntN(len(words))], perm[i%benchRows])
		created := start.Add(time.Duration(i/2) * 3 * time.Second) // pairs share a creation time
		p, err := provider.New(uuid.Must(uuid.NewV7()), owner, keys[rnd.IntN(len(keys))], alias, created)
		if err != nil {
			b.Fatal(err)
		}
		p.SetStatus(provider.Statuses()[rnd.IntN(len(provider.Statuses()))], created.Add(time.Hour))
		ps = append(ps, p)
	}
	for i := range benchRows {
		add(user, i)
	}
	for range 5 { // neighbours, so the user_id prefix of the indexes matters
		other, err := newUser(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for i := range 2_000 {
			add(other, i)
		}
	}
	if err := persistence.CreateProvidersInBatches(ctx, st, ps, 1_000); err != nil {
		b.Fatal(err)
	}
	if err := db.Gorm.WithContext(ctx).Exec("VACUUM ANALYZE providers").Error; err != nil {
		b.Fatal(err)
	}
	return user
}

func mustList(b *testing.B, st *persistence.ProviderStore, q providersapp.ListQuery) []*provider.Provider {
	b.Helper()
	items, _, err := st.ListProviders(b.Context(), q)
	if err != nil {
		b.Fatal(err)
	}
	if len(items) == 0 {
		b.Fatalf("no providers for %+v", q)
	}
	return items
}

func ids(ps []*provider.Provider) []uuid.UUID {
	out := make([]uuid.UUID, len(ps))
	for i, p := range ps {
		out[i] = p.ID()
	}
	return out
}

package providercontract

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/provider"
)

// providerKeys are the provider types the generated providers use.
var providerKeys = []string{"schwab", "plaid", "sandbox"}

// aliasRunes is the alphabet of generated aliases and searches: both cases of
// ASCII and non-ASCII letters, letters whose lower case has another length or is
// ASCII (İ, the Kelvin sign K), LIKE's wildcards and escape character, and a
// space. Short aliases over a small alphabet collide often, so the uniqueness
// rule and ties in alias order get exercised.
var aliasRunes = []rune{'a', 'A', 'b', 'B', 'é', 'É', 'ß', '\u212a', 'k', 'İ', 'i', '日', '%', '_', '\\', ' '}

// listProperty checks, for random providers of a few users and random queries,
// that walking every page in offset mode and in cursor mode yields exactly the
// oracle's list, each row once and in order, and that the total is its length.
// Creating the providers checks the uniqueness rule against the oracle's as well.
//
// The checks share h's store; each check makes users of its own, and every
// query is per user, so earlier checks' rows never show.
func listProperty(t *testing.T, h Harness) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		users := make([]uuid.UUID, rapid.IntRange(1, 3).Draw(rt, "users"))
		for i := range users {
			users[i] = newUser(rt, h)
		}
		var all []*provider.Provider // what the store holds for these users
		for range rapid.IntRange(0, 20).Draw(rt, "providers") {
			user := rapid.SampledFrom(users).Draw(rt, "user")
			key := rapid.SampledFrom(providerKeys).Draw(rt, "key")
			alias := string(rapid.SliceOfN(rapid.SampledFrom(aliasRunes), 1, 6).Draw(rt, "alias"))
			created := base.Add(time.Duration(rapid.IntRange(0, 4).Draw(rt, "created_minute"))*time.Minute +
				rapid.SampledFrom([]time.Duration{0, 0, time.Microsecond, 1500 * time.Nanosecond}).Draw(rt, "created_fraction"))
			status := rapid.SampledFrom(provider.Statuses()).Draw(rt, "status")
			changed := created.Add(time.Duration(rapid.IntRange(0, 3).Draw(rt, "changed_minute")) * time.Minute)
			viaUpdate := rapid.Bool().Draw(rt, "status_via_update")

			p, err := provider.New(uuid.New(), user, key, alias, created)
			if err != nil {
				continue // blank once trimmed
			}
			if !viaUpdate {
				p.SetStatus(status, changed)
			}
			err = h.Store.CreateProvider(ctx, p)
			if slices.ContainsFunc(all, func(q *provider.Provider) bool {
				return q.UserID() == user && q.AliasKey() == p.AliasKey()
			}) {
				if !errors.Is(err, provider.ErrAliasTaken) {
					rt.Fatalf("CreateProvider(%q) when the user has that alias: got %v, want ErrAliasTaken", p.Alias(), err)
				}
				continue
			}
			if err != nil {
				rt.Fatalf("CreateProvider(%q): %v", p.Alias(), err)
			}
			if viaUpdate {
				if p, err = h.Store.UpdateProvider(ctx, p.ID(), func(p *provider.Provider) error {
					p.SetStatus(status, changed)
					return nil
				}); err != nil {
					rt.Fatalf("UpdateProvider: %v", err)
				}
			}
			all = append(all, stored(p))
		}

		for range rapid.IntRange(1, 3).Draw(rt, "queries") {
			q := providersapp.ListQuery{
				UserID: rapid.SampledFrom(users).Draw(rt, "query_user"),
				Sort:   drawSort(rt),
				Filter: drawFilter(rt, all),
			}
			limit := rapid.IntRange(1, 7).Draw(rt, "limit")
			want := oracle(all, q.UserID, q.Filter, q.Sort)
			assertList(rt, walkOffset(rt, h.Store, q, limit, len(want)), want)
			assertList(rt, walkCursor(rt, h.Store, q, limit, len(want)/limit+2, nil), want)
		}
	})
}

// drawSort draws one or two distinct sort fields with random directions.
func drawSort(rt *rapid.T) []providersapp.SortField {
	keys := rapid.Permutation(providersapp.SortKeys()).Draw(rt, "sort_keys")
	sort := make([]providersapp.SortField, rapid.IntRange(1, 2).Draw(rt, "sort_fields"))
	for i := range sort {
		sort[i] = providersapp.SortField{Key: keys[i], Desc: rapid.Bool().Draw(rt, "sort_desc")}
	}
	return sort
}

// drawFilter draws a filter: each criterion set or not, searches that are pieces
// of stored aliases (in either case) or random, creation bounds around the
// stored times, some of them between two microseconds or in another zone.
func drawFilter(rt *rapid.T, all []*provider.Provider) providersapp.Filter {
	var f providersapp.Filter
	if rapid.Bool().Draw(rt, "filter_status") {
		f.Status = rapid.SampledFrom(provider.Statuses()).Draw(rt, "status")
	}
	if rapid.Bool().Draw(rt, "filter_key") {
		f.Key = rapid.SampledFrom(append(slices.Clone(providerKeys), "unknown")).Draw(rt, "key")
	}
	switch rapid.IntRange(0, 2).Draw(rt, "search_kind") {
	case 1:
		f.Search = string(rapid.SliceOfN(rapid.SampledFrom(aliasRunes), 1, 2).Draw(rt, "search"))
	case 2:
		if len(all) > 0 {
			alias := []rune(rapid.SampledFrom(all).Draw(rt, "search_in").Alias())
			i := rapid.IntRange(0, len(alias)-1).Draw(rt, "search_from")
			j := rapid.IntRange(i+1, len(alias)).Draw(rt, "search_to")
			f.Search = string(alias[i:j])
			if rapid.Bool().Draw(rt, "search_upper") {
				f.Search = strings.ToUpper(f.Search)
			}
		}
	}
	if rapid.Bool().Draw(rt, "filter_created_after") {
		f.CreatedAfter = drawBound(rt)
	}
	if rapid.Bool().Draw(rt, "filter_created_before") {
		f.CreatedBefore = drawBound(rt)
	}
	return f
}

var zones = []*time.Location{time.UTC, time.FixedZone("UTC+5", 5*3600), time.FixedZone("UTC-8", -8*3600)}

func drawBound(rt *rapid.T) time.Time {
	minute := time.Duration(rapid.IntRange(-1, 5).Draw(rt, "bound_minute")) * time.Minute
	fraction := rapid.SampledFrom([]time.Duration{0, time.Nanosecond, -time.Nanosecond, time.Microsecond, 1500 * time.Nanosecond}).Draw(rt, "bound_fraction")
	return base.Add(minute + fraction).In(rapid.SampledFrom(zones).Draw(rt, "bound_zone"))
}

// cursorUnderInserts walks a user's providers in cursor mode while rows are
// inserted: after every page one row that sorts before the cursor ("behind" it)
// and one after it, and throughout the walk more from another goroutine. The
// walk must return rows in strictly increasing order (so no row twice and none
// from behind the cursor), every row that existed before it started, every row
// inserted ahead of the cursor, and none inserted behind it.
func cursorUnderInserts(t *testing.T, h Harness) {
	sorts := [][]providersapp.SortField{providersapp.DefaultSort, byAlias, byOldestUpdate, byKeyThenNewest, byAliasDescThenOlder}
	for i, sort := range sorts {
		t.Run("sort="+sortParam(sort), func(t *testing.T) {
			user := newUser(t, h)
			gen := &rowGen{user: user, prefix: "w", rnd: rand.New(rand.NewPCG(uint64(i), 1))}
			var existing []*provider.Provider
			for range 30 {
				p := gen.next()
				create(t, h.Store, p)
				existing = append(existing, stored(p))
			}

			ctx, cancel := context.WithCancel(t.Context())
			writer := &rowGen{user: user, prefix: "c", rnd: rand.New(rand.NewPCG(uint64(i), 2))}
			var (
				wg        sync.WaitGroup
				writerErr error
			)
			wg.Go(func() {
				for range 40 {
					if err := h.Store.CreateProvider(ctx, writer.next()); err != nil {
						if ctx.Err() == nil {
							writerErr = err
						}
						return
					}
				}
			})

			var behind, ahead []*provider.Provider
			insertWhere := func(into *[]*provider.Provider, ok func(providersapp.Position) bool) {
				for range 200 {
					p := gen.next()
					if ok(providersapp.PositionOf(stored(p))) {
						create(t, h.Store, p)
						*into = append(*into, p)
						return
					}
				}
			}
			got := walkCursor(t, h.Store, providersapp.ListQuery{UserID: user, Sort: sort}, 4, 100, func(after providersapp.Position) {
				insertWhere(&behind, func(p providersapp.Position) bool { return compare(p, after, sort) < 0 })
				insertWhere(&ahead, func(p providersapp.Position) bool { return compare(p, after, sort) > 0 })
			})
			cancel()
			wg.Wait()
			if writerErr != nil {
				t.Fatalf("concurrent CreateProvider: %v", writerErr)
			}

			for j := 1; j < len(got); j++ {
				if compare(providersapp.PositionOf(got[j-1]), providersapp.PositionOf(got[j]), sort) >= 0 {
					t.Errorf("row %d (%q) does not come after row %d (%q)", j, got[j].Alias(), j-1, got[j-1].Alias())
				}
			}
			seen := map[uuid.UUID]bool{}
			for _, p := range got {
				seen[p.ID()] = true
			}
			for _, p := range existing {
				if !seen[p.ID()] {
					t.Errorf("row %q, there before the walk, was skipped", p.Alias())
				}
			}
			for _, p := range ahead {
				if !seen[p.ID()] {
					t.Errorf("row %q, inserted ahead of the cursor, was skipped", p.Alias())
				}
			}
			for _, p := range behind {
				if seen[p.ID()] {
					t.Errorf("row %q, inserted behind the cursor, was returned", p.Alias())
				}
			}
			if len(behind) == 0 || len(ahead) == 0 {
				t.Errorf("the walk inserted %d rows behind and %d ahead of the cursor; the test needs both", len(behind), len(ahead))
			}
		})
	}
}

// rowGen makes providers of one user with unique aliases and random keys,
// statuses and times (on whole minutes, so ties are common).
type rowGen struct {
	user   uuid.UUID
	prefix string // keeps the aliases of two generators apart
	rnd    *rand.Rand
	n      int
}

var aliasWords = []string{"Alpha", "alpha", "Brokerage", "checking", "Zeta", "zulu", "Émile", "401k", "Savings", "_under", "%pct"}

func (g *rowGen) next() *provider.Provider {
	g.n++
	alias := aliasWords[g.rnd.IntN(len(aliasWords))] + " " + g.prefix + strconv.Itoa(g.n)
	created := base.Add(time.Duration(g.rnd.IntN(120)-60) * time.Minute)
	p, err := provider.New(uuid.New(), g.user, providerKeys[g.rnd.IntN(len(providerKeys))], alias, created)
	if err != nil {
		panic(err) // the aliases above are valid
	}
	if g.rnd.IntN(2) == 0 {
		statuses := provider.Statuses()
		p.SetStatus(statuses[g.rnd.IntN(len(statuses))], created.Add(time.Duration(g.rnd.IntN(10))*time.Minute))
	}
	return p
}

// sortParam writes sort as the API's sort parameter.
func sortParam(sort []providersapp.SortField) string {
	parts := make([]string, len(sort))
	for i, f := range sort {
		parts[i] = string(f.Key)
		if f.Desc {
			parts[i] = "-" + parts[i]
		}
	}
	return strings.Join(parts, ",")
}

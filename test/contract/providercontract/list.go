package providercontract

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/provider"
)

// The sorts the examples use.
var (
	byAlias              = []providersapp.SortField{{Key: providersapp.SortAlias}}
	byKeyThenNewest      = []providersapp.SortField{{Key: providersapp.SortKeyField}, {Key: providersapp.SortCreatedAt, Desc: true}}
	byOldestUpdate       = []providersapp.SortField{{Key: providersapp.SortUpdatedAt}}
	byAliasDescThenOlder = []providersapp.SortField{{Key: providersapp.SortAlias, Desc: true}, {Key: providersapp.SortCreatedAt}}
)

// listExamples pins the list semantics down on a small, readable data set; the
// property test then checks them on random ones.
func listExamples(t *testing.T, h Harness) {
	user, other := newUser(t, h), newUser(t, h)
	// Fixed ids, so that the tie between d and e (created at the same instant)
	// has a known order.
	mk := func(n byte, key, alias string, status provider.Status, created time.Time) *provider.Provider {
		id := uuid.UUID{0x01, 0x90, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, n}
		p, err := provider.New(id, user, key, alias, created)
		if err != nil {
			t.Fatal(err)
		}
		p.SetStatus(status, created.Add(time.Hour))
		create(t, h.Store, p)
		return stored(p)
	}
	a := mk(1, "schwab", "My Schwab", provider.StatusActive, base)
	b := mk(2, "plaid", "Chase 100%", provider.StatusActive, base.Add(time.Minute))
	c := mk(3, "plaid", "chase_savings", provider.StatusPending, base.Add(2*time.Minute))
	d := mk(4, "sandbox", `Back\slash`, provider.StatusNotConnected, base.Add(3*time.Minute))
	e := mk(5, "sandbox", "Ünïcode Bank", provider.StatusRevoked, base.Add(3*time.Minute))
	create(t, h.Store, mustNew(t, other, "plaid", "Chase Other", base))
	newest := providersapp.DefaultSort
	posD := providersapp.PositionOf(d)

	tests := []struct {
		name  string
		q     providersapp.ListQuery
		want  []*provider.Provider
		total int64
	}{
		{name: "everything, newest first, ties by id descending", q: query(newest, providersapp.Filter{}), want: ps(e, d, c, b, a)},
		{name: "status", q: query(newest, providersapp.Filter{Status: provider.StatusActive}), want: ps(b, a)},
		{name: "provider key, only the caller's", q: query(newest, providersapp.Filter{Key: "plaid"}), want: ps(c, b)},
		{name: "status and key", q: query(newest, providersapp.Filter{Status: provider.StatusPending, Key: "plaid"}), want: ps(c)},
		{name: "search ignores case", q: query(newest, providersapp.Filter{Search: "CHASE"}), want: ps(c, b)},
		{name: "search ignores case beyond ASCII", q: query(newest, providersapp.Filter{Search: "ÜNÏ"}), want: ps(e)},
		{name: "search takes % literally", q: query(newest, providersapp.Filter{Search: "%"}), want: ps(b)},
		{name: "search takes _ literally", q: query(newest, providersapp.Filter{Search: "e_s"}), want: ps(c)},
		{name: "search takes _ literally, not as any character", q: query(newest, providersapp.Filter{Search: "e_1"}), want: ps()},
		{name: `search takes \ literally`, q: query(newest, providersapp.Filter{Search: `k\s`}), want: ps(d)},
		{name: "search without a match", q: query(newest, providersapp.Filter{Search: "e%"}), want: ps()},
		{name: "created after is exclusive", q: query(newest, providersapp.Filter{CreatedAfter: base.Add(2 * time.Minute)}), want: ps(e, d)},
		{name: "created before is exclusive", q: query(newest, providersapp.Filter{CreatedBefore: base.Add(time.Minute)}), want: ps(a)},
		{name: "created after a nanosecond before a row includes it", q: query(newest, providersapp.Filter{CreatedAfter: base.Add(2*time.Minute - 1)}), want: ps(e, d, c)},
		{name: "created after a nanosecond after a row excludes it", q: query(newest, providersapp.Filter{CreatedAfter: base.Add(2*time.Minute + 1)}), want: ps(e, d)},
		{name: "created before a nanosecond after a row includes it", q: query(newest, providersapp.Filter{CreatedBefore: base.Add(time.Minute + 1)}), want: ps(b, a)},
		{name: "created before a nanosecond before a row excludes it", q: query(newest, providersapp.Filter{CreatedBefore: base.Add(time.Minute - 1)}), want: ps(a)},
		{name: "created between, bounds in another zone", q: query(newest, providersapp.Filter{
			CreatedAfter:  base.In(time.FixedZone("UTC-8", -8*3600)),
			CreatedBefore: base.Add(3 * time.Minute).In(time.FixedZone("UTC+5", 5*3600)),
		}), want: ps(c, b)},
		{name: "alias sorts by bytes: upper case before lower case, ASCII before the rest", q: query(byAlias, providersapp.Filter{}), want: ps(d, b, a, c, e)},
		{name: "two fields: key, then newest first, ties by id descending", q: query(byKeyThenNewest, providersapp.Filter{}), want: ps(c, b, e, d, a)},
		{name: "two fields in mixed directions, ties by id in the last one's", q: query(byAliasDescThenOlder, providersapp.Filter{}), want: ps(e, c, a, b, d)},
		{name: "updated at (d never changed status)", q: query(byOldestUpdate, providersapp.Filter{}), want: ps(d, a, b, c, e)},
		{name: "offset and limit", q: withPage(query(newest, providersapp.Filter{}), 1, 2), want: ps(d, c), total: 5},
		{name: "offset past the end is empty, with the total", q: withPage(query(newest, providersapp.Filter{}), 10, 2), want: ps(), total: 5},
		{name: "offset with a filter counts the filtered rows", q: withPage(query(newest, providersapp.Filter{Key: "plaid"}), 1, 5), want: ps(b), total: 2},
		{name: "cursor after a tied row", q: withAfter(query(newest, providersapp.Filter{}), posD, 2), want: ps(c, b)},
		{name: "cursor ignores the offset", q: withPage(withAfter(query(newest, providersapp.Filter{}), posD, 2), 3, 2), want: ps(c, b)},
		{name: "cursor in mixed directions", q: withAfter(query(byKeyThenNewest, providersapp.Filter{}), providersapp.PositionOf(e), 0), want: ps(d, a)},
		{name: "cursor after the last row is empty", q: withAfter(query(newest, providersapp.Filter{}), providersapp.PositionOf(a), 5), want: ps()},
		{name: "a user without providers", q: providersapp.ListQuery{UserID: other, Sort: newest, Filter: providersapp.Filter{Key: "schwab"}, WithTotal: true}, want: ps(), total: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.q.UserID == uuid.Nil {
				tc.q.UserID = user
			}
			items, total, err := h.Store.ListProviders(t.Context(), tc.q)
			if err != nil {
				t.Fatalf("ListProviders: %v", err)
			}
			assertList(t, items, tc.want)
			wantTotal := tc.total // of a paged query; an unpaged one counts what it returns
			if tc.q.Limit == 0 {
				wantTotal = int64(len(tc.want))
			}
			if tc.q.WithTotal && total != wantTotal {
				t.Errorf("total %d, want %d", total, wantTotal)
			}
		})
	}

	t.Run("an empty sort is the default sort", func(t *testing.T) {
		assertList(t, list(t, h.Store, providersapp.ListQuery{UserID: user}), ps(e, d, c, b, a))
	})
	t.Run("an unknown sort key is an error", func(t *testing.T) {
		_, _, err := h.Store.ListProviders(t.Context(), providersapp.ListQuery{UserID: user,
			Sort: []providersapp.SortField{{Key: "alias; DROP TABLE providers"}}})
		if err == nil {
			t.Fatal("ListProviders accepted an unknown sort key")
		}
		assertList(t, list(t, h.Store, providersapp.ListQuery{UserID: user, Sort: byAlias}), ps(d, b, a, c, e))
	})
}

func query(sort []providersapp.SortField, f providersapp.Filter) providersapp.ListQuery {
	return providersapp.ListQuery{Sort: sort, Filter: f, WithTotal: true}
}

func withPage(q providersapp.ListQuery, offset, limit int) providersapp.ListQuery {
	q.Offset, q.Limit = offset, limit
	return q
}

func withAfter(q providersapp.ListQuery, after providersapp.Position, limit int) providersapp.ListQuery {
	q.After, q.Limit, q.WithTotal = &after, limit, false
	return q
}

func ps(p ...*provider.Provider) []*provider.Provider { return p }

// assertList checks that got holds exactly want's providers, in want's order,
// with every field.
func assertList(t tester, got, want []*provider.Provider) {
	t.Helper()
	if !slices.Equal(idsOf(got), idsOf(want)) {
		t.Fatalf("got %d providers %s\nwant %d: %s", len(got), aliases(got), len(want), aliases(want))
	}
	for i := range want {
		assertProvider(t, got[i], want[i])
	}
}

func aliases(ps []*provider.Provider) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Alias() + " (" + p.ID().String()[:8] + "…" + p.ID().String()[30:] + ")"
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// oracle returns the user's providers among all that match f, in sort's order:
// the specification the stores are held to.
func oracle(all []*provider.Provider, user uuid.UUID, f providersapp.Filter, sort []providersapp.SortField) []*provider.Provider {
	var out []*provider.Provider
	for _, p := range all {
		if p.UserID() != user ||
			!f.Status.IsZero() && p.Status() != f.Status ||
			f.Key != "" && p.Key() != f.Key ||
			!strings.Contains(strings.ToLower(p.Alias()), strings.ToLower(f.Search)) ||
			!f.CreatedAfter.IsZero() && !p.CreatedAt().After(f.CreatedAfter) ||
			!f.CreatedBefore.IsZero() && !p.CreatedAt().Before(f.CreatedBefore) {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *provider.Provider) int {
		return compare(providersapp.PositionOf(a), providersapp.PositionOf(b), sort)
	})
	return out
}

// compare orders positions under sort: strings by their bytes, ties broken by id
// in the direction of the last field.
func compare(a, b providersapp.Position, sort []providersapp.SortField) int {
	for _, f := range sort {
		var c int
		switch f.Key {
		case providersapp.SortAlias:
			c = strings.Compare(a.Alias, b.Alias)
		case providersapp.SortKeyField:
			c = strings.Compare(a.Key, b.Key)
		case providersapp.SortCreatedAt:
			c = a.CreatedAt.Compare(b.CreatedAt)
		case providersapp.SortUpdatedAt:
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		default:
			panic("unknown sort key " + string(f.Key))
		}
		if f.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	c := bytes.Compare(a.ID[:], b.ID[:])
	if sort[len(sort)-1].Desc {
		c = -c
	}
	return c
}

// walkOffset reads every page of q in offset mode, as the service does (with the
// total), checking the total of each page against wantTotal.
func walkOffset(t tester, st providersapp.Repository, q providersapp.ListQuery, limit int, wantTotal int) []*provider.Provider {
	t.Helper()
	var got []*provider.Provider
	q.After, q.Limit, q.WithTotal = nil, limit, true
	for q.Offset = 0; ; q.Offset += limit {
		items, total, err := st.ListProviders(context.Background(), q)
		if err != nil {
			t.Fatalf("ListProviders(offset %d, limit %d): %v", q.Offset, limit, err)
		}
		if total != int64(wantTotal) {
			t.Fatalf("offset %d: total %d, want %d", q.Offset, total, wantTotal)
		}
		if len(items) > limit {
			t.Fatalf("offset %d: %d items, over the limit %d", q.Offset, len(items), limit)
		}
		got = append(got, items...)
		if len(items) < limit {
			return got
		}
		if q.Offset > wantTotal+limit {
			t.Fatalf("offset walk does not end: offset %d of %d rows", q.Offset, wantTotal)
		}
	}
}

// walkCursor reads every page of q in cursor mode, as the service does: it asks
// for limit+1 rows to learn whether there is more, and starts the next page after
// the last row it keeps. between, if not nil, runs after each page with the
// position the next page starts after. maxPages stops a walk that would not end.
func walkCursor(t tester, st providersapp.Repository, q providersapp.ListQuery, limit, maxPages int,
	between func(after providersapp.Position),
) []*provider.Provider {
	t.Helper()
	var got []*provider.Provider
	q.After, q.Offset, q.Limit, q.WithTotal = nil, 0, limit+1, false
	for range maxPages {
		items, _, err := st.ListProviders(context.Background(), q)
		if err != nil {
			t.Fatalf("ListProviders(cursor page %d, limit %d): %v", len(got)/limit, limit, err)
		}
		if len(items) > limit+1 {
			t.Fatalf("%d items, over the limit %d", len(items), limit+1)
		}
		if len(items) <= limit {
			return append(got, items...)
		}
		got = append(got, items[:limit]...)
		pos := providersapp.PositionOf(items[limit-1])
		q.After = &pos
		if between != nil {
			between(pos)
		}
	}
	t.Fatalf("cursor walk did not end after %d pages", maxPages)
	return nil
}

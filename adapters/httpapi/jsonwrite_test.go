package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
)

// tricky strings for the escaper: quotes, backslashes, control characters,
// HTML characters, line and paragraph separators, invalid UTF-8, multi-byte.
var trickyString = rapid.OneOf(
	rapid.String(),
	rapid.StringOf(rapid.SampledFrom([]rune{'"', '\\', '<', '>', '&', '\b', '\f', '\n', '\r', '\t', 0, 0x1f, 0x7f, '\u2028', '\u2029', 'é', '€', '😀', 'a'})),
	rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) string { return string(b) }),
)

func optional[T any](t *rapid.T, label string, gen *rapid.Generator[T]) *T {
	if !rapid.Bool().Draw(t, label+" set") {
		return nil
	}
	v := gen.Draw(t, label)
	return &v
}

var anyTime = rapid.Custom(func(t *rapid.T) time.Time {
	return time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "unix"), rapid.Int64Range(0, 999999999).Draw(t, "nanos")).UTC()
})

var anyProvider = rapid.Custom(func(t *rapid.T) api.Provider {
	p := api.Provider{
		Id:           uuid.UUID(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "id")),
		Alias:        optional(t, "alias", trickyString),
		ProviderKey:  optional(t, "provider_key", trickyString),
		CreatedAt:    optional(t, "created_at", anyTime),
		UpdatedAt:    optional(t, "updated_at", anyTime),
		LastSyncedAt: optional(t, "last_synced_at", anyTime),
		DataAsOf:     optional(t, "data_as_of", anyTime),
	}
	if st := optional(t, "status", trickyString); st != nil {
		s := api.ConnectionStatus(*st)
		p.ConnectionStatus = &s
	}
	if rapid.Bool().Draw(t, "links set") {
		p.UnderscoreLinks = &api.ProviderLinks{Self: trickyString.Draw(t, "self"), Authorization: trickyString.Draw(t, "authorization"),
			Syncs: trickyString.Draw(t, "syncs")}
	}
	return p
})

// The hand-written encoders write exactly what encoding/json writes.
func TestProviderJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		l := api.ProviderList{
			UnderscoreLinks: api.PageLinks{
				Self:  trickyString.Draw(t, "self"),
				First: optional(t, "first", trickyString),
				Last:  optional(t, "last", trickyString),
				Next:  optional(t, "next", trickyString),
				Prev:  optional(t, "prev", trickyString),
			},
			HasMore:    optional(t, "has_more", rapid.Bool()),
			NextCursor: optional(t, "next_cursor", trickyString),
			Page:       optional(t, "page", rapid.Int32()),
			Pages:      optional(t, "pages", rapid.Int32()),
			PerPage:    optional(t, "per_page", rapid.Int32()),
			Total:      optional(t, "total", rapid.Int64()),
		}
		if !rapid.Bool().Draw(t, "nil items") {
			l.Items = rapid.SliceOfN(anyProvider, 0, 5).Draw(t, "items")
		}
		want, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendProviderList(nil, &l); !bytes.Equal(got, want) {
			t.Fatalf("list:\n got %s\nwant %s", got, want)
		}
		for i := range l.Items {
			want, _ := json.Marshal(l.Items[i])
			if got := appendProvider(nil, &l.Items[i]); !bytes.Equal(got, want) {
				t.Fatalf("provider:\n got %s\nwant %s", got, want)
			}
		}
	})
}

// A field added to the document (and so to the generated types) must be added
// to the hand-written encoders too; this test says so rather than letting the
// field silently go missing from responses.
func TestProviderJSONKnowsEveryField(t *testing.T) {
	t.Parallel()
	for typ, known := range map[reflect.Type][]string{
		reflect.TypeFor[api.Provider]():      {"_links", "alias", "connection_status", "created_at", "data_as_of", "id", "last_synced_at", "provider_key", "updated_at"},
		reflect.TypeFor[api.ProviderLinks](): {"authorization", "self", "syncs"},
		reflect.TypeFor[api.ProviderList]():  {"_links", "has_more", "items", "next_cursor", "page", "pages", "per_page", "total"},
		reflect.TypeFor[api.PageLinks]():     {"first", "last", "next", "prev", "self"},
	} {
		var fields []string
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields = append(fields, name)
		}
		slices.Sort(fields)
		if !slices.Equal(fields, known) {
			t.Errorf("%s has JSON fields %v; adapters/httpapi/jsonwrite.go encodes %v: update it", typ, fields, known)
		}
	}
}

func BenchmarkProviderListJSON(b *testing.B) {
	now := time.Now().UTC()
	items := make([]api.Provider, 20)
	for i := range items {
		alias, key, st := "Roth IRA 0001", "sandbox", api.ConnectionStatus("not_connected")
		self := providerPath(uuid.New())
		items[i] = api.Provider{Id: uuid.New(), Alias: &alias, ProviderKey: &key, ConnectionStatus: &st, CreatedAt: &now, UpdatedAt: &now,
			UnderscoreLinks: &api.ProviderLinks{Self: self, Authorization: self + "/authorization", Syncs: self + "/syncs"}}
	}
	more, next := true, strings.Repeat("x", 120)
	l := api.ProviderList{Items: items, HasMore: &more, NextCursor: &next, UnderscoreLinks: api.PageLinks{Self: "/api/v1/providers?limit=20"}}
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(l)
		}
	})
	b.Run("hand_written", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 8<<10)
		for b.Loop() {
			buf = appendProviderList(buf[:0], &l)
		}
	})
}

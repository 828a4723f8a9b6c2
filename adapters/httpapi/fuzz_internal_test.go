package httpapi

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/provider"
)

// Fuzz targets of the list cursor codec, in the package since the codec is
// unexported. The committed corpora are in testdata/fuzz/<target>.

// The corpus of FuzzCursorDecode holds cursors signed with this key for this
// user (position: alias "Bank", key "sandbox", both times
// 2026-11-21T10:30:00.123456Z, id 01928f3e-0000-7000-8000-0000000000aa).
var (
	fuzzCursorKey  = []byte("fuzzing key of at least 32 bytes!")
	fuzzCursorUser = uuid.MustParse("01928f3e-0000-7000-8000-000000000001")
)

func fuzzCursorQuery(sort string) providersapp.ListQuery {
	s, _ := providersapp.ParseSort(sort)
	return providersapp.ListQuery{UserID: fuzzCursorUser, Sort: s, Limit: 20}
}

// FuzzCursorDecode feeds arbitrary ?cursor= values to the codec. Beyond not
// panicking: a rejection is exactly errInvalidCursor (a 422 naming the cursor,
// never a database error) with no position; an acceptance can only be a cursor
// this codec signed for this very query, so its position signs back to the same
// payload, and it is refused for any other query (another user, sort or filter).
func FuzzCursorDecode(f *testing.F) {
	cc := newCursorCodec(fuzzCursorKey)
	q := fuzzCursorQuery("alias")
	fp := queryFingerprint(q)
	// The corpus holds this cursor and near misses of it; adding it here too
	// keeps an accepted input in the corpus should the encoding ever change.
	f.Add(cc.encode(fp, providersapp.Position{Alias: "Bank", Key: "sandbox",
		CreatedAt: time.UnixMicro(1795257000123456).UTC(), UpdatedAt: time.UnixMicro(1795257000123456).UTC(),
		ID: uuid.MustParse("01928f3e-0000-7000-8000-0000000000aa")}))
	others := []string{
		queryFingerprint(fuzzCursorQuery("-alias")),
		queryFingerprint(providersapp.ListQuery{UserID: uuid.New(), Sort: q.Sort}),
		queryFingerprint(providersapp.ListQuery{UserID: fuzzCursorUser, Sort: q.Sort, Filter: providersapp.Filter{Search: "b"}}),
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		pos, err := cc.decode(fp, cursor)
		if err != nil {
			if err != errInvalidCursor { //nolint:errorlint // the one fixed error, by identity
				t.Fatalf("decode(%q) = %v, want errInvalidCursor", cursor, err)
			}
			if pos != (providersapp.Position{}) {
				t.Fatalf("decode(%q) returned %+v alongside an error", cursor, pos)
			}
			return
		}
		got, _, _ := strings.Cut(cursor, ".")
		again, _, _ := strings.Cut(cc.encode(fp, pos), ".")
		if got != again {
			t.Fatalf("accepted %q, whose position %+v signs to another payload %q", cursor, pos, again)
		}
		for _, other := range others {
			if _, err := cc.decode(other, cursor); err == nil {
				t.Fatalf("cursor %q of one query was accepted for another", cursor)
			}
		}
	})
}

// FuzzCursorRoundTrip encodes arbitrary positions. Decoding gives back the same
// position (times at the microsecond the cursor keeps), so no page is skipped or
// repeated whatever the aliases hold; and for every alias and key the domain
// accepts (and provider keys of up to 16 characters; the catalog's have at most
// 7), the cursor fits the maxLength the document gives next_cursor and the
// cursor parameter, or the next page could not be asked for.
func FuzzCursorRoundTrip(f *testing.F) {
	spec, err := LoadSpec()
	if err != nil {
		f.Fatal(err)
	}
	maxCursor := documentedCursorLength(f, spec)
	cc := newCursorCodec(fuzzCursorKey)
	fp := queryFingerprint(fuzzCursorQuery("-created_at"))
	f.Fuzz(func(t *testing.T, alias, key string, created, updated int64, id []byte) {
		if !utf8.ValidString(alias) || !utf8.ValidString(key) {
			t.Skip("aliases and keys are valid UTF-8 (the domain refuses anything else)")
		}
		var u uuid.UUID
		copy(u[:], id)
		in := providersapp.Position{Alias: alias, Key: key, CreatedAt: time.UnixMicro(created).UTC(), UpdatedAt: time.UnixMicro(updated).UTC(), ID: u}
		cursor := cc.encode(fp, in)
		if valid, err := provider.ValidateAlias(alias); err == nil && valid == alias && len(key) <= 16 && len(cursor) > maxCursor {
			t.Fatalf("the cursor after alias %q is %d characters long; the document allows %d", alias, len(cursor), maxCursor)
		}
		out, err := cc.decode(fp, cursor)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", in, err)
		}
		if !out.CreatedAt.Equal(in.CreatedAt) || !out.UpdatedAt.Equal(in.UpdatedAt) || out.Alias != in.Alias || out.Key != in.Key || out.ID != in.ID {
			t.Fatalf("round trip changed the position:\n in  %+v\n out %+v", in, out)
		}
	})
}

// documentedCursorLength is the smaller of the maxLengths the document gives
// the cursor parameter of listProviders and ProviderList.next_cursor.
func documentedCursorLength(f *testing.F, spec *Spec) int {
	f.Helper()
	op := spec.Doc.Paths.Value("/api/v1/providers").Get
	param := op.Parameters.GetByInAndName("query", "cursor")
	next := spec.Doc.Components.Schemas["ProviderList"].Value.Properties["next_cursor"].Value
	if param == nil || param.Schema.Value.MaxLength == nil || next.MaxLength == nil {
		f.Fatal("the document does not bound the cursor")
	}
	return int(min(*param.Schema.Value.MaxLength, *next.MaxLength))
}

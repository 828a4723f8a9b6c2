package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	providersapp "github.com/dashtam/dashtam/application/providers"
)

// The largest position the API can produce (a 100-character alias of 4-byte
// runes, a 32-character key, extreme times) still makes a cursor within the
// documented 1,024 characters, and it decodes back to itself.
func TestCursorWorstCaseFitsTheDocument(t *testing.T) {
	t.Parallel()
	cc := newCursorCodec(make([]byte, 32))
	fp := queryFingerprint(providersapp.ListQuery{UserID: uuid.New(), Sort: providersapp.DefaultSort})
	for _, alias := range []string{strings.Repeat("😀", 100), strings.Repeat("\u2028", 100), strings.Repeat("<", 100)} {
		pos := providersapp.Position{Alias: alias, Key: strings.Repeat("k", 32),
			CreatedAt: time.UnixMicro(-1 << 62).UTC(), UpdatedAt: time.UnixMicro(1 << 62).UTC(), ID: uuid.New()}
		cursor := cc.encode(fp, pos)
		if len(cursor) > 1024 {
			t.Errorf("cursor of %d characters", len(cursor))
		}
		got, err := cc.decode(fp, cursor)
		if err != nil || got != pos {
			t.Errorf("round trip: %+v, %v", got, err)
		}
		if _, err := cc.decode(fp+"x", cursor); err == nil {
			t.Error("a cursor of another query decoded")
		}
	}
}

package httpapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

// cursorCodec makes list cursors opaque and tamper-evident: a cursor is a
// position plus a fingerprint of the query it belongs to (caller, sort, filters),
// signed with HMAC-SHA256. A forged, altered or foreign cursor is a 422 naming the
// cursor parameter, never a database error.
type cursorCodec struct{ key []byte }

func newCursorCodec(secret []byte) cursorCodec {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("dashtam list cursor v1"))
	return cursorCodec{key: mac.Sum(nil)}
}

type cursorPayload struct {
	Query     string    `json:"q"` // fingerprint of the query
	Alias     string    `json:"a"`
	Key       string    `json:"k"`
	CreatedAt int64     `json:"c"` // Unix microseconds
	UpdatedAt int64     `json:"u"`
	ID        uuid.UUID `json:"i"`
}

var errInvalidCursor = domain.NewValidationError("cursor", "invalid", "The cursor is invalid, altered, or belongs to another query; start again from the first page.")

func (cc cursorCodec) encode(fingerprint string, p providersapp.Position) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" stays one byte: cursors stay short
	_ = enc.Encode(cursorPayload{Query: fingerprint, Alias: p.Alias, Key: p.Key,
		CreatedAt: p.CreatedAt.UnixMicro(), UpdatedAt: p.UpdatedAt.UnixMicro(), ID: p.ID})
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	b64 := base64.RawURLEncoding.EncodeToString(body)
	return b64 + "." + base64.RawURLEncoding.EncodeToString(cc.sign(b64))
}

func (cc cursorCodec) decode(fingerprint, cursor string) (providersapp.Position, error) {
	b64, sig, ok := strings.Cut(cursor, ".")
	if !ok {
		return providersapp.Position{}, errInvalidCursor
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, cc.sign(b64)) {
		return providersapp.Position{}, errInvalidCursor
	}
	body, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return providersapp.Position{}, errInvalidCursor
	}
	var p cursorPayload
	if err := json.Unmarshal(body, &p); err != nil || p.Query != fingerprint {
		return providersapp.Position{}, errInvalidCursor
	}
	return providersapp.Position{Alias: p.Alias, Key: p.Key, CreatedAt: time.UnixMicro(p.CreatedAt).UTC(),
		UpdatedAt: time.UnixMicro(p.UpdatedAt).UTC(), ID: p.ID}, nil
}

func (cc cursorCodec) sign(b64 string) []byte {
	mac := hmac.New(sha256.New, cc.key)
	mac.Write([]byte(b64))
	return mac.Sum(nil)[:16]
}

// queryFingerprint identifies a list query: who asks, in which order, with which
// filters. A cursor only continues the query it came from.
func queryFingerprint(q providersapp.ListQuery) string {
	var b strings.Builder
	b.WriteString(q.UserID.String())
	for _, f := range q.Sort {
		b.WriteString("|s:")
		if f.Desc {
			b.WriteByte('-')
		}
		b.WriteString(string(f.Key))
	}
	b.WriteString("|st:" + q.Filter.Status.String())
	b.WriteString("|k:" + q.Filter.Key)
	b.WriteString("|q:" + q.Filter.Search)
	b.WriteString("|ca:" + timeKey(q.Filter.CreatedAfter))
	b.WriteString("|cb:" + timeKey(q.Filter.CreatedBefore))
	sum := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

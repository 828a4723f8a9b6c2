package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"

	adminapp "github.com/dashtam/dashtam/application/admin"
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

// cursorVersion starts every cursor body, so the layout can change later.
const cursorVersion = 1

var errInvalidCursor = domain.NewValidationError("cursor", "invalid", "The cursor is invalid, altered, or belongs to another query; start again from the first page.")

// encode lays the position out in binary, not JSON: JSON escapes some characters
// an alias may hold into six bytes each, while this layout's size is bounded by
// the alias's UTF-8 length (at most 400 bytes for 100 characters), so a cursor
// never exceeds about 650 characters, well within the documented 1,024.
//
// Lengths are uvarints, so any string round-trips (a position the API makes
// uses one byte for each length but the alias's two).
//
//	version | len(fingerprint) fingerprint | created_at µs | updated_at µs | id | len(key) key | len(alias) alias
func (cc cursorCodec) encode(fingerprint string, p providersapp.Position) string {
	body := make([]byte, 0, 48+len(p.Key)+len(p.Alias))
	body = binary.BigEndian.AppendUint64(body, uint64(p.CreatedAt.UnixMicro()))
	body = binary.BigEndian.AppendUint64(body, uint64(p.UpdatedAt.UnixMicro()))
	body = append(body, p.ID[:]...)
	body = appendString(body, p.Key)
	body = appendString(body, p.Alias)
	return cc.seal(fingerprint, body)
}

func (cc cursorCodec) decode(fingerprint, cursor string) (providersapp.Position, error) {
	r, err := cc.open(fingerprint, cursor)
	if err != nil {
		return providersapp.Position{}, err
	}
	var p providersapp.Position
	p.CreatedAt = time.UnixMicro(int64(r.uint64())).UTC()
	p.UpdatedAt = time.UnixMicro(int64(r.uint64())).UTC()
	copy(p.ID[:], r.bytes(len(p.ID)))
	p.Key = r.string()
	p.Alias = r.string()
	if err := r.done(); err != nil {
		return providersapp.Position{}, err
	}
	return p, nil
}

// seal makes a cursor of a position laid out in body, for the query with
// this fingerprint: the version, the fingerprint and body, base64url, then a
// dot and their signature. Every list's cursor is sealed here, so a cursor of
// one list can only be opened by the query it came from; each list's
// fingerprint starts differently (see queryFingerprint and the finance
// lists'), so neither can another list's.
func (cc cursorCodec) seal(fingerprint string, body []byte) string {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(fingerprint)+len(body))
	b = append(b, cursorVersion)
	b = appendString(b, fingerprint)
	b = append(b, body...)
	b64 := base64.RawURLEncoding.EncodeToString(b)
	return b64 + "." + base64.RawURLEncoding.EncodeToString(cc.sign(b64))
}

// open checks a cursor's signature, version and fingerprint and returns a
// reader over its position's layout; the caller reads it and calls done.
// Anything wrong is errInvalidCursor.
func (cc cursorCodec) open(fingerprint, cursor string) (*cursorReader, error) {
	b64, sig, ok := strings.Cut(cursor, ".")
	if !ok {
		return nil, errInvalidCursor
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, cc.sign(b64)) {
		return nil, errInvalidCursor
	}
	body, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return nil, errInvalidCursor
	}
	r := &cursorReader{b: body}
	if r.byte() != cursorVersion || r.string() != fingerprint {
		return nil, errInvalidCursor
	}
	return r, nil
}

// openPosition reads a cursor whose position is one number (an event id, a
// changes-feed position, a delivery's sequence): 0 without a cursor, and
// errInvalidCursor for a bad one or a number below least.
func (cc cursorCodec) openPosition(fingerprint string, cursor *string, least int64) (int64, error) {
	if cursor == nil {
		return 0, nil
	}
	r, err := cc.open(fingerprint, *cursor)
	if err != nil {
		return 0, err
	}
	n := r.int64()
	if err := r.done(); err != nil || n < least {
		return 0, errInvalidCursor
	}
	return n, nil
}

// cursorReader reads the binary layout; reading past the end marks it bad and
// yields zeros, so decode checks once at the end.
type cursorReader struct {
	b   []byte
	bad bool
}

func (r *cursorReader) bytes(n int) []byte {
	if n > len(r.b) {
		r.bad, r.b = true, nil
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// done returns errInvalidCursor unless everything was read, and nothing past
// the end.
func (r *cursorReader) done() error {
	if r.bad || len(r.b) != 0 {
		return errInvalidCursor
	}
	return nil
}

func (r *cursorReader) byte() byte     { return r.bytes(1)[0] }
func (r *cursorReader) uint64() uint64 { return binary.BigEndian.Uint64(r.bytes(8)) }
func (r *cursorReader) int64() int64   { return int64(r.uint64()) }

// appendInt64 appends n (an instant in µs, a feed position) as int64 reads it.
func appendInt64(b []byte, n int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(n)) }

// string reads a uvarint length and that many bytes.
func (r *cursorReader) string() string {
	n, size := binary.Uvarint(r.b)
	if size <= 0 || n > uint64(len(r.b)-size) {
		r.bad, r.b = true, nil
		return ""
	}
	r.b = r.b[size:]
	return string(r.bytes(int(n)))
}

// appendString appends s with its uvarint length.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
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
	return hashFingerprint([]byte(b.String()))
}

// hashFingerprint shortens a query's description to what a cursor carries.
func hashFingerprint(query []byte) string {
	sum := sha256.Sum256(query)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// encodeUser makes the cursor of the user list's position p.
//
//	version | len(fingerprint) fingerprint | created_at µs | id
func (cc cursorCodec) encodeUser(fingerprint string, p adminapp.UserPosition) string {
	body := make([]byte, 0, 24)
	body = appendInt64(body, p.CreatedAt.UnixMicro())
	body = append(body, p.ID[:]...)
	return cc.seal(fingerprint, body)
}

func (cc cursorCodec) decodeUser(fingerprint, cursor string) (adminapp.UserPosition, error) {
	r, err := cc.open(fingerprint, cursor)
	if err != nil {
		return adminapp.UserPosition{}, err
	}
	var p adminapp.UserPosition
	p.CreatedAt = time.UnixMicro(r.int64()).UTC()
	copy(p.ID[:], r.bytes(len(p.ID)))
	if err := r.done(); err != nil {
		return adminapp.UserPosition{}, err
	}
	return p, nil
}

// userQueryFingerprint identifies a user-list query by its filters; it starts
// with "users" so that no other list's cursor opens it.
func userQueryFingerprint(q adminapp.UserQuery) string {
	f := q.Filter
	return hashFingerprint([]byte("users|e:" + f.Email + "|r:" + f.Role.String() + "|st:" + f.Status.String() +
		"|ca:" + timeKey(f.CreatedAfter)))
}

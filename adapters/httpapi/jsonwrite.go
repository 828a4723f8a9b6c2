package httpapi

import (
	"encoding/hex"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
)

// The provider representations, on the hottest reads (GET /providers/{id} and
// list pages), are encoded by hand: encoding/json spent a noticeable share of a
// list page's CPU on them (docs/performance.md), most of it in time.Time's and
// uuid's marshalers and in re-validating what they returned. The output is byte for byte what
// encoding/json writes for the same api values (TestProviderJSONMatchesEncodingJSON),
// and a test fails when the generated types gain a field these functions do
// not know (TestProviderJSONKnowsEveryField).

// bufPool recycles response buffers: a list page is about 6 KiB.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// writeJSON sends the JSON encode appends as the response body.
func writeJSON(c *gin.Context, status int, encode func([]byte) []byte) {
	bp := bufPool.Get().(*[]byte)
	b := encode((*bp)[:0])
	c.Data(status, "application/json; charset=utf-8", b)
	if cap(b) <= 64<<10 { // do not keep the occasional huge buffer
		*bp = b
		bufPool.Put(bp)
	}
}

// appendProvider appends p as encoding/json would.
func appendProvider(b []byte, p *api.Provider) []byte {
	b = append(b, '{')
	comma := false
	field := func(name string) {
		if comma {
			b = append(b, ',')
		}
		comma = true
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	if l := p.UnderscoreLinks; l != nil {
		field("_links")
		b = append(b, `{"authorization":`...)
		b = appendJSONString(b, l.Authorization)
		b = append(b, `,"self":`...)
		b = appendJSONString(b, l.Self)
		b = append(b, `,"syncs":`...)
		b = appendJSONString(b, l.Syncs)
		b = append(b, '}')
	}
	if p.Alias != nil {
		field("alias")
		b = appendJSONString(b, *p.Alias)
	}
	if p.ConnectionStatus != nil {
		field("connection_status")
		b = appendJSONString(b, string(*p.ConnectionStatus))
	}
	if p.CreatedAt != nil {
		field("created_at")
		b = appendTime(b, *p.CreatedAt)
	}
	if p.DataAsOf != nil {
		field("data_as_of")
		b = appendTime(b, *p.DataAsOf)
	}
	field("id")
	b = appendUUID(b, p.Id)
	if p.LastSyncedAt != nil {
		field("last_synced_at")
		b = appendTime(b, *p.LastSyncedAt)
	}
	if p.ProviderKey != nil {
		field("provider_key")
		b = appendJSONString(b, *p.ProviderKey)
	}
	if p.UpdatedAt != nil {
		field("updated_at")
		b = appendTime(b, *p.UpdatedAt)
	}
	return append(b, '}')
}

// appendPageLinks appends a list page's links as encoding/json would (keys
// in field order, absent ones left out).
func appendPageLinks(b []byte, links api.PageLinks) []byte {
	b = append(b, '{')
	for _, f := range []struct {
		name string
		v    *string
	}{{"first", links.First}, {"last", links.Last}, {"next", links.Next}, {"prev", links.Prev}} {
		if f.v != nil {
			b = append(b, '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = appendJSONString(b, *f.v)
			b = append(b, ',')
		}
	}
	b = append(b, `"self":`...)
	b = appendJSONString(b, links.Self)
	return append(b, '}')
}

// appendProviderList appends l as encoding/json would.
func appendProviderList(b []byte, l *api.ProviderList) []byte {
	b = append(b, `{"_links":`...)
	b = appendPageLinks(b, l.UnderscoreLinks)
	if l.HasMore != nil {
		b = append(b, `,"has_more":`...)
		b = strconv.AppendBool(b, *l.HasMore)
	}
	b = append(b, `,"items":`...)
	if l.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range l.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendProvider(b, &l.Items[i])
		}
		b = append(b, ']')
	}
	if l.NextCursor != nil {
		b = append(b, `,"next_cursor":`...)
		b = appendJSONString(b, *l.NextCursor)
	}
	for _, f := range []struct {
		name string
		v    *int32
	}{{"page", l.Page}, {"pages", l.Pages}, {"per_page", l.PerPage}} {
		if f.v != nil {
			b = append(b, ',', '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = strconv.AppendInt(b, int64(*f.v), 10)
		}
	}
	if l.Total != nil {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, *l.Total, 10)
	}
	return append(b, '}')
}

// appendTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds). The service's times are UTC and within years 0-9999.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendUUID appends id in its canonical quoted form.
func appendUUID(b []byte, id uuid.UUID) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, id[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[8:10])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[10:16])
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string escaped exactly as encoding/json
// escapes it: quotes, backslashes and control characters; <, > and & (so the
// JSON is safe inside HTML); U+2028 and U+2029; invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

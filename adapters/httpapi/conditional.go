package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	providersapp "github.com/dashtam/dashtam/application/providers"
)

// Conditional requests. A provider's ETag is its version, a number that grows with
// every change: strong, cheap, and the same on every instance. A representation
// narrowed with ?fields= gets the field list as a suffix, since its bytes differ.

func etagOf(version int64, fields string) string {
	if fields != "" {
		return `"` + strconv.FormatInt(version, 10) + ";" + fields + `"`
	}
	return `"` + strconv.FormatInt(version, 10) + `"`
}

// splitETags splits an If-Match / If-None-Match header into its entity tags
// ("*", "\"x\"" or W/"x"). A comma inside a quoted tag belongs to the tag: ours
// carry a field list. Anything malformed is kept as a token that matches nothing.
func splitETags(header string) []string {
	var tags []string
	for i := 0; i < len(header); {
		switch header[i] {
		case ' ', '\t', ',':
			i++
			continue
		}
		start := i
		if strings.HasPrefix(header[i:], "W/") {
			i += 2
		}
		if i < len(header) && header[i] == '"' {
			end := strings.IndexByte(header[i+1:], '"')
			if end < 0 {
				return append(tags, header[start:]) // unterminated: matches nothing
			}
			i += end + 2
		} else {
			for i < len(header) && header[i] != ',' {
				i++
			}
		}
		tags = append(tags, strings.TrimSpace(header[start:i]))
	}
	return tags
}

// secondOver reports whether the second modified falls in is over at now. An
// HTTP date has whole seconds: while the second of a change is not over, a
// second change in it would carry the same Last-Modified, so a client holding
// that date could be told 304 for a representation it has not seen.
func secondOver(modified, now time.Time) bool {
	return !now.Before(modified.Truncate(time.Second).Add(time.Second))
}

// setLastModified sends Last-Modified for a representation modified at
// modified, but only once that second is over (secondOver): until then the
// ETag alone validates it (hardening item 20).
func setLastModified(c interface{ Header(key, value string) }, modified, now time.Time) {
	if secondOver(modified, now) {
		c.Header("Last-Modified", modified.UTC().Format(http.TimeFormat))
	}
}

// notModified reports whether a GET with these headers may answer 304 for a
// representation with etag, last modified at modified, at now (RFC 9110
// §13.2.2: If-None-Match wins over If-Modified-Since; weak comparison). An
// If-Modified-Since is honoured only once the second of the modification is
// over (secondOver): never 304 for a change made in the same second as the
// date the client holds.
func notModified(r *http.Request, etag string, modified, now time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range splitETags(inm) {
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil {
			return secondOver(modified, now) && !modified.Truncate(time.Second).After(t)
		}
	}
	return false
}

// precondition turns If-Match into the versions the client is willing to change
// (strong comparison: weak tags never match). Absent or "*": unconditional, since
// the resource must exist anyway. A header with no usable tag matches nothing.
func precondition(header string) providersapp.Precondition {
	if header == "" {
		return nil
	}
	versions := providersapp.Precondition{}
	for _, t := range splitETags(header) {
		if t == "*" {
			return nil
		}
		if strings.HasPrefix(t, "W/") || len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
			continue
		}
		// The version comes first: "7", "7;fields", "7.<synced>.<as of>".
		num, _, _ := strings.Cut(t[1:len(t)-1], ";")
		num, _, _ = strings.Cut(num, ".")
		if v, err := strconv.ParseInt(num, 10, 64); err == nil {
			versions = append(versions, v)
		}
	}
	return versions
}

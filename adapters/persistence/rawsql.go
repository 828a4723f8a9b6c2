package persistence

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The reads on every request's path (the session check, a provider by id, a
// page of providers) skip GORM: they are hand-written SQL run on the pool GORM
// uses and scanned column by column, because in the profiles GORM's statement
// building and reflective scanning were a large share of such a read's CPU
// (docs/performance.md). Everything else, and every write, goes through GORM.

// statement is SQL under construction: text with one ? per argument, and the
// arguments. The text is written by this package only and never contains a
// literal question mark.
type statement struct {
	text    []byte
	args    []any
	literal bool // numbers (LIMIT, OFFSET) go in the text, not as parameters
}

// newStatement starts a statement for d. LIMIT and OFFSET are parameters on
// Postgres and literals on SQLite, each the faster way there (make bench,
// docs/performance.md): a literal OFFSET made Postgres spend more CPU on an
// offset page, and SQLite prepares a statement whose LIMIT is bound a second
// time on every execution.
func (d *DB) newStatement() *statement {
	return &statement{literal: d.Dialect == SQLite}
}

// add appends text and its arguments.
func (s *statement) add(text string, args ...any) {
	s.text = append(s.text, text...)
	s.args = append(s.args, args...)
}

// number appends n, a LIMIT or OFFSET.
func (s *statement) number(n int) {
	if s.literal {
		s.text = strconv.AppendInt(s.text, int64(n), 10)
		return
	}
	s.add("?", n)
}

// sql is the statement's text in d's placeholder syntax (bind).
func (d *DB) sql(s *statement) string {
	return d.bind(string(s.text))
}

// bind turns text's ? placeholders into d's syntax: ? for SQLite, $1, $2, ...
// for Postgres.
func (d *DB) bind(text string) string {
	if d.Dialect != Postgres {
		return text
	}
	var b strings.Builder
	b.Grow(len(text) + 8)
	n := 0
	for {
		i := strings.IndexByte(text, '?')
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		n++
		b.WriteString(text[:i])
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
		text = text[i+1:]
	}
}

// query runs s and returns its rows.
func (d *DB) query(ctx context.Context, s *statement) (*sql.Rows, error) {
	return d.SQL.QueryContext(ctx, d.sql(s), s.args...)
}

// timeColumn is how a select list reads a time column so that timeScan can
// read it fast: as it is on Postgres (the driver returns a time.Time); as its
// stored text on SQLite, whose driver would otherwise try several layouts on
// every value before one fits.
func (d *DB) timeColumn(column string) string {
	if d.Dialect == SQLite {
		return "CAST(" + column + " AS TEXT)"
	}
	return column
}

// sqliteTimeLayout is how the SQLite driver writes a time.Time (its default
// format); every time the stores write is UTC, to the microsecond.
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// timeScan reads a time column selected by timeColumn into *t, in UTC. NULL is
// the zero time.
type timeScan struct{ t *time.Time }

func (s timeScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case time.Time:
		*s.t = v.UTC()
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	default:
		return fmt.Errorf("cannot read %T as a time", src)
	}
	return nil
}

func (s timeScan) parse(text string) error {
	if t, ok := parseUTCTime(text); ok {
		*s.t = t
		return nil
	}
	t, err := time.Parse(sqliteTimeLayout, text)
	if err != nil {
		return fmt.Errorf("stored time %q: %w", text, err)
	}
	*s.t = t.UTC()
	return nil
}

// parseUTCTime parses the one shape every stored time has,
// "2006-01-02 15:04:05[.fraction]+00:00", without time.Parse's generality
// (which was a tenth of a SQLite list page's CPU). It reports false for
// anything else, which the caller then hands to time.Parse.
func parseUTCTime(s string) (time.Time, bool) {
	const zone = "+00:00"
	if len(s) < 19+len(zone) || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' ||
		s[len(s)-len(zone):] != zone {
		return time.Time{}, false
	}
	year, ok1 := atoiFixed(s[0:4])
	month, ok2 := atoiFixed(s[5:7])
	day, ok3 := atoiFixed(s[8:10])
	hour, ok4 := atoiFixed(s[11:13])
	minute, ok5 := atoiFixed(s[14:16])
	sec, ok6 := atoiFixed(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := s[19 : len(s)-len(zone)]; frac != "" {
		digits := frac[1:]
		if frac[0] != '.' || len(digits) == 0 || len(digits) > 9 {
			return time.Time{}, false
		}
		n, ok := atoiFixed(digits)
		if !ok {
			return time.Time{}, false
		}
		for range 9 - len(digits) {
			n *= 10
		}
		nsec = n
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	// time.Date normalises out-of-range fields (February 30th); stored times
	// never have them, and time.Parse rejects them.
	if t.Year() != year || int(t.Month()) != month || t.Day() != day || t.Hour() != hour || t.Minute() != minute || t.Second() != sec {
		return time.Time{}, false
	}
	return t, true
}

// atoiFixed parses s, which must be all ASCII digits.
func atoiFixed(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

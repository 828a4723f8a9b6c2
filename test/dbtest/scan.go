package dbtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
)

// Mention is a row of some table holding one of the values looked for.
type Mention struct {
	Table string
	// Row is the row, each column rendered as text.
	Row map[string]string
}

// Needle is a value a scan looks for: Text anywhere in a column's text, or, for
// an id, also its 16 raw bytes (a driver may hand a uuid column back either way).
type Needle struct {
	Text string
	ID   uuid.UUID
}

// IDNeedle looks for an id.
func IDNeedle(id uuid.UUID) Needle { return Needle{Text: id.String(), ID: id} }

// TextNeedle looks for a string.
func TextNeedle(s string) Needle { return Needle{Text: s} }

// Tables lists every table of db's schema (the test's own on Postgres).
func Tables(t testing.TB, db *persistence.DB) []string {
	t.Helper()
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	if db.Dialect == persistence.SQLite {
		q = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	}
	rows, err := db.SQL.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	defer func() { _ = rows.Close() }()
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(tables)
	return tables
}

// Mentions reads every row of every table of db and returns those where a
// column holds one of needles. It reads whole tables: for test databases.
func Mentions(t testing.TB, db *persistence.DB, needles ...Needle) []Mention {
	t.Helper()
	var found []Mention
	for _, table := range Tables(t, db) {
		found = append(found, tableMentions(t, db, table, needles)...)
	}
	return found
}

func tableMentions(t testing.TB, db *persistence.DB, table string, needles []Needle) []Mention {
	t.Helper()
	rows, err := db.SQL.QueryContext(context.Background(), `SELECT * FROM "`+table+`"`)
	if err != nil {
		t.Fatalf("read table %s: %v", table, err)
	}
	defer func() { _ = rows.Close() }()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var found []Mention
	for rows.Next() {
		values := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range values {
			ptrs[i] = &values[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("read table %s: %v", table, err)
		}
		hit := false
		row := make(map[string]string, len(cols))
		for i, v := range values {
			raw := columnBytes(v)
			row[cols[i]] = string(raw)
			for _, n := range needles {
				if bytes.Contains(raw, []byte(n.Text)) || (n.ID != uuid.Nil && bytes.Contains(raw, n.ID[:])) {
					hit = true
				}
			}
		}
		if hit {
			found = append(found, Mention{Table: table, Row: row})
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read table %s: %v", table, err)
	}
	return found
}

func columnBytes(v any) []byte {
	switch v := v.(type) {
	case nil:
		return nil
	case []byte:
		return v
	case string:
		return []byte(v)
	case [16]byte:
		return v[:]
	default:
		return fmt.Appendf(nil, "%v", v)
	}
}

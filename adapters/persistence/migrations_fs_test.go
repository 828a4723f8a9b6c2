package persistence_test

import (
	"io/fs"
	"testing"

	"github.com/dashtam/dashtam/migrations"
)

func dbtestSources(t *testing.T, dialect string) []string {
	t.Helper()
	fsys, err := migrations.FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return names
}

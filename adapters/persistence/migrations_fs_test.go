package persistence_test

import (
	"io/fs"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dashtam/dashtam/migrations"
)

// dbtestSources names dialect's migrations in version order: its SQL files
// and its Go migrations, which may fill versions the SQL folder skips.
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
	goMigrations, err := migrations.Go(dialect)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range goMigrations {
		names = append(names, filepath.Base(m.Source))
	}
	slices.Sort(names)
	return names
}

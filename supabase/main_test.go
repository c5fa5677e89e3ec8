// Package supabase_test proves the Supabase CLI project in this directory on a real
// PostgreSQL (sql/localdb): the pgTAP tests, a push and lint by the real Supabase CLI,
// and check-ins racing each other.
package supabase_test

import (
	"context"
	"io/fs"
	"path"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func TestMain(m *testing.M) { localdbtest.Main(m) }

// projectBefore makes a database as a live project has it before the migration named name:
// the Supabase-like base and every earlier migration. It returns a superuser connection to
// it, and push, which applies that migration and those after it as the project's next
// `supabase db push` would.
func projectBefore(t *testing.T, name string) (conn *pgx.Conn, push func()) {
	t.Helper()
	var before, after []string
	for _, f := range vibepass.MigrationFiles() {
		if path.Base(f) < name {
			before = append(before, f)
		} else {
			after = append(after, f)
		}
	}
	if len(after) == 0 || path.Base(after[0]) != name {
		t.Fatalf("migration %s not found in %v", name, vibepass.MigrationFiles())
	}
	conn = connect(t, localdbtest.BaseOnly(t).PostgresURL)
	apply := func(files []string) {
		t.Helper()
		for _, f := range files {
			sql, err := fs.ReadFile(vibepass.Schema, f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(context.Background(), string(sql), pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("applying %s: %v", f, err)
			}
		}
	}
	apply(before)
	return conn, func() { t.Helper(); apply(after) }
}

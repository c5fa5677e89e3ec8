package supabase_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// supabaseCLI is the pinned Supabase CLI that `npm ci --prefix examples` installs.
var supabaseCLI = filepath.Join("..", "examples", "node_modules", ".bin", "supabase")

// runCLI runs the Supabase CLI in the repository root with a private HOME, telemetry off
// (and no update check) and no stdin, and returns its stdout; stderr (progress) is logged.
func runCLI(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	if _, err := os.Stat(supabaseCLI); err != nil {
		t.Fatalf("the Supabase CLI is not installed (%v): run `npm ci --prefix examples`", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("examples", "node_modules", ".bin", "supabase"), args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "DO_NOT_TRACK=1", "SUPABASE_TELEMETRY_DISABLED=1", "SUPABASE_NO_UPDATE_NOTIFIER=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	t.Logf("supabase %s:\n%s%s", args[0]+" "+args[1], errOut.String(), out.String())
	return out.String(), err
}

// TestSupabaseCLIPushesAndLintsTheMigrations proves a user can push supabase/migrations to
// their own project: the real CLI applies them to a database holding only the Supabase-like
// base, records them, and its linter (plpgsql_check) finds no errors.
func TestSupabaseCLIPushesAndLintsTheMigrations(t *testing.T) {
	db := localdbtest.BaseOnly(t)
	if _, err := runCLI(t, "db", "push", "--db-url", db.PostgresURL, "--yes"); err != nil {
		t.Fatalf("supabase db push: %v", err)
	}

	ctx := context.Background()
	conn := connect(t, db.PostgresURL)
	rows, err := conn.Query(ctx, "select version from supabase_migrations.schema_migrations order by version")
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range vibepass.MigrationFiles() {
		version, _, _ := strings.Cut(filepath.Base(f), "_")
		want = append(want, version)
	}
	if !slices.Equal(recorded, want) {
		t.Errorf("schema_migrations holds %v, want %v", recorded, want)
	}
	for _, fn := range []string{"public.checkin()", "public.session_status()", "public.checkout()", "public.active_users()"} {
		var exists bool
		if err := conn.QueryRow(ctx, "select to_regprocedure($1) is not null", fn).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			t.Errorf("%s does not exist after the push", fn)
		}
	}

	out, err := runCLI(t, "db", "lint", "--db-url", db.PostgresURL, "--level", "error", "--fail-on", "error")
	if err != nil || strings.Contains(out, `"level": "error"`) {
		t.Fatalf("supabase db lint found errors (%v); plpgsql_check comes from apt-get install postgresql-15-plpgsql-check:\n%s", err, out)
	}
}

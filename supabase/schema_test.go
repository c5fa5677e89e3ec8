package supabase_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// schemaFiles are the declarative schema files (config.toml's [db.migrations] schema_paths),
// in the order they apply: file-name order.
func schemaFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("schemas", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no schema files in supabase/schemas")
	}
	return files // Glob sorts by name
}

// applySchemaFiles runs each schema file whole as postgres, as the migrations are run.
func applySchemaFiles(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	for _, f := range schemaFiles(t) {
		sql, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(context.Background(), string(sql), pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("applying %s: %v", f, err)
		}
	}
}

// pgDumpPath finds pg_dump: beside the cluster's server first (the same major version), then
// Debian's place for 15, then PATH.
func pgDumpPath(t *testing.T, c *localdb.Cluster) string {
	t.Helper()
	for _, p := range []string{filepath.Join(c.BinDir(), "pg_dump"), "/usr/lib/postgresql/15/bin/pg_dump"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("pg_dump"); err == nil {
		return p
	}
	t.Fatalf("pg_dump not found beside %s, in /usr/lib/postgresql/15/bin or on PATH: apt-get install postgresql-client-15", c.BinDir())
	return ""
}

// dumpNoise is all that differs between two dumps of equal schemas: the random key of the
// \restrict and \unrestrict lines that pg_dump writes since 15.14 (CVE-2025-8714), new at
// every run. Nothing else is normalised: both databases are on one server, dumped by one
// pg_dump, which sorts objects by type, schema and name, not by when they were made.
var dumpNoise = regexp.MustCompile(`(?m)^\\(un)?restrict \S+$`)

// schemaDump is what the migrations or the schema files define, as text: pg_dump's schema of
// public and vibepass, owners and grants included, then the triggers they put on tables of
// other schemas (auth.users, auth.sessions), which pg_dump leaves out with those tables.
func schemaDump(t *testing.T, pgDump string, db *localdb.Database) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgDump, "--schema-only", "--schema=public", "--schema=vibepass", "--dbname="+db.AdminURL)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("pg_dump %s: %v\n%s", db.Name, err, errOut.String())
	}
	lines := strings.Split(dumpNoise.ReplaceAllString(out.String(), ""), "\n")

	conn := connect(t, db.AdminURL)
	rows, err := conn.Query(ctx, `
		select pg_catalog.pg_get_triggerdef(g.oid) || '; -- enabled ' || g.tgenabled::text
		  from pg_catalog.pg_trigger g
		  join pg_catalog.pg_class c on c.oid = g.tgrelid
		  join pg_catalog.pg_proc p on p.oid = g.tgfoid
		 where not g.tgisinternal
		   and c.relnamespace not in ('public'::regnamespace, 'vibepass'::regnamespace)
		   and p.pronamespace in ('public'::regnamespace, 'vibepass'::regnamespace)
		 order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	triggers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	lines = append(lines, "-- triggers on other schemas' tables")
	return append(lines, triggers...)
}

// TestSchemaFilesMatchMigrations: supabase/schemas (the declarative schema, one current
// definition of each object) and supabase/migrations (the deploy path) make the same
// database. A is the Supabase-like base with the migrations, B the base with the schema
// files; pg_dump must show the same schema of public and vibepass, owners, grants, comments
// and function bodies included, and the same triggers on auth's tables. A difference planted
// in B must then show in the comparison, so it cannot pass by comparing nothing.
func TestSchemaFilesMatchMigrations(t *testing.T) {
	ctx := context.Background()
	pgDump := pgDumpPath(t, localdbtest.Cluster(t))
	migrated := localdbtest.Unseeded(t)
	declared := localdbtest.BaseOnly(t)
	applySchemaFiles(t, connect(t, declared.PostgresURL))

	want := schemaDump(t, pgDump, migrated)
	if !slices.Contains(want, "CREATE FUNCTION vibepass.checkin() RETURNS json") {
		t.Fatalf("the dump of the migrated database lacks vibepass.checkin():\n%s", strings.Join(want, "\n"))
	}
	if diff := unifiedDiff(want, schemaDump(t, pgDump, declared)); diff != "" {
		t.Fatalf("supabase/schemas defines a different database than supabase/migrations "+
			"(-: migrations only, +: schema files only); change both, so that they agree:\n%s", diff)
	}

	admin := connect(t, declared.AdminURL)
	for _, plant := range []string{
		"comment on function vibepass.caller() is 'planted'",
		"drop trigger on_auth_session_deleted_vibepass_pass on auth.sessions",
	} {
		if _, err := admin.Exec(ctx, plant); err != nil {
			t.Fatal(err)
		}
	}
	diff := unifiedDiff(want, schemaDump(t, pgDump, declared))
	t.Logf("the planted differences, as the comparison reports them:\n%s", diff)
	for _, line := range []string{
		"+COMMENT ON FUNCTION vibepass.caller() IS 'planted';",
		"-CREATE TRIGGER on_auth_session_deleted_vibepass_pass AFTER DELETE ON auth.sessions FOR EACH ROW EXECUTE FUNCTION vibepass.end_pass_at_sign_out(); -- enabled O",
	} {
		if !slices.Contains(strings.Split(diff, "\n"), line) {
			t.Errorf("a planted difference is missing from the comparison: want the line\n%s\nin:\n%s", line, diff)
		}
	}
}

// unifiedDiff shows how b differs from a in the style of diff -u: hunks of the lines only in a
// (-) and only in b (+), each with up to three unchanged lines around it; "" when equal.
func unifiedDiff(a, b []string) string {
	// lcs[i][j]: the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-' or '+'
		line string
		i, j int // the line's number in a and in b, from 1
	}
	var ops []op
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, op{' ', a[i], i + 1, j + 1})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', a[i], i + 1, j + 1})
			i++
		default:
			ops = append(ops, op{'+', b[j], i + 1, j + 1})
			j++
		}
	}
	const context = 3
	var out strings.Builder
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(k-context, 0)
		end := k // one past the hunk's last change
		for n := k; n < len(ops) && n < end+2*context+1; n++ {
			if ops[n].kind != ' ' {
				end = n + 1
			}
		}
		stop := min(end+context, len(ops))
		fmt.Fprintf(&out, "@@ -%d +%d @@\n", ops[start].i, ops[start].j)
		for _, o := range ops[start:stop] {
			out.WriteString(string(o.kind) + o.line + "\n")
		}
		k = stop
	}
	return out.String()
}

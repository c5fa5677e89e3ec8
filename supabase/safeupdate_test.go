package supabase_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// wantSQLState fails t unless err is a Postgres error with code and a message containing msg.
func wantSQLState(t *testing.T, err error, code, msg string) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != code || !strings.Contains(pgErr.Message, msg) {
		t.Fatalf("error = %v, want SQLSTATE %s %q", err, code, msg)
	}
}

// TestSafeupdateGuard proves the local database loads the guard for authenticator as Supabase
// loads pg-safeupdate, and that it behaves as pg-safeupdate documents: an UPDATE or DELETE
// without WHERE (also in a data-modifying WITH, also inside a function) fails with 21000, any
// WHERE passes, and the migrations' own role, postgres, is not guarded.
func TestSafeupdateGuard(t *testing.T) {
	ctx := context.Background()
	db := localdbtest.ForTest(t)
	api := connect(t, db.AuthenticatorURL)

	owner := connect(t, db.PostgresURL)
	var settings []string
	if err := owner.QueryRow(ctx, `select setconfig from pg_db_role_setting
		where setrole = 'authenticator'::regrole and setdatabase = 0`).Scan(&settings); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(settings, "session_preload_libraries=safeupdate") {
		t.Fatalf("authenticator's settings are %q, want session_preload_libraries=safeupdate", settings)
	}
	if _, err := api.Exec(ctx, "create temp table scratch (x int); insert into scratch values (1), (2)"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ sql, msg string }{
		{"update scratch set x = 3", "UPDATE requires a WHERE clause"},
		{"delete from scratch", "DELETE requires a WHERE clause"},
		{"with gone as (delete from scratch returning x) select count(*) from gone", "DELETE requires a WHERE clause"},
		{"with moved as (update scratch set x = 3 returning x) select count(*) from moved", "UPDATE requires a WHERE clause"},
	} {
		_, err := api.Exec(ctx, c.sql)
		wantSQLState(t, err, "21000", c.msg)
	}
	// Inside a function the statement is refused when it is planned, whoever owns the function.
	if _, err := api.Exec(ctx, `create function pg_temp.wipe() returns void language plpgsql as $$
		begin delete from scratch; end $$`); err != nil {
		t.Fatal(err)
	}
	_, err := api.Exec(ctx, "select pg_temp.wipe()")
	wantSQLState(t, err, "21000", "DELETE requires a WHERE clause")
	var left int
	if err := api.QueryRow(ctx, "select count(*) from scratch").Scan(&left); err != nil || left != 2 {
		t.Fatalf("after the refused statements scratch holds %d rows (%v), want 2", left, err)
	}
	if _, err := api.Exec(ctx, "update scratch set x = 3 where true"); err != nil {
		t.Fatalf("a WHERE clause must pass: %v", err)
	}
	// authenticator may not turn it off; postgres, as Supabase's supautils allows, may.
	_, err = api.Exec(ctx, "set safeupdate.enabled = off")
	wantSQLState(t, err, "42501", "permission denied")

	if _, err := owner.Exec(ctx, "create temp table scratch (x int); insert into scratch values (1); update scratch set x = 2"); err != nil {
		t.Fatalf("postgres is not guarded: %v", err)
	}
}

// unqualifiedWrites returns, for every function in public and vibepass, what planning its
// statements with the guard loaded refused: PL/pgSQL bodies through plpgsql_check (which
// prepares every statement, on every branch), SQL bodies by making the function again.
func unqualifiedWrites(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "load 'safeupdate'"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `
		select p.oid::regprocedure::text, l.lanname,
		       coalesce((select min(tg.tgrelid::regclass::text) from pg_trigger tg where tg.tgfoid = p.oid), ''),
		       pg_get_functiondef(p.oid)
		  from pg_proc p
		  join pg_namespace n on n.oid = p.pronamespace
		  join pg_language l on l.oid = p.prolang
		 where n.nspname in ('public', 'vibepass') and p.prokind = 'f' and l.lanname in ('plpgsql', 'sql')
		 order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	type fn struct{ Name, Lang, Table, Def string }
	fns, err := pgx.CollectRows(rows, pgx.RowToStructByPos[fn])
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) < 20 {
		t.Fatalf("found %d functions in public and vibepass: the query is wrong", len(fns))
	}
	var found []string
	for _, f := range fns {
		var problems []string
		if f.Lang == "plpgsql" {
			rows, err := conn.Query(ctx, `select m from extensions.plpgsql_check_function($1::regprocedure, coalesce(nullif($2, '')::regclass, 0)) m
				where m ~ 'requires a WHERE clause'`, f.Name, f.Table)
			if err != nil {
				t.Fatalf("plpgsql_check on %s: %v (plpgsql_check comes from apt-get install postgresql-15-plpgsql-check)", f.Name, err)
			}
			if problems, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				t.Fatal(err)
			}
		} else {
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "set local check_function_bodies = on; "+f.Def); err != nil {
				problems = append(problems, err.Error())
			}
			_ = tx.Rollback(ctx)
		}
		for _, p := range problems {
			found = append(found, f.Name+": "+p)
		}
	}
	return found
}

// TestNoUnqualifiedWritesInFunctions: no function an API role could reach holds an UPDATE or
// DELETE that Supabase's pg-safeupdate refuses, on any branch, run or not; and the check finds
// one planted in each language.
func TestNoUnqualifiedWritesInFunctions(t *testing.T) {
	ctx := context.Background()
	db := localdbtest.Unseeded(t)
	if found := unqualifiedWrites(t, connect(t, db.AdminURL)); len(found) > 0 {
		t.Fatalf("UPDATE or DELETE without WHERE, refused through authenticator on Supabase:\n%s", strings.Join(found, "\n"))
	}
	// Planted by postgres, which is not guarded, as a migration would.
	if _, err := connect(t, db.PostgresURL).Exec(ctx, `
		create function vibepass.planted_plpgsql(really boolean) returns void language plpgsql set search_path = '' as $$
		begin if really then update vibepass.presence_clock set purged_through = 0; end if; end $$;
		create function public.planted_sql() returns void language sql set search_path = '' as $$
		  delete from vibepass.presence_log $$`); err != nil {
		t.Fatal(err)
	}
	found := strings.Join(unqualifiedWrites(t, connect(t, db.AdminURL)), "\n")
	for _, want := range []string{"planted_plpgsql(boolean)", "planted_sql()"} {
		if !strings.Contains(found, want) {
			t.Errorf("the check missed %s; it found:\n%s", want, found)
		}
	}
}

package supabase_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestDatabaseIsSupabases checks the facts of sql/supabase_base.sql that vibepass depends on:
// supabase_admin is the superuser and postgres is not, the migrations ran as postgres, the API
// roles and authenticator carry Supabase's timeouts, and schema auth is Supabase Auth's.
func TestDatabaseIsSupabases(t *testing.T) {
	ctx := context.Background()
	db := localdbtest.ForTest(t)
	owner := connect(t, db.PostgresURL)

	type role struct {
		Name                                                   string
		Super, Inherit, CreateRole, CreateDB, Login, BypassRLS bool
	}
	rows, err := owner.Query(ctx, `select rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls
		from pg_roles where rolname in ('supabase_admin', 'postgres', 'authenticator', 'anon', 'authenticated', 'service_role', 'supabase_auth_admin')
		order by rolname`)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := pgx.CollectRows(rows, pgx.RowToStructByPos[role])
	if err != nil {
		t.Fatal(err)
	}
	want := []role{
		{"anon", false, true, false, false, false, false},
		{"authenticated", false, true, false, false, false, false},
		{"authenticator", false, false, false, false, true, false},
		{"postgres", false, true, true, true, true, true},
		{"service_role", false, true, false, false, false, true},
		{"supabase_admin", true, true, true, true, true, true},
		{"supabase_auth_admin", false, false, true, false, true, false},
	}
	if !slices.Equal(roles, want) {
		t.Fatalf("roles:\n got %+v\nwant %+v", roles, want)
	}

	settings := map[string][]string{}
	rows, err = owner.Query(ctx, `select setrole::regrole::text, setconfig from pg_db_role_setting where setdatabase = 0`)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var config []string
	if _, err := pgx.ForEachRow(rows, []any{&name, &config}, func() error { settings[name] = config; return nil }); err != nil {
		t.Fatal(err)
	}
	for r, want := range map[string][]string{
		"anon":          {"statement_timeout=3s"},
		"authenticated": {"statement_timeout=8s"},
		"authenticator": {"statement_timeout=8s", "lock_timeout=8s", "session_preload_libraries=safeupdate"},
	} {
		if !slices.Equal(settings[r], want) {
			t.Errorf("%s's settings = %q, want %q", r, settings[r], want)
		}
	}
	var timeouts string
	if err := connect(t, db.AuthenticatorURL).QueryRow(ctx,
		"select current_setting('statement_timeout') || ' ' || current_setting('lock_timeout')").Scan(&timeouts); err != nil || timeouts != "8s 8s" {
		t.Errorf("authenticator logs in with statement and lock timeouts %q (%v), want 8s 8s", timeouts, err)
	}

	// The migrations and the seed ran as postgres, which owns the project's objects.
	var owners string
	if err := owner.QueryRow(ctx, `select string_agg(distinct pg_get_userbyid(c.relowner), ',')
		from pg_class c where c.relnamespace in ('public'::regnamespace, 'vibepass'::regnamespace)`).Scan(&owners); err != nil || owners != "postgres" {
		t.Errorf("public's and vibepass's tables belong to %q (%v), want postgres", owners, err)
	}
	var authOwner string
	if err := owner.QueryRow(ctx, `select pg_get_userbyid(nspowner) from pg_namespace where nspname = 'auth'`).Scan(&authOwner); err != nil || authOwner != "supabase_auth_admin" {
		t.Errorf("schema auth belongs to %q (%v), want supabase_auth_admin", authOwner, err)
	}

	// What postgres may not do: be a superuser, or make objects in auth (changelog 34270).
	for _, c := range []struct{ sql, msg string }{
		{"alter system set work_mem = '1GB'", "permission denied"},
		{"create table auth.mine (id int)", "permission denied for schema auth"},
		{"create function auth.mine() returns int language sql as 'select 1'", "permission denied for schema auth"},
		{"alter role postgres superuser", "must be superuser"},
	} {
		_, err := owner.Exec(ctx, c.sql)
		wantSQLState(t, err, "42501", c.msg)
	}
}

// grantsOf lists who may do what with every table, sequence, function and schema the
// migrations make in public and vibepass, defaults spelled out, as "object grantee privilege".
func grantsOf(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `
		with objects as (
		  select c.oid::regclass::text as name, coalesce(c.relacl, acldefault(case c.relkind when 'S' then 's'::"char" else 'r'::"char" end, c.relowner)) as acl
		    from pg_class c where c.relnamespace in ('public'::regnamespace, 'vibepass'::regnamespace) and c.relkind in ('r', 'v', 'S', 'p')
		  union all
		  select p.oid::regprocedure::text, coalesce(p.proacl, acldefault('f'::"char", p.proowner))
		    from pg_proc p where p.pronamespace in ('public'::regnamespace, 'vibepass'::regnamespace)
		  union all
		  select n.nspname, coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))
		    from pg_namespace n where n.nspname in ('public', 'vibepass'))
		select o.name || ' ' || case a.grantee when 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end || ' ' || a.privilege_type
		  from objects o, aclexplode(o.acl) a
		 order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	grants, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return grants
}

// TestMigrationsGrantTheSameUnderBothDefaultPrivileges: a project made before 30 October 2026
// still grants what postgres makes in public to the API roles; a newer one does not. The
// migrations revoke first and grant back only what is meant, so both end with the same
// grants; a function made without that care differs, and the comparison sees it.
func TestMigrationsGrantTheSameUnderBothDefaultPrivileges(t *testing.T) {
	ctx := context.Background()
	cluster := localdbtest.Cluster(t)
	current := localdbtest.Unseeded(t)
	legacy := localdbtest.BaseOnly(t)
	if err := cluster.ApplyAsAdmin(ctx, legacy.Name, vibepass.LegacyGrantsFile); err != nil {
		t.Fatal(err)
	}
	if err := cluster.ApplyAsOwner(ctx, legacy.Name, vibepass.MigrationFiles()...); err != nil {
		t.Fatal(err)
	}
	currentConn, legacyConn := connect(t, current.PostgresURL), connect(t, legacy.PostgresURL)
	got, want := grantsOf(t, legacyConn), grantsOf(t, currentConn)
	if !slices.Equal(got, want) {
		t.Fatalf("grants under the old default privileges differ from the current ones:\n%s", diffLines(got, want))
	}
	if !slices.Contains(want, "checkin() authenticated EXECUTE") || slices.Contains(want, "checkin() anon EXECUTE") {
		t.Fatalf("the grants read are not the migrations' (checkin for authenticated only):\n%s", strings.Join(want, "\n"))
	}

	const careless = "create function public.careless() returns int language sql set search_path = '' as 'select 1'"
	for _, conn := range []*pgx.Conn{currentConn, legacyConn} {
		if _, err := conn.Exec(ctx, careless); err != nil {
			t.Fatal(err)
		}
	}
	diff := diffLines(grantsOf(t, legacyConn), grantsOf(t, currentConn))
	if !strings.Contains(diff, "+ careless() anon EXECUTE") {
		t.Fatalf("a function made without revoking should differ (anon may run it on old projects); diff:\n%s", diff)
	}
}

// diffLines shows the lines only in got (+) and only in want (-).
func diffLines(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			b.WriteString("+ " + g + "\n")
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			b.WriteString("- " + w + "\n")
		}
	}
	return b.String()
}

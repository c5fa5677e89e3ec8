package supabase_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// summaryMigration is the migration that keeps the summary as the feed changes.
const summaryMigration = "20261206070000_summary_kept_as_the_feed_changes.sql"

// TestSummaryMigrationCountsLivePasses pushes the migration onto a project where three
// passes are live and one has ended: the summary counts the three with their preferences,
// and a checkout afterwards takes away exactly the preferences the migration counted.
func TestSummaryMigrationCountsLivePasses(t *testing.T) {
	ctx := context.Background()
	conn, push := projectBefore(t, summaryMigration)
	users := []struct {
		id, preferences, status string
	}{
		{"00000000-0000-4000-8000-0000000000c1", "{0.1,0.2,0.3,0.4,0.5}", "active"},
		{"00000000-0000-4000-8000-0000000000c2", "{0.3,0.2,0.1,0,1}", "active"},
		{"00000000-0000-4000-8000-0000000000c3", "{1,1,1,1,1}", "active"},
		{"00000000-0000-4000-8000-0000000000c4", "{0,0,0,0,0}", "inactive"},
	}
	for _, u := range users {
		if _, err := conn.Exec(ctx, `insert into auth.users (id, aud, role, email)
			values ($1::uuid, 'authenticated', 'authenticated', $1::text || '@test.local')`, u.id); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `update public.profiles set preferences = $2::float8[] where id = $1`, u.id, u.preferences); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `insert into public.sessions (user_id, expires_at, status)
			values ($1, now() + interval '1 hour', $2)`, u.id, u.status); err != nil {
			t.Fatal(err)
		}
	}

	push()

	summary := func() vibepass.Summary {
		t.Helper()
		raw, err := sqlapi.CallJSON(ctx, conn, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, sqlapi.PresenceSummarySQL)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sqlapi.DecodeSummary(raw)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	near := func(got, want []float64) bool {
		return slices.EqualFunc(got, want, func(a, b float64) bool { return math.Abs(a-b) < 1e-12 })
	}
	if s := summary(); s.Count != 3 || !near(s.Mean, []float64{1.4 / 3, 1.4 / 3, 1.4 / 3, 1.4 / 3, 2.5 / 3}) {
		t.Fatalf("summary after the migration = %+v, want the three live passes", s)
	}
	if _, err := conn.Exec(ctx, `update public.sessions set status = 'inactive', ended_at = now() where user_id = $1 and status = 'active'`, users[2].id); err != nil {
		t.Fatal(err)
	}
	if s := summary(); s.Count != 2 || !near(s.Mean, []float64{0.2, 0.2, 0.2, 0.2, 0.75}) {
		t.Fatalf("summary after a checkout = %+v, want the two passes left", s)
	}
}

// TestSummaryPassMadeAndGoneInOneTransaction: a pass made and deleted in one transaction
// (an account that checks in and is deleted before the commit) commits, and the summary
// counts nobody: the feed's trigger finds no row to count for its join.
func TestSummaryPassMadeAndGoneInOneTransaction(t *testing.T) {
	db := localdbtest.Unseeded(t)
	ctx := context.Background()
	admin := connect(t, db.PostgresURL)
	user := storetest.AddUsers(t, db.PostgresURL, 1)[0]
	err := pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "insert into public.sessions (user_id, expires_at) values ($1, now() + interval '1 hour')", user); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "delete from auth.users where id = $1", user)
		return err
	})
	if err != nil {
		t.Fatalf("a pass made and deleted in one transaction: %v", err)
	}
	raw, err := sqlapi.CallJSON(ctx, connect(t, db.AuthenticatorURL), vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, sqlapi.PresenceSummarySQL)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := sqlapi.DecodeSummary(raw); err != nil || s.Count != 0 {
		t.Fatalf("summary = %+v, %v; want nobody present", s, err)
	}
}

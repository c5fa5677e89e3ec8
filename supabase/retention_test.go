package supabase_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestTickDeletesPassesPastRetention: presence_tick(), called as the server calls it
// (service_role through the authenticator, under pg-safeupdate), deletes the passes that ended
// more than settings.pass_retention ago, closed or still 'active' after running out, at most
// 1,000 a tick. Live passes and passes that ended more recently stay, the feed logs nothing
// for the deletions (a follower sees no change), and once nothing is left to delete the tick
// writes nothing again. vibepass.purge_sessions() deletes sooner through the same delete.
func TestTickDeletesPassesPastRetention(t *testing.T) {
	db := localdbtest.Unseeded(t)
	ctx := context.Background()
	admin := connect(t, db.PostgresURL)
	server := connect(t, db.AuthenticatorURL)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := admin.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	tickWrote := func() bool { t.Helper(); return serverTickWrote(t, server) }
	countPasses := func() (n int) {
		t.Helper()
		if err := admin.QueryRow(ctx, "select count(*) from public.sessions").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// feed is the whole presence log as a follower would replay it.
	feed := func() (log string) {
		t.Helper()
		if err := admin.QueryRow(ctx, "select coalesce(string_agg(seq || ' ' || kind || ' ' || user_id, ', ' order by seq), '') from vibepass.presence_log").Scan(&log); err != nil {
			t.Fatal(err)
		}
		return log
	}

	// While the passes are set up, nothing is old enough to go.
	exec("update vibepass.settings set pass_retention = '100 days' where singleton")
	users := storetest.AddUsers(t, db.PostgresURL, 6)
	for _, user := range users[:2] {
		if _, err := checkinAs(ctx, server, user); err != nil {
			t.Fatal(err)
		}
	}
	const oldClosed = 1500
	// users[2]: 1,500 passes checked out 31 days ago and earlier; users[3]: a pass still
	// 'active' that ran out 31 days ago; users[4] and users[5]: the same, 29 days ago.
	exec(`insert into public.sessions (user_id, checked_in_at, expires_at, status, ended_at, end_reason)
	      select $1, now() - interval '32 days' - i * interval '1 minute', now() - interval '31 days',
	             'inactive', now() - interval '31 days' - i * interval '1 minute', 'checkout'
	        from generate_series(1, $2::int) i`, users[2], oldClosed)
	exec(`insert into public.sessions (user_id, checked_in_at, expires_at, status, ended_at, end_reason)
	      values ($1, now() - interval '30 days', now() - interval '29 days', 'inactive', now() - interval '29 days', 'checkout')`, users[4])
	exec(`insert into public.sessions (user_id, checked_in_at, expires_at)
	      values ($1, now() - interval '32 days', now() - interval '31 days'),
	             ($2, now() - interval '30 days', now() - interval '29 days')`, users[3], users[5])
	rows, _ := admin.Query(ctx, "select id::text from public.sessions where user_id = any($1::uuid[]) order by id", []string{users[0], users[1], users[4], users[5]})
	kept, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(kept) != 4 {
		t.Fatalf("the passes that must stay: %v, %v", kept, err)
	}
	tickWrote() // logs the run-out passes' expiries
	if tickWrote() {
		t.Fatal("a tick with nothing due wrote")
	}
	before, total := feed(), countPasses()

	exec("update vibepass.settings set pass_retention = '30 days' where singleton")
	for i, left := range []int{total - 1000, total - oldClosed - 1} {
		if !tickWrote() {
			t.Fatalf("tick %d deleted nothing", i+1)
		}
		if n := countPasses(); n != left {
			t.Fatalf("after tick %d: %d passes, want %d (at most 1,000 deleted a tick)", i+1, n, left)
		}
	}
	if tickWrote() {
		t.Fatal("a tick with nothing left to delete wrote")
	}
	rows, _ = admin.Query(ctx, "select id::text from public.sessions order by id")
	if left, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || !slices.Equal(left, kept) {
		t.Fatalf("passes left %v (%v), want the live and recently ended ones %v", left, err, kept)
	}
	if after := feed(); after != before {
		t.Fatalf("deleting ended passes changed the feed:\nbefore %s\nafter  %s", before, after)
	}

	// The knob's floors: the hour presence_history() shows, and the feed's replay window.
	for _, bad := range []string{
		"update vibepass.settings set pass_retention = '59 minutes' where singleton",
		"update vibepass.settings set feed_history = '31 days' where singleton",
	} {
		var pgErr *pgconn.PgError
		if _, err := admin.Exec(ctx, bad); !errors.As(err, &pgErr) || pgErr.ConstraintName != "settings_pass_retention_check" {
			t.Errorf("%s: %v, want a violation of settings_pass_retention_check", bad, err)
		}
	}

	// An operator purges sooner through the same delete: the recently ended passes go, the
	// live ones stay, and the feed is unchanged.
	var purged int
	if err := admin.QueryRow(ctx, "select vibepass.purge_sessions('1 day')").Scan(&purged); err != nil || purged != 2 {
		t.Fatalf("purge_sessions('1 day') = %d, %v; want the 2 recently ended passes", purged, err)
	}
	var live int
	if err := admin.QueryRow(ctx, "select count(*) from vibepass.live_passes").Scan(&live); err != nil || live != 2 || countPasses() != 2 {
		t.Fatalf("after the purge: %d live passes (%v) of %d, want the 2 live ones only", live, err, countPasses())
	}
	if after := feed(); after != before {
		t.Fatalf("purging ended passes changed the feed:\nbefore %s\nafter  %s", before, after)
	}
}

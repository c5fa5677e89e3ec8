package supabase_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// TestSessionWritesShareTheFeedLock: a check-in that has drawn its feed number and not yet
// committed holds up neither another user's check-in nor its commit (they share the lock,
// so their WAL flushes can group), but it holds up every reader of the feed: a reader must
// never get the later number without the earlier one, or a follower would skip it.
func TestSessionWritesShareTheFeedLock(t *testing.T) {
	db := localdbtest.Unseeded(t)
	ids := storetest.AddUsers(t, db.PostgresURL, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var start int64
	if err := connect(t, db.PostgresURL).QueryRow(ctx, "select (public.presence_tick() ->> 'cursor')::bigint").Scan(&start); err != nil {
		t.Fatal(err)
	}

	// The first check-in fires its deferred trigger (draws its number) and stays open.
	first, err := connect(t, db.PostgresURL).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback(context.Background())
	claims := fmt.Sprintf(`{"sub":%q,"role":"authenticated"}`, ids[0])
	if _, err := first.Exec(ctx, sqlapi.SetRoleSQL, vibepass.RoleAuthenticated, claims); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{sqlapi.CheckinSQL, "set constraints all immediate"} {
		if _, err := first.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}

	// The second commits meanwhile: with an exclusive lock it would wait for the first.
	secondCtx, cancelSecond := context.WithTimeout(ctx, 20*time.Second)
	defer cancelSecond()
	if _, err := checkinAs(secondCtx, connect(t, db.AuthenticatorURL), ids[1]); err != nil {
		t.Fatalf("the second check-in waited for the first one's commit: %v", err)
	}

	reader := connect(t, db.PostgresURL)
	var readerPID uint32
	if err := reader.QueryRow(ctx, "select pg_backend_pid()").Scan(&readerPID); err != nil {
		t.Fatal(err)
	}
	type change struct {
		seq  int64
		user string
	}
	read := make(chan []change, 1)
	go func() {
		rows, _ := reader.Query(ctx, "select seq, user_id::text from public.presence_changes($1, 1000)", start)
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (c change, err error) {
			return c, r.Scan(&c.seq, &c.user)
		})
		if err != nil {
			t.Error(err)
		}
		read <- got
	}()

	// Wait until the reader waits for the lock (or has wrongly answered already).
	watcher := connect(t, db.PostgresURL)
	for {
		var waiting bool
		if err := watcher.QueryRow(ctx, "select coalesce(wait_event = 'advisory', false) from pg_stat_activity where pid = $1", readerPID).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case got := <-read:
			t.Fatalf("the feed answered %v while an earlier number was still uncommitted", got)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := <-read
	if len(got) != 2 || got[0].user != ids[0] || got[1].user != ids[1] {
		t.Fatalf("feed after both commits = %v, want the first user's join, then the second's", got)
	}
}

// TestIdleTickWritesNothing: a tick that finds no pass run out, no change to the summary
// and nothing to trim takes no transaction id, so its commit waits for no WAL flush while it
// holds the feed's lock; one after a check-in folds the summary's change, and one that finds
// a pass run out still logs it.
func TestIdleTickWritesNothing(t *testing.T) {
	db := localdbtest.Unseeded(t)
	ctx := context.Background()
	conn := connect(t, db.PostgresURL)
	server := connect(t, db.AuthenticatorURL)
	tickWrote := func() bool { t.Helper(); return serverTickWrote(t, server) }
	tickWrote() // whatever setting up the database left due
	if tickWrote() {
		t.Fatal("a tick with nothing due wrote")
	}

	user := storetest.AddUsers(t, db.PostgresURL, 1)[0]
	if _, err := checkinAs(ctx, connect(t, db.AuthenticatorURL), user); err != nil {
		t.Fatal(err)
	}
	if !tickWrote() {
		t.Fatal("the tick after a check-in wrote nothing: it folds the summary's change")
	}
	if tickWrote() {
		t.Fatal("a tick with a live pass and nothing due wrote")
	}
	storetest.RunOut(t, db.PostgresURL, user)
	if !tickWrote() {
		t.Fatal("a tick with a pass run out wrote nothing")
	}
	var kind string
	if err := conn.QueryRow(ctx, "select kind from public.presence_changes(0, 1000) where user_id = $1 order by seq desc limit 1", user).Scan(&kind); err != nil {
		t.Fatal(err)
	}
	if kind != "expire" {
		t.Fatalf("the user's last change is %q, want expire", kind)
	}
}

// serverTickWrote runs public.presence_tick() as the server does (service_role, on conn to
// the authenticator, so under pg-safeupdate) and says whether its transaction took a
// transaction id: whether it wrote, and so waited for a WAL flush at its commit.
func serverTickWrote(t *testing.T, conn *pgx.Conn) bool {
	t.Helper()
	b := &pgx.Batch{}
	sqlapi.QueueAs(b, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims)
	var wrote bool
	b.Queue("select public.presence_tick() is not null and pg_current_xact_id_if_assigned() is not null").
		QueryRow(func(row pgx.Row) error { return row.Scan(&wrote) })
	if err := conn.SendBatch(context.Background(), b).Close(); err != nil {
		t.Fatal(err)
	}
	return wrote
}

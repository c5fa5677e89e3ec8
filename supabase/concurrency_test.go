package supabase_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// checkinAs calls public.checkin() as PostgREST would for user: one implicit transaction
// that switches to the authenticated role, sets the JWT claims, and calls the function.
func checkinAs(ctx context.Context, db sqlapi.Batcher, user string) (sessionID string, err error) {
	claims := fmt.Sprintf(`{"sub":%q,"role":"authenticated","aud":"authenticated"}`, user)
	raw, err := sqlapi.CallJSON(ctx, db, vibepass.RoleAuthenticated, claims, sqlapi.CheckinSQL)
	if err != nil {
		return "", err
	}
	pass, err := sqlapi.DecodeCheckin(raw)
	return pass.SessionID, err
}

// connect opens a connection closed when t ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// activePasses returns each user's status='active' session ids.
func activePasses(t *testing.T, db *localdb.Database) map[string][]string {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, db.PostgresURL)
	rows, err := conn.Query(ctx, "select user_id::text, id::text from public.sessions where status = 'active'")
	if err != nil {
		t.Fatal(err)
	}
	active := map[string][]string{}
	var user, id string
	if _, err := pgx.ForEachRow(rows, []any{&user, &id}, func() error {
		active[user] = append(active[user], id)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return active
}

// race fires every call at once, after all are ready, and returns each call's session id.
func race(t *testing.T, calls []func() (string, error)) []string {
	t.Helper()
	ids := make([]string, len(calls))
	errs := make([]error, len(calls))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() {
			<-start
			ids[i], errs[i] = call()
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("check-in %d: %v", i, err)
		}
	}
	return ids
}

// assertOnePassEach checks that every user has exactly one active pass and that it is the
// session id all their check-ins returned.
func assertOnePassEach(t *testing.T, db *localdb.Database, returned map[string][]string) {
	t.Helper()
	active := activePasses(t, db)
	for user, ids := range returned {
		if len(active[user]) != 1 {
			t.Errorf("user %s has %d active passes, want 1", user, len(active[user]))
			continue
		}
		for _, id := range ids {
			if id != active[user][0] {
				t.Errorf("user %s: a check-in returned %s, the live pass is %s", user, id, active[user][0])
				break
			}
		}
	}
}

func TestConcurrentCheckinsOneUser(t *testing.T) {
	const callers = 100
	db := localdbtest.Unseeded(t)
	user := storetest.AddUsers(t, db.PostgresURL, 1)[0]
	ctx := context.Background()
	calls := make([]func() (string, error), callers)
	for i := range calls {
		conn := connect(t, db.AuthenticatorURL) // each caller on its own connection, as separate tabs would be
		calls[i] = func() (string, error) { return checkinAs(ctx, conn, user) }
	}
	ids := race(t, calls)
	assertOnePassEach(t, db, map[string][]string{user: ids})
}

func TestConcurrentCheckinsManyUsers(t *testing.T) {
	const users, perUser = 100, 5
	db := localdbtest.Unseeded(t)
	ids := storetest.AddUsers(t, db.PostgresURL, users)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(db.AuthenticatorURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 100
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var calls []func() (string, error)
	var owners []string
	for range perUser {
		for _, user := range ids {
			calls = append(calls, func() (string, error) { return checkinAs(ctx, pool, user) })
			owners = append(owners, user)
		}
	}
	returned := map[string][]string{}
	for i, id := range race(t, calls) {
		returned[owners[i]] = append(returned[owners[i]], id)
	}
	assertOnePassEach(t, db, returned)
}

package storetest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// Follow pages the feed after cursor until a page comes back empty, as a follower does.
func Follow(t testing.TB, store vibepass.Store, after int64) []vibepass.Change {
	t.Helper()
	var all []vibepass.Change
	for {
		page, err := store.PresenceChanges(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Cursor
	}
}

// Tick calls PresenceTick and returns the head.
func Tick(t testing.TB, store vibepass.Store) vibepass.FeedHead {
	t.Helper()
	head, err := store.PresenceTick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// RunOut makes user's live pass run out now, as if its length had passed, with no real
// time waited for: under the feed's lock (so no tick has looked past that moment yet) its
// expires_at becomes the database's clock, with the feed's trigger off
// (session_replication_role = replica), so that only the next tick logs its expire.
func RunOut(t testing.TB, superuserURL, user string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, OpenPool(t, superuserURL), func(tx pgx.Tx) error {
		for _, statement := range []string{"select vibepass.presence_lock_exclusive()", "set local session_replication_role = replica"} {
			if _, err := tx.Exec(ctx, statement); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, "update public.sessions set expires_at = clock_timestamp() where user_id = $1 and status = 'active' and expires_at > now()", user)
		if err == nil && tag.RowsAffected() != 1 {
			err = fmt.Errorf("%s has %d live passes, want 1", user, tag.RowsAffected())
		}
		return err
	})
	if err != nil {
		t.Fatalf("running out the pass of %s: %v", user, err)
	}
}

// beginCheckin checks user in inside a transaction it leaves open, as PostgREST would
// run the call; the caller commits it.
func beginCheckin(t *testing.T, superuserURL, user string) (pgx.Tx, time.Time) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, superuserURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, sqlapi.SetRoleSQL, vibepass.RoleAuthenticated, `{"sub":"`+user+`","role":"authenticated"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, sqlapi.CheckinSQL); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	if err := tx.QueryRow(ctx, "select checked_in_at from public.sessions where user_id = $1 and status = 'active'", user).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return tx, at
}

// feedCommitOrder: two real transactions commit in the opposite order to the one in which
// they wrote. A follower that read between the commits must get the second one afterwards,
// exactly once, and a replay from the start must give both in the order of their cursors.
func feedCommitOrder(t *testing.T, env Env) {
	ctx := context.Background()
	ids := AddUsers(t, env.PostgresURL, 2)
	start := Tick(t, env.Store).Cursor
	first, firstAt := beginCheckin(t, env.PostgresURL, ids[0])
	second, secondAt := beginCheckin(t, env.PostgresURL, ids[1])
	if !firstAt.Before(secondAt) {
		t.Fatalf("the first check-in's time %v is not before the second's %v", firstAt, secondAt)
	}
	if err := second.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	seen := Follow(t, env.Store, start)
	if len(seen) != 1 || seen[0].UserID != ids[1] || seen[0].Kind != vibepass.ChangeJoin {
		t.Fatalf("after the second commit the feed holds %+v, want the second user's join", seen)
	}
	// A cursor made of the check-in time would now stand past the first user's, which
	// started earlier: it would never deliver that join.
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	more := Follow(t, env.Store, seen[0].Cursor)
	if len(more) != 1 || more[0].UserID != ids[0] || more[0].Kind != vibepass.ChangeJoin {
		t.Fatalf("after the first commit the feed from the last cursor holds %+v, want the first user's join once", more)
	}
	all := Follow(t, env.Store, start)
	if len(all) != 2 || all[0].UserID != ids[1] || all[1].UserID != ids[0] || all[0].Cursor >= all[1].Cursor {
		t.Fatalf("replay = %+v, want the second user's join, then the first's (cursor order)", all)
	}
	if u := all[1].User; u == nil || u.UserID != ids[0] || len(u.Preferences) != 5 || u.DisplayName == "" {
		t.Fatalf("join row = %+v, want the user's row as the list shows it", u)
	}
}

// feedExpiry: a pass runs out (RunOut) with nobody writing. A tick after its expires_at logs an expire
// at that time, and a replay from an earlier cursor gives the same event again, without
// the join: an ended pass's name and preferences are no longer in the log.
func feedExpiry(t *testing.T, env Env) {
	ctx := context.Background()
	admin := OpenPool(t, env.PostgresURL)
	id := AddUsers(t, env.PostgresURL, 1)[0]
	before := Tick(t, env.Store).Cursor
	in, err := env.Store.Checkin(ctx, Caller(t, id))
	if err != nil {
		t.Fatal(err)
	}
	joined := Follow(t, env.Store, before)
	if len(joined) != 1 || joined[0].Kind != vibepass.ChangeJoin {
		t.Fatalf("after the check-in the feed holds %+v, want one join", joined)
	}
	RunOut(t, env.PostgresURL, id)
	Tick(t, env.Store)
	expired := Follow(t, env.Store, joined[0].Cursor)
	var expiresAt time.Time
	if err := admin.QueryRow(ctx, "select expires_at from public.sessions where user_id = $1", id).Scan(&expiresAt); err != nil {
		t.Fatal(err)
	}
	if lag := time.Since(expiresAt); lag > 20*time.Second {
		t.Fatalf("expire logged %v after expires_at", lag)
	}
	e := expired[0]
	if len(expired) != 1 || e.Kind != vibepass.ChangeExpire || e.UserID != id || !e.At.Equal(expiresAt.UTC()) || e.User != nil {
		t.Fatalf("feed after the pass ran out = %+v, want one expire of %s at %v (check-in said %v)", expired, id, expiresAt, in.ExpiresAt)
	}
	// The model's reads work under Supabase's safeupdate guard once a pass has run out
	// (the tick used to fail them all with 21000), and leave the user out.
	if present(t, env.Store, id) {
		t.Fatal("the model's list shows a pass that ran out")
	}
	if _, err := env.Store.PresenceSummary(ctx); err != nil {
		t.Fatalf("summary after a pass ran out: %v", err)
	}
	Tick(t, env.Store) // a later tick logs nothing more for it
	replay := Follow(t, env.Store, before)
	if len(replay) != 1 || replay[0] != e {
		t.Fatalf("replay from before = %+v, want only the identical expire %+v", replay, e)
	}
}

// feedForgetsEndedPasses: a replay shows the model only people whose pass is live. One user
// checks in, changes their profile and checks out; another checks in and deletes their
// account; a third stays. Replayed from before, the first two come as their leave alone,
// no name or preferences anywhere, and applying the replay as upserts and removals gives
// the room as it is: the third user.
func feedForgetsEndedPasses(t *testing.T, env Env) {
	ctx := context.Background()
	admin := OpenPool(t, env.PostgresURL)
	ids := AddUsers(t, env.PostgresURL, 3)
	left, deleted, stays := ids[0], ids[1], ids[2]
	before := Tick(t, env.Store).Cursor
	for _, id := range ids {
		if _, err := env.Store.Checkin(ctx, Caller(t, id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, "update public.profiles set display_name = 'Renamed', preferences = '{1,1,1,1,1}' where id = $1", left); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.Checkout(ctx, Caller(t, left)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "delete from auth.users where id = $1", deleted); err != nil {
		t.Fatal(err)
	}
	room := map[string]bool{}
	kinds := map[string][]string{}
	for _, c := range Follow(t, env.Store, before) {
		kinds[c.UserID] = append(kinds[c.UserID], c.Kind)
		if c.User != nil && c.UserID != stays {
			t.Errorf("the replay shows the row of %s, whose pass ended: %+v", c.UserID, *c.User)
		}
		room[c.UserID] = c.User != nil
	}
	if !slices.Equal(kinds[left], []string{vibepass.ChangeLeave}) || !slices.Equal(kinds[deleted], []string{vibepass.ChangeLeave}) ||
		!slices.Equal(kinds[stays], []string{vibepass.ChangeJoin}) {
		t.Fatalf("replay kinds = %v, want only a leave for %s and %s, and the join of %s", kinds, left, deleted, stays)
	}
	if !room[stays] || room[left] || room[deleted] {
		t.Fatalf("the replay applied gives %v, want only %s present", room, stays)
	}
}

// feedNoUpdateAfterExpiry: a pass has run out by the clock but no tick has logged it yet.
// A profile change then is not sent to the model: the feed holds the join and nothing else
// until the tick logs the expire.
func feedNoUpdateAfterExpiry(t *testing.T, env Env) {
	ctx := context.Background()
	admin := OpenPool(t, env.PostgresURL)
	id := AddUsers(t, env.PostgresURL, 1)[0]
	before := Tick(t, env.Store).Cursor
	c := Caller(t, id)
	if _, err := env.Store.Checkin(ctx, c); err != nil {
		t.Fatal(err)
	}
	RunOut(t, env.PostgresURL, id)
	if pass, err := env.Store.SessionStatus(ctx, c); err != nil || pass != nil {
		t.Fatalf("SessionStatus after the pass ran out = %+v, %v; want none", pass, err)
	}
	if _, err := admin.Exec(ctx, "update public.profiles set display_name = 'Too Late', preferences = '{0,0,0,0,0}' where id = $1", id); err != nil {
		t.Fatal(err)
	}
	feed := Follow(t, env.Store, before)
	if len(feed) != 1 || feed[0].Kind != vibepass.ChangeJoin {
		t.Fatalf("after a change to a pass that ran out, the feed holds %+v, want only the join", feed)
	}
	Tick(t, env.Store)
	if feed := Follow(t, env.Store, before); len(feed) != 1 || feed[0].Kind != vibepass.ChangeExpire {
		t.Fatalf("after the tick the feed holds %+v, want only the expire", feed)
	}
}

// feedBurst: 10,000 check-ins in one transaction (inside one poll interval) all reach a
// follower, paged whatever the upstream's row cap.
func feedBurst(t *testing.T, env Env) {
	ids := AddUsers(t, env.PostgresURL, 10000)
	before := Tick(t, env.Store).Cursor
	CheckInEveryone(t, env.PostgresURL) // the seed's users too
	got := Follow(t, env.Store, before)
	users := map[string]bool{}
	for _, c := range got {
		if c.Kind == vibepass.ChangeJoin {
			users[c.UserID] = true
		}
	}
	for _, id := range ids {
		if !users[id] {
			t.Fatalf("the feed delivered %d changes, without %s's join", len(got), id)
		}
	}
	if len(got) != len(users) {
		t.Fatalf("the feed delivered %d changes for %d users, want one join each", len(got), len(users))
	}
	if head := Tick(t, env.Store); head.Cursor != got[len(got)-1].Cursor {
		t.Fatalf("head %d, last change %d", head.Cursor, got[len(got)-1].Cursor)
	}
}

// summary: count and means as the list shows them; null means with nobody present.
func summary(t *testing.T, env Env) {
	ctx := context.Background()
	empty, err := env.Store.PresenceSummary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if empty.Count != 0 || empty.Mean != nil {
		t.Fatalf("summary with nobody present = %+v, want count 0 and no mean", empty)
	}
	ids := AddUsers(t, env.PostgresURL, 2)
	if _, err := OpenPool(t, env.PostgresURL).Exec(ctx,
		"update public.profiles set preferences = '{0.1,0.2,0.3,0.4,1}' where id = $1", ids[1]); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := env.Store.Checkin(ctx, Caller(t, id)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := env.Store.PresenceSummary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.3, 0.35, 0.4, 0.45, 0.75}
	if got.Count != 2 || len(got.Mean) != 5 || got.Cursor != Tick(t, env.Store).Cursor {
		t.Fatalf("summary = %+v, want 2 present, 5 means, the head's cursor", got)
	}
	for i := range want {
		if math.Abs(got.Mean[i]-want[i]) > 1e-12 {
			t.Fatalf("mean = %v, want %v", got.Mean, want)
		}
	}
}

// summaryFollowsEveryChange: the summary the database keeps as the feed changes equals
// the one counted from the model's list after every kind of change, in a seeded random
// order: joins, renewals, checkouts, profile changes while present, away, and after a pass
// ran out but before a tick saw it, passes run out, deleted accounts, and check-ins and
// checkouts committing side by side.
func summaryFollowsEveryChange(t *testing.T, env Env) {
	ctx := context.Background()
	admin := OpenPool(t, env.PostgresURL)
	ids := AddUsers(t, env.PostgresURL, 16)
	rng := rand.New(rand.NewPCG(24, 7))
	live := map[string]bool{}
	setPreferences := func(id string) {
		t.Helper()
		p := make([]float64, 5)
		for i := range p {
			p[i] = float64(rng.IntN(1001)) / 1000
		}
		if _, err := admin.Exec(ctx, "update public.profiles set preferences = $2 where id = $1", id, p); err != nil {
			t.Fatal(err)
		}
	}
	for step := range 120 {
		id := ids[rng.IntN(len(ids))]
		switch op := rng.IntN(10); {
		case op < 4:
			if _, err := env.Store.Checkin(ctx, Caller(t, id)); err != nil {
				t.Fatal(err)
			}
			live[id] = true
		case op < 6:
			if _, err := env.Store.Checkout(ctx, Caller(t, id)); err != nil {
				t.Fatal(err)
			}
			live[id] = false
		case op < 8:
			setPreferences(id)
		case op < 9 && live[id]:
			RunOut(t, env.PostgresURL, id)
			setPreferences(id) // the feed shows no update for it, and the expire takes the old ones away
			live[id] = false
		case op == 9 && len(ids) > 8:
			if _, err := admin.Exec(ctx, "delete from auth.users where id = $1", id); err != nil {
				t.Fatal(err)
			}
			ids = slices.DeleteFunc(ids, func(u string) bool { return u == id })
			delete(live, id)
		}
		if step%3 == 2 {
			checkSummary(t, env.Store, fmt.Sprintf("step %d", step))
		}
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			c := Caller(t, id)
			if _, err := env.Store.Checkin(ctx, c); err != nil {
				t.Error(err)
			} else if i%2 == 0 {
				if _, err := env.Store.Checkout(ctx, c); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	checkSummary(t, env.Store, "after check-ins and checkouts side by side")
}

// checkSummary fails t unless the store's summary counts and averages the model's list.
func checkSummary(t *testing.T, store vibepass.Store, when string) {
	t.Helper()
	got, err := store.PresenceSummary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	sums := make([]float64, 5)
	if err := store.ActiveUsers(context.Background(), func(u vibepass.ActiveUser) error {
		n++
		for i, p := range u.Preferences {
			sums[i] += p
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got.Count != n || (n == 0) != (got.Mean == nil) || (n > 0 && len(got.Mean) != 5) {
		t.Fatalf("%s: summary %+v, the list has %d", when, got, n)
	}
	for i := range got.Mean {
		if want := sums[i] / float64(n); math.Abs(got.Mean[i]-want) > 1e-12 {
			t.Fatalf("%s: summary means %v, the list's dimension %d is %v", when, got.Mean, i+1, want)
		}
	}
}

// history: per-minute presence over the last hour, from the passes' own times: a pass
// checked out earlier in the hour counts only between its check-in and its checkout,
// one that ended before the hour never, a live one from its check-in on.
func history(t *testing.T, env Env) {
	ctx := context.Background()
	ids := AddUsers(t, env.PostgresURL, 3)
	if _, err := env.Store.Checkin(ctx, Caller(t, ids[2])); err != nil {
		t.Fatal(err)
	}
	var left, gone [2]time.Time // [checked in, ended]
	db := OpenPool(t, env.PostgresURL)
	if err := db.QueryRow(ctx, `insert into public.sessions (user_id, checked_in_at, expires_at, status, ended_at, end_reason)
		values ($1, now() - interval '30 minutes', now() + interval '30 minutes', 'inactive', now() - interval '10 minutes', 'checkout')
		returning checked_in_at, ended_at`, ids[0]).Scan(&left[0], &left[1]); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `insert into public.sessions (user_id, checked_in_at, expires_at, status, ended_at, end_reason)
		values ($1, now() - interval '3 hours', now() - interval '2 hours', 'inactive', now() - interval '2 hours', 'expired')
		returning checked_in_at, ended_at`, ids[1]).Scan(&gone[0], &gone[1]); err != nil {
		t.Fatal(err)
	}
	var live time.Time
	if err := db.QueryRow(ctx, "select checked_in_at from public.sessions where user_id = $1", ids[2]).Scan(&live); err != nil {
		t.Fatal(err)
	}
	points, err := env.Store.PresenceHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 60 {
		t.Fatalf("history has %d points, want 60 (one a minute)", len(points))
	}
	for i, p := range points {
		if i > 0 && i < len(points)-1 && p.At.Sub(points[i-1].At) != time.Minute {
			t.Fatalf("points %d and %d are %v apart, want a minute: %+v", i-1, i, p.At.Sub(points[i-1].At), points)
		}
		var want int64
		for _, pass := range [][2]time.Time{left, gone} {
			if !p.At.Before(pass[0]) && p.At.Before(pass[1]) {
				want++
			}
		}
		if !p.At.Before(live) {
			want++
		}
		if p.Count != want {
			t.Fatalf("at %s the history counts %d present, want %d (%+v)", p.At, p.Count, want, points)
		}
	}
	if last := points[len(points)-1]; last.Count != 1 || last.At.Before(live) {
		t.Fatalf("history ends with %+v, want the one live pass, now", last)
	}
}

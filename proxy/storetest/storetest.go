// Package storetest checks that a vibepass.Store keeps the contract, on the real
// database: both upstreams (pgstore, rest) run the same checks, which is what makes
// "both give the same answers" hold call by call. It also has the helpers those
// tests share: callers with minted tokens and users made in auth.users.
package storetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/pgstore"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// Caller returns the caller the proxy would hand a store for user sub: a token minted
// like Supabase Auth's and its claims.
func Caller(t testing.TB, sub string) vibepass.Caller {
	t.Helper()
	token, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: sub, Email: sub[:8] + "@example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return CallerWithToken(t, token)
}

// CallerWithToken returns a caller carrying token and its (unverified) claims.
func CallerWithToken(t testing.TB, token string) vibepass.Caller {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var sub struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(claims, &sub); err != nil {
		t.Fatal(err)
	}
	return vibepass.Caller{UserID: sub.Sub, Token: token, Claims: claims}
}

// AddUsers signs up n new users in auth.users (the trigger makes their profiles,
// named after the email) through the superuser URL, and returns their ids.
func AddUsers(t testing.TB, superuserURL string, n int) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, superuserURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		insert into auth.users (id, aud, role, email, raw_user_meta_data)
		select gen_random_uuid(), 'authenticated', 'authenticated', 'user' || i || '-' || gen_random_uuid() || '@example.com',
		       jsonb_build_object('display_name', 'User ' || i)
		from generate_series(1, $1) i
		returning id::text`, n)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// CheckInEveryone gives every user of the database a live pass, straight in SQL.
func CheckInEveryone(t testing.TB, superuserURL string) {
	t.Helper()
	checkIn(t, superuserURL, nil)
}

// CheckIn gives each of users (ids AddUsers returned) a live pass, straight in SQL.
func CheckIn(t testing.TB, superuserURL string, users []string) {
	t.Helper()
	checkIn(t, superuserURL, append([]string{}, users...)) // never nil: nil means everyone
}

// checkIn gives users a live pass, or everyone when users is nil.
func checkIn(t testing.TB, superuserURL string, users []string) {
	t.Helper()
	if _, err := OpenPool(t, superuserURL).Exec(context.Background(), `insert into public.sessions (user_id, expires_at)
		select id, now() + interval '1 hour' from auth.users where $1::uuid[] is null or id = any ($1)`, users); err != nil {
		t.Fatal(err)
	}
}

// WantCode fails t unless err is a *vibepass.Error with code.
func WantCode(t testing.TB, err error, code string) {
	t.Helper()
	var e *vibepass.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

// Env is what a check needs: a store over db, whose superuser URL sets the scene.
type Env struct {
	Store       vibepass.Store
	PostgresURL string
}

// Open builds the store under test over db; what it opens must close when t ends.
type Open func(t *testing.T, db *localdb.Database) vibepass.Store

// Run checks the behaviour every upstream shares, each check on its own fresh database
// of the test binary's shared cluster, and the database going away and coming back on
// a private cluster.
func Run(t *testing.T, open Open) {
	env := func(t *testing.T) Env {
		db := localdbtest.ForTest(t)
		return Env{Store: open(t, db), PostgresURL: db.PostgresURL}
	}
	t.Run("Lifecycle", func(t *testing.T) { t.Parallel(); lifecycle(t, env(t)) })
	t.Run("NotSignedIn", func(t *testing.T) { t.Parallel(); notSignedIn(t, env(t)) })
	t.Run("SignOutEndsAccessAndPass", func(t *testing.T) { t.Parallel(); signOutEndsAccessAndPass(t, env(t)) })
	t.Run("DeletedAccount", func(t *testing.T) { t.Parallel(); deletedAccount(t, env(t)) })
	t.Run("AnonymousUsers", func(t *testing.T) { t.Parallel(); anonymousUsers(t, env(t)) })
	t.Run("ActiveUsers", func(t *testing.T) { t.Parallel(); activeUsers(t, env(t)) })
	t.Run("HungQueryTimesOut", func(t *testing.T) { t.Parallel(); hungQuery(t, env(t)) })
	t.Run("ConcurrentCallers", func(t *testing.T) { t.Parallel(); concurrentCallers(t, env(t)) })
	t.Run("FeedCommitOrder", func(t *testing.T) { t.Parallel(); feedCommitOrder(t, env(t)) })
	t.Run("FeedExpiryWithoutWriter", func(t *testing.T) { t.Parallel(); feedExpiry(t, env(t)) })
	t.Run("FeedForgetsEndedPasses", func(t *testing.T) { t.Parallel(); feedForgetsEndedPasses(t, env(t)) })
	t.Run("FeedNoUpdateAfterExpiry", func(t *testing.T) { t.Parallel(); feedNoUpdateAfterExpiry(t, env(t)) })
	t.Run("FeedBurst", func(t *testing.T) { t.Parallel(); feedBurst(t, env(t)) })
	t.Run("Summary", func(t *testing.T) { t.Parallel(); summary(t, env(t)) })
	t.Run("SummaryFollowsEveryChange", func(t *testing.T) { t.Parallel(); summaryFollowsEveryChange(t, env(t)) })
	t.Run("History", func(t *testing.T) { t.Parallel(); history(t, env(t)) })
	t.Run("DatabaseRestart", func(t *testing.T) { t.Parallel(); databaseRestart(t, open) })
	t.Run("NotMigrated", func(t *testing.T) { t.Parallel(); notMigrated(t, open) })
	t.Run("PartlyMigrated", func(t *testing.T) { t.Parallel(); partlyMigrated(t, open) })
}

// RunShared runs the checks that need no database of their own against env, a store
// over a database others use too (a real PostgREST on `supabase start`): each check
// makes its own users and looks only at them.
func RunShared(t *testing.T, env Env) {
	t.Run("Lifecycle", func(t *testing.T) { lifecycle(t, env) })
	t.Run("NotSignedIn", func(t *testing.T) { notSignedIn(t, env) })
	t.Run("ActiveUsers", func(t *testing.T) { activeUsers(t, env) })
	t.Run("HungQueryTimesOut", func(t *testing.T) { hungQuery(t, env) })
	t.Run("ConcurrentCallers", func(t *testing.T) { concurrentCallers(t, env) })
}

// notMigrated opens the store over a database holding only the Supabase base: it
// answers, but without the vibepass functions Ping must say vibepass.ErrNotMigrated.
func notMigrated(t *testing.T, open Open) {
	err := open(t, localdbtest.BaseOnly(t)).Ping(context.Background())
	if !errors.Is(err, vibepass.ErrNotMigrated) {
		t.Fatalf("Ping without the migrations = %v, want %v", err, vibepass.ErrNotMigrated)
	}
}

// partlyMigrated opens the store over a database that lacks one function the proxy calls
// (the feed's history): Ping must say vibepass.ErrNotMigrated, as for none, on every
// upstream alike; before, each upstream checked a few functions of its own.
func partlyMigrated(t *testing.T, open Open) {
	db := localdbtest.ForTest(t)
	if _, err := OpenPool(t, db.PostgresURL).Exec(context.Background(), "drop function public.presence_history()"); err != nil {
		t.Fatal(err)
	}
	store := open(t, db)
	if err := store.Ping(context.Background()); !errors.Is(err, vibepass.ErrNotMigrated) {
		t.Fatalf("Ping without public.presence_history() = %v, want %v", err, vibepass.ErrNotMigrated)
	}
}

// databaseRestart stops the database under a working store: every call must fail fast
// with EUNAVAILABLE (not hang until the deadline), and once the database is back the
// same store must work again on its first call, without being rebuilt.
func databaseRestart(t *testing.T, open Open) {
	ctx := context.Background()
	cluster := localdbtest.NewCluster(t, localdb.Options{})
	db, err := cluster.NewDatabase(ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	store := open(t, db)
	c := Caller(t, AddUsers(t, db.PostgresURL, 1)[0])
	before, err := store.Checkin(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	down, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = store.Checkin(down, c)
	WantCode(t, err, vibepass.EUNAVAILABLE)
	WantCode(t, store.Ping(down), vibepass.EUNAVAILABLE)
	WantCode(t, store.ActiveUsers(down, func(vibepass.ActiveUser) error { return nil }), vibepass.EUNAVAILABLE)
	if msg := vibepass.ErrorMessage(err); msg != "Database unavailable" {
		t.Fatalf("message = %q", msg)
	}
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := store.Checkin(ctx, c)
	if err != nil {
		t.Fatalf("first checkin after the restart: %v", err)
	}
	if after.SessionID != before.SessionID {
		t.Fatalf("after the restart the pass is %s, want the renewed %s", after.SessionID, before.SessionID)
	}
	if err := store.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func lifecycle(t *testing.T, env Env) {
	ctx := context.Background()
	c := Caller(t, AddUsers(t, env.PostgresURL, 1)[0])
	if p, err := env.Store.SessionStatus(ctx, c); err != nil || p != nil {
		t.Fatalf("status before checkin = %+v, %v; want nil, nil", p, err)
	}
	if out, err := env.Store.Checkout(ctx, c); err != nil || out.Ended {
		t.Fatalf("checkout without a pass = %+v, %v; want not ended", out, err)
	}
	first, err := env.Store.Checkin(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if first.SessionID == "" || first.ExpiresInMinutes != 60 || first.ExpiresAt.Location() != time.UTC ||
		time.Until(first.ExpiresAt) < 58*time.Minute || time.Until(first.ExpiresAt) > 61*time.Minute {
		t.Fatalf("checkin = %+v, want a new pass of 60 minutes in UTC", first)
	}
	pass, err := env.Store.SessionStatus(ctx, c)
	if err != nil || pass == nil {
		t.Fatalf("status after checkin = %+v, %v", pass, err)
	}
	if pass.SessionID != first.SessionID || !pass.ExpiresAt.Equal(first.ExpiresAt) || pass.MinutesRemaining != 60 ||
		pass.CheckedInAt.After(pass.ExpiresAt) || pass.CheckedInAt.Location() != time.UTC {
		t.Fatalf("status = %+v after checkin %+v", pass, first)
	}
	renewed, err := env.Store.Checkin(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.SessionID != first.SessionID || renewed.ExpiresAt.Before(first.ExpiresAt) {
		t.Fatalf("renewal = %+v, want session %s expiring no earlier than %s", renewed, first.SessionID, first.ExpiresAt)
	}
	out, err := env.Store.Checkout(ctx, c)
	if err != nil || !out.Ended || out.SessionID != first.SessionID {
		t.Fatalf("checkout = %+v, %v; want session %s ended", out, err, first.SessionID)
	}
	if p, err := env.Store.SessionStatus(ctx, c); err != nil || p != nil {
		t.Fatalf("status after checkout = %+v, %v; want nil, nil", p, err)
	}
	if again, err := env.Store.Checkin(ctx, c); err != nil || again.SessionID == first.SessionID {
		t.Fatalf("checkin after checkout = %+v, %v; want a new session", again, err)
	}
}

// NoUserCaller returns a caller whose valid authenticated token has no sub, one the
// proxy never passes on: the functions themselves must refuse it.
func NoUserCaller(t testing.TB) vibepass.Caller {
	t.Helper()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"role": "authenticated", "aud": "authenticated", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(devtoken.Secret))
	if err != nil {
		t.Fatal(err)
	}
	return CallerWithToken(t, token)
}

func notSignedIn(t *testing.T, env Env) {
	ctx := context.Background()
	c := NoUserCaller(t)
	_, err := env.Store.Checkin(ctx, c)
	WantCode(t, err, vibepass.EUNAUTHORIZED)
	if msg := vibepass.ErrorMessage(err); msg != "Not signed in" {
		t.Fatalf("message = %q", msg)
	}
	_, err = env.Store.SessionStatus(ctx, c)
	WantCode(t, err, vibepass.EUNAUTHORIZED)
}

func activeUsers(t *testing.T, env Env) {
	ctx := context.Background()
	ids := AddUsers(t, env.PostgresURL, 4)
	for _, id := range ids {
		if _, err := env.Store.Checkin(ctx, Caller(t, id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Store.Checkout(ctx, Caller(t, ids[3])); err != nil {
		t.Fatal(err)
	}
	var got []vibepass.ActiveUser
	err := env.Store.ActiveUsers(ctx, func(u vibepass.ActiveUser) error {
		if slices.Contains(ids, u.UserID) { // on a shared database others may be live too
			got = append(got, u)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d active users, want 3 (the checked-out one left out): %+v", len(got), got)
	}
	for i, u := range got {
		// Newest check-in first: the users checked in in order, so they come back reversed.
		if u.UserID != ids[2-i] || !strings.HasPrefix(u.DisplayName, "User ") || len(u.Preferences) != 5 ||
			u.CheckedInAt.Location() != time.UTC || !u.ExpiresAt.After(u.CheckedInAt) {
			t.Fatalf("row %d = %+v, want user %s", i, u, ids[2-i])
		}
	}
	stop := errors.New("client went away")
	calls := 0
	err = env.Store.ActiveUsers(ctx, func(vibepass.ActiveUser) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("emit failing: err = %v after %d calls; want emit's error after 1", err, calls)
	}
	if _, err := env.Store.SessionStatus(ctx, Caller(t, ids[0])); err != nil {
		t.Fatalf("store unusable after an aborted stream: %v", err)
	}
}

// hungQuery holds a lock on the sessions table so that a check-in waits for it; the
// caller's deadline must end the wait with ETIMEOUT, and the store must work on after.
func hungQuery(t *testing.T, env Env) {
	ctx := context.Background()
	c := Caller(t, AddUsers(t, env.PostgresURL, 1)[0])
	locker, err := pgx.Connect(ctx, env.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "lock table public.sessions in access exclusive mode"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = env.Store.Checkin(short, c)
	cancel()
	WantCode(t, err, vibepass.ETIMEOUT)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.Checkin(ctx, c); err != nil {
		t.Fatalf("checkin after the lock was released: %v", err)
	}
}

// concurrentCallers runs many users at once, each of whom must only ever see their own pass.
func concurrentCallers(t *testing.T, env Env) {
	ctx := context.Background()
	ids := AddUsers(t, env.PostgresURL, 16)
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- ownPassOnly(ctx, env.Store, Caller(t, id))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func ownPassOnly(ctx context.Context, store vibepass.Store, c vibepass.Caller) error {
	for range 5 {
		in, err := store.Checkin(ctx, c)
		if err != nil {
			return err
		}
		pass, err := store.SessionStatus(ctx, c)
		if err != nil {
			return err
		}
		if pass == nil || pass.SessionID != in.SessionID {
			return fmt.Errorf("user %s checked in to %s but sees %+v", c.UserID, in.SessionID, pass)
		}
		out, err := store.Checkout(ctx, c)
		if err != nil {
			return err
		}
		if out.SessionID != in.SessionID {
			return fmt.Errorf("user %s checked out of %s, not their %s", c.UserID, out.SessionID, in.SessionID)
		}
	}
	return nil
}

// OpenStore opens a direct-upstream store on url for a test, with pools of pgxpool's
// default size on a small machine for users and the proxy's default limits.model_streams
// for the model, and closes it when the test ends.
func OpenStore(t testing.TB, url string) *pgstore.Store {
	t.Helper()
	store, err := pgstore.Open(url, pgstore.Pools{Users: 4, Model: 2, Feed: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return store
}

// OpenPool opens a pgx pool on url for a test and closes it when the test ends.
func OpenPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// SignIn makes a row in auth.sessions for user, as Supabase Auth does at sign-in, and returns
// a caller whose token names it in session_id; deleting the row signs the caller out.
func SignIn(t testing.TB, postgresURL, user string) (c vibepass.Caller, sessionID string) {
	t.Helper()
	if err := OpenPool(t, postgresURL).QueryRow(context.Background(), `insert into auth.sessions (id, user_id, created_at, updated_at, aal)
		values (gen_random_uuid(), $1, now(), now(), 'aal1') returning id::text`, user).Scan(&sessionID); err != nil {
		t.Fatal(err)
	}
	token, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: user, SessionID: sessionID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return CallerWithToken(t, token), sessionID
}

// signOut deletes sessions from auth.sessions, as Supabase Auth's sign-out does.
func signOut(t testing.TB, env Env, sessions ...string) {
	t.Helper()
	if _, err := OpenPool(t, env.PostgresURL).Exec(context.Background(), "delete from auth.sessions where id = any($1::uuid[])", sessions); err != nil {
		t.Fatal(err)
	}
}

// WantReason fails t unless err is a *vibepass.Error with code and reason.
func WantReason(t testing.TB, err error, code, reason string) {
	t.Helper()
	var e *vibepass.Error
	if !errors.As(err, &e) || e.Code != code || e.Reason != reason {
		t.Fatalf("error = %v (%+v), want code %s reason %s", err, e, code, reason)
	}
}

// signOutEndsAccessAndPass: a user signed in on two devices checks in on one. Signing out the
// other keeps the pass; its token is refused on every call. Signing out the last session ends
// the pass at once, and the feed says leave.
func signOutEndsAccessAndPass(t *testing.T, env Env) {
	ctx := context.Background()
	user := AddUsers(t, env.PostgresURL, 1)[0]
	phone, phoneSession := SignIn(t, env.PostgresURL, user)
	laptop, laptopSession := SignIn(t, env.PostgresURL, user)
	in, err := env.Store.Checkin(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	before := Tick(t, env.Store).Cursor

	signOut(t, env, phoneSession)
	_, err = env.Store.Checkin(ctx, phone)
	WantReason(t, err, vibepass.EUNAUTHORIZED, vibepass.RSESSIONENDED)
	_, err = env.Store.SessionStatus(ctx, phone)
	WantReason(t, err, vibepass.EUNAUTHORIZED, vibepass.RSESSIONENDED)
	_, err = env.Store.Checkout(ctx, phone)
	WantReason(t, err, vibepass.EUNAUTHORIZED, vibepass.RSESSIONENDED)
	if pass, err := env.Store.SessionStatus(ctx, laptop); err != nil || pass == nil || pass.SessionID != in.SessionID {
		t.Fatalf("with the laptop still signed in, its status = %+v, %v; want the live pass %s", pass, err, in.SessionID)
	}

	signOut(t, env, laptopSession)
	_, err = env.Store.SessionStatus(ctx, laptop)
	WantReason(t, err, vibepass.EUNAUTHORIZED, vibepass.RSESSIONENDED)
	if present(t, env.Store, user) {
		t.Fatal("signed out everywhere, the user is still in the model's list")
	}
	changes := Follow(t, env.Store, before)
	if len(changes) != 1 || changes[0].Kind != vibepass.ChangeLeave || changes[0].UserID != user {
		t.Fatalf("after the last sign-out the feed holds %+v, want one leave of %s", changes, user)
	}
}

// deletedAccount: a token outlives its user; once the account is deleted, check-in, status
// and checkout all answer as for no user, with a Supabase session in the token or without.
func deletedAccount(t *testing.T, env Env) {
	ctx := context.Background()
	user := AddUsers(t, env.PostgresURL, 1)[0]
	withSession, _ := SignIn(t, env.PostgresURL, user)
	plain := Caller(t, user)
	if _, err := env.Store.Checkin(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPool(t, env.PostgresURL).Exec(ctx, "delete from auth.users where id = $1", user); err != nil {
		t.Fatal(err)
	}
	for _, c := range []vibepass.Caller{withSession, plain} {
		_, err := env.Store.Checkin(ctx, c)
		WantCode(t, err, vibepass.EUNAUTHORIZED)
		_, err = env.Store.SessionStatus(ctx, c)
		WantCode(t, err, vibepass.EUNAUTHORIZED)
		_, err = env.Store.Checkout(ctx, c)
		WantCode(t, err, vibepass.EUNAUTHORIZED)
		if msg := vibepass.ErrorMessage(err); msg != "Not signed in" {
			t.Fatalf("message = %q, want Not signed in", msg)
		}
	}
}

// anonymousUsers: anonymous users check in by default; with anonymous_users = 'refuse' their
// check-in gets 403 anonymous_refused while others still check in.
func anonymousUsers(t *testing.T, env Env) {
	ctx := context.Background()
	admin := OpenPool(t, env.PostgresURL)
	ids := AddUsers(t, env.PostgresURL, 2)
	anon, known := ids[0], ids[1]
	if _, err := admin.Exec(ctx, "update auth.users set is_anonymous = true, email = null where id = $1", anon); err != nil {
		t.Fatal(err)
	}
	token, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: anon, Anonymous: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	anonCaller := CallerWithToken(t, token)
	before := Tick(t, env.Store).Cursor
	if _, err := env.Store.Checkin(ctx, anonCaller); err != nil {
		t.Fatalf("an anonymous user's check-in with the default setting: %v", err)
	}
	if row := listed(t, env.Store, anon); row == nil || !row.IsAnonymous {
		t.Fatalf("the model's row of an anonymous user = %+v, want is_anonymous true", row)
	}
	// Linking an identity makes the user permanent: the row and the feed follow.
	if _, err := admin.Exec(ctx, "update auth.users set is_anonymous = false where id = $1", anon); err != nil {
		t.Fatal(err)
	}
	if row := listed(t, env.Store, anon); row == nil || row.IsAnonymous {
		t.Fatalf("the model's row after the user linked an identity = %+v, want is_anonymous false", row)
	}
	feed := Follow(t, env.Store, before)
	if len(feed) != 2 || feed[0].Kind != vibepass.ChangeJoin || !feed[0].User.IsAnonymous ||
		feed[1].Kind != vibepass.ChangeUpdate || feed[1].User.IsAnonymous {
		t.Fatalf("feed = %+v, want an anonymous join, then an update with is_anonymous false", feed)
	}
	if _, err := admin.Exec(ctx, "update auth.users set is_anonymous = true where id = $1", anon); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "update vibepass.settings set anonymous_users = 'refuse'"); err != nil {
		t.Fatal(err)
	}
	_, err = env.Store.Checkin(ctx, anonCaller)
	WantReason(t, err, vibepass.EFORBIDDEN, vibepass.RANONREFUSED)
	if _, err := env.Store.Checkin(ctx, Caller(t, known)); err != nil {
		t.Fatalf("a signed-up user's check-in while anonymous users are refused: %v", err)
	}
	if _, err := env.Store.Checkout(ctx, anonCaller); err != nil {
		t.Fatalf("an anonymous user ends the pass made before the refusal: %v", err)
	}
}

// present reports whether user is in the model's list.
func present(t testing.TB, store vibepass.Store, user string) bool {
	t.Helper()
	return listed(t, store, user) != nil
}

// listed returns user's row in the model's list, or nil.
func listed(t testing.TB, store vibepass.Store, user string) *vibepass.ActiveUser {
	t.Helper()
	var found *vibepass.ActiveUser
	if err := store.ActiveUsers(context.Background(), func(u vibepass.ActiveUser) error {
		if u.UserID == user {
			found = &u
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

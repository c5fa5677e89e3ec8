package supabase_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// TestSupabaseAuthSignOutEndsThePass: Supabase Auth deletes a session as its own role,
// supabase_auth_admin, which has no rights on public.sessions. The sign-out still ends the
// user's live pass, through vibepass's trigger, and the token that named the session is refused.
func TestSupabaseAuthSignOutEndsThePass(t *testing.T) {
	ctx := context.Background()
	db := localdbtest.ForTest(t)
	owner := connect(t, db.PostgresURL)
	var user, session string
	if err := owner.QueryRow(ctx, `with u as (
		  insert into auth.users (id, aud, role, email) values (gen_random_uuid(), 'authenticated', 'authenticated', 'sid@example.com') returning id)
		insert into auth.sessions (id, user_id, created_at, aal) select gen_random_uuid(), u.id, now(), 'aal1' from u
		returning user_id::text, id::text`).Scan(&user, &session); err != nil {
		t.Fatal(err)
	}
	api := connect(t, db.AuthenticatorURL)
	claims := fmt.Sprintf(`{"sub":%q,"role":"authenticated","session_id":%q}`, user, session)
	if _, err := sqlapi.CallJSON(ctx, api, vibepass.RoleAuthenticated, claims, sqlapi.CheckinSQL); err != nil {
		t.Fatal(err)
	}

	auth := connect(t, db.AdminURL)
	if _, err := auth.Exec(ctx, "set role supabase_auth_admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Exec(ctx, "delete from auth.sessions where id = $1", session); err != nil {
		t.Fatalf("Supabase Auth's sign-out: %v", err)
	}
	var status, reason string
	if err := owner.QueryRow(ctx, "select status, coalesce(end_reason, '') from public.sessions where user_id = $1", user).Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	if status != "inactive" || reason != "signed_out" {
		t.Fatalf("after the sign-out the pass is %s (%q), want inactive, signed_out", status, reason)
	}
	_, err := sqlapi.CallJSON(ctx, api, vibepass.RoleAuthenticated, claims, sqlapi.SessionStatusSQL)
	wantSQLState(t, err, "42501", sqlapi.SessionEnded)
}

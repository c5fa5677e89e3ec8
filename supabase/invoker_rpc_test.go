package supabase_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// invokerRPCMigration is the migration that moves the SECURITY DEFINER code out of public.
const invokerRPCMigration = "20261202150000_invoker_rpc.sql"

// TestInvokerRPCMigrationKeepsLivePasses pushes the migration onto a database where a user
// holds a live pass, as a live project has one: the push must succeed, public's three
// functions must then run as their caller, and through them the user must still see, renew
// and end that same pass.
func TestInvokerRPCMigrationKeepsLivePasses(t *testing.T) {
	ctx := context.Background()
	conn, push := projectBefore(t, invokerRPCMigration)

	const user = "00000000-0000-4000-8000-0000000000b1"
	if _, err := conn.Exec(ctx, `insert into auth.users (id, aud, role, email)
		values ($1, 'authenticated', 'authenticated', 'live@test.local')`, user); err != nil {
		t.Fatal(err)
	}
	claims := fmt.Sprintf(`{"sub":%q,"role":"authenticated","aud":"authenticated"}`, user)
	// sessionID calls statement as the user, as PostgREST would, and returns the session_id
	// of its answer.
	sessionID := func(statement string) string {
		t.Helper()
		raw, err := sqlapi.CallJSON(ctx, conn, vibepass.RoleAuthenticated, claims, statement)
		if err != nil {
			t.Fatalf("%s: %v", statement, err)
		}
		pass, err := sqlapi.DecodeCheckout(raw) // {"session_id", ...}: the one field every answer has
		if err != nil {
			t.Fatalf("%s answered %s: %v", statement, raw, err)
		}
		return pass.SessionID
	}
	live := sessionID(sqlapi.CheckinSQL)

	push()

	var definers int
	if err := conn.QueryRow(ctx, `select count(*) from pg_proc
		where pronamespace = 'public'::regnamespace and prosecdef`).Scan(&definers); err != nil {
		t.Fatal(err)
	}
	if definers != 0 {
		t.Errorf("after the migration public holds %d SECURITY DEFINER functions, want none", definers)
	}
	for _, statement := range []string{sqlapi.SessionStatusSQL, sqlapi.CheckinSQL, sqlapi.CheckoutSQL} {
		if got := sessionID(statement); got != live {
			t.Errorf("after the migration %s answered session %q, want the live pass %q", statement, got, live)
		}
	}
}

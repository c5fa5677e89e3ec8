package sqlapi_test

import (
	"context"
	"testing"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

func TestMain(m *testing.M) { localdbtest.Main(m) }

// TestUserCannotReadActiveUsers runs the model read as a signed-in user: the grants
// must refuse it, and the refusal must reach the client as EFORBIDDEN.
func TestUserCannotReadActiveUsers(t *testing.T) {
	ctx := context.Background()
	db := localdbtest.ForTest(t)
	pool := storetest.OpenPool(t, db.AuthenticatorURL)
	c := storetest.Caller(t, storetest.AddUsers(t, db.PostgresURL, 1)[0])
	if _, err := sqlapi.CallJSON(ctx, pool, vibepass.RoleAuthenticated, string(c.Claims), sqlapi.CheckinSQL); err != nil {
		t.Fatal(err)
	}
	rows := 0
	emitErr, err := sqlapi.ReadActiveUsers(ctx, pool, vibepass.RoleAuthenticated, string(c.Claims), func(vibepass.ActiveUser) error { rows++; return nil })
	if emitErr != nil {
		t.Fatal(emitErr)
	}
	storetest.WantCode(t, sqlapi.MapError(ctx, err), vibepass.EFORBIDDEN)
	if rows != 0 {
		t.Fatalf("%d rows reached a user", rows)
	}
}

package pgstore

import (
	"context"
	"testing"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/pgstore/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestUserCannotReadActiveUsers runs the model read as a signed-in user: the grants
// must refuse it, and the refusal must reach the client as EFORBIDDEN.
func TestUserCannotReadActiveUsers(t *testing.T) {
	db := localdbtest.ForTest(t)
	store := New(storetest.OpenPool(t, db.AuthenticatorURL))
	c := storetest.Caller(t, storetest.AddUsers(t, db.SuperuserURL, 1)[0])
	if _, err := store.Checkin(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	rows := 0
	err := store.activeUsers(context.Background(), "authenticated", string(c.Claims), func(vibepass.ActiveUser) error { rows++; return nil })
	storetest.WantCode(t, err, vibepass.EFORBIDDEN)
	if rows != 0 {
		t.Fatalf("%d rows reached a user", rows)
	}
}

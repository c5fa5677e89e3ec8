package rest

import (
	"context"
	"testing"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/pgstore/storetest"
	"github.com/vibepass/vibepass/proxy/rest/resttest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestUserCannotReadActiveUsers calls rpc/active_users with a user's token and the anon
// key: PostgREST (the stand-in) must refuse it, and the refusal reach the client as EFORBIDDEN.
func TestUserCannotReadActiveUsers(t *testing.T) {
	db := localdbtest.ForTest(t)
	srv, err := resttest.Start(db.AuthenticatorURL, storetest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	store, err := New(Options{URL: srv.URL, AnonKey: srv.AnonKey, ServiceRoleKey: srv.ServiceRoleKey})
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.Caller(t, storetest.AddUsers(t, db.SuperuserURL, 1)[0])
	if _, err := store.Checkin(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	rows := 0
	err = store.activeUsers(context.Background(), c.Token, srv.AnonKey, func(vibepass.ActiveUser) error { rows++; return nil })
	storetest.WantCode(t, err, vibepass.EFORBIDDEN)
	if rows != 0 {
		t.Fatalf("%d rows reached a user", rows)
	}
}

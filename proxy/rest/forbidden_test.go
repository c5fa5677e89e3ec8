package rest

import (
	"net/http"
	"testing"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/rest/resttest"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestUserCannotReadActiveUsers calls the model list's functions with a user's token
// and the anon key: PostgREST (the stand-in) must refuse them, and the refusal reach
// the client as EFORBIDDEN.
func TestUserCannotReadActiveUsers(t *testing.T) {
	db := localdbtest.ForTest(t)
	srv, err := resttest.Start(db.AuthenticatorURL, []byte(devtoken.Secret))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := storetest.Caller(t, storetest.AddUsers(t, db.PostgresURL, 1)[0])
	for _, fn := range []string{"active_users", fnActiveUsersPage} {
		status, body := RawCall(t, srv.URL, srv.AnonKey, c.Token, fn, "{}")
		if status == http.StatusOK {
			t.Fatalf("a user read the model's list through %s: %.200s", fn, body)
		}
		storetest.WantCode(t, responseError(status, body), vibepass.EFORBIDDEN)
	}
}

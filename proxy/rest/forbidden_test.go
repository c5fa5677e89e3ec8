package rest

import (
	"io"
	"net/http"
	"strings"
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
	c := storetest.Caller(t, storetest.AddUsers(t, db.SuperuserURL, 1)[0])
	for _, fn := range []string{"active_users", fnActiveUsersPage} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/rest/v1/rpc/"+fn, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("apikey", srv.AnonKey)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("a user read the model's list through %s: %.200s", fn, body)
		}
		storetest.WantCode(t, responseError(resp.StatusCode, body), vibepass.EFORBIDDEN)
	}
}

package rest

import (
	"testing"

	"github.com/vibepass/vibepass"
)

// TestResponseErrorMapping covers PostgREST answers the database cannot easily be made
// to give: the gateway's and PostgREST's own errors, mapped by status.
func TestResponseErrorMapping(t *testing.T) {
	cases := []struct {
		status    int
		body      string
		code, msg string
	}{
		{401, `{"code":"PGRST301","message":"JWT expired"}`, vibepass.EUNAUTHORIZED, "Token expired"},
		{401, `{"code":"PGRST301","message":"JWSError JWSInvalidSignature"}`, vibepass.EUNAUTHORIZED, "Invalid token"},
		{401, `{"message":"Invalid authentication credentials"}`, vibepass.EUNAUTHORIZED, "Invalid token"},
		{403, `{"code":"42501","message":"permission denied for function active_users"}`, vibepass.EFORBIDDEN, "Permission denied"},
		{403, `{"code":"42501","message":"not signed in"}`, vibepass.EUNAUTHORIZED, "Not signed in"},
		{400, `{"code":"P0001","message":"preferences must be 5 numbers"}`, vibepass.EINVALID, "preferences must be 5 numbers"},
		{409, `{"code":"23505","message":"duplicate key value violates unique constraint"}`, vibepass.ECONFLICT, "Conflicting request, try again"},
		{500, `{"code":"57014","message":"canceling statement due to statement timeout"}`, vibepass.ETIMEOUT, "Database timed out"},
		{503, `{"code":"PGRST001","message":"Database client error. Retrying the connection."}`, vibepass.EUNAVAILABLE, "Database unavailable"},
		{504, `{"code":"PGRST003","message":"Timed out acquiring connection from connection pool."}`, vibepass.ETIMEOUT, "Database timed out"},
		{502, `<html>Bad Gateway</html>`, vibepass.EUNAVAILABLE, "Database unavailable"},
		{404, `{"code":"PGRST202","message":"Could not find the function public.checkin"}`, vibepass.EINTERNAL, "Internal error"},
		{500, `{"code":"XX000","message":"internal error in SQL"}`, vibepass.EINTERNAL, "Internal error"},
	}
	for _, c := range cases {
		err := responseError(c.status, []byte(c.body))
		if vibepass.ErrorCode(err) != c.code || vibepass.ErrorMessage(err) != c.msg {
			t.Errorf("%d %s -> %s %q, want %s %q", c.status, c.body, vibepass.ErrorCode(err), vibepass.ErrorMessage(err), c.code, c.msg)
		}
	}
}

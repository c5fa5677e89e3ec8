package rest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/rest"
	"github.com/vibepass/vibepass/proxy/rest/apikey"
	"github.com/vibepass/vibepass/proxy/rest/resttest"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestReadinessTellsTheTruth: Ping fails when the gateway refuses either key, and
// says "not migrated" when the functions are missing from the schema cache (PGRST202).
func TestReadinessTellsTheTruth(t *testing.T) {
	db := localdbtest.ForTest(t)
	srv, err := resttest.Start(db.AuthenticatorURL, []byte(devtoken.Secret))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	otherSecret := []byte("another secret of at least 32 characters")
	foreignAnon, err := resttest.RoleKey(otherSecret, "anon")
	if err != nil {
		t.Fatal(err)
	}
	foreignService, err := resttest.RoleKey(otherSecret, "service_role")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, anon, service string }{
		{"both keys right (legacy)", srv.AnonKey, srv.ServiceRoleKey},
		{"both keys right (current)", srv.PublishableKey, srv.SecretKey},
		{"another project's anon key", foreignAnon, srv.ServiceRoleKey},
		{"another project's service_role key", srv.AnonKey, foreignService},
		{"a revoked publishable key", apikey.PublishablePrefix + "revoked", srv.SecretKey},
		{"a revoked secret key", srv.PublishableKey, apikey.SecretPrefix + "revoked"},
	}
	for i, c := range cases {
		store, err := rest.New(rest.Options{URL: srv.URL, AnonKey: c.anon, ServiceRoleKey: c.service})
		if err != nil {
			t.Fatal(err)
		}
		err = store.Ping(context.Background())
		if ok := i < 2; ok != (err == nil) || (err != nil && (vibepass.ErrorCode(err) != vibepass.EUNAVAILABLE || errors.Is(err, vibepass.ErrNotMigrated))) {
			t.Errorf("%s: Ping = %v", c.name, err)
		}
	}
	bare := localdbtest.BaseOnly(t)
	empty, err := resttest.Start(bare.AuthenticatorURL, []byte(devtoken.Secret))
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	store, err := rest.New(rest.Options{URL: empty.URL, AnonKey: empty.PublishableKey, ServiceRoleKey: empty.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Ping(context.Background()); !errors.Is(err, vibepass.ErrNotMigrated) {
		t.Fatalf("Ping without the functions = %v, want %v", err, vibepass.ErrNotMigrated)
	}
}

// TestNewRefusesKeysInEachOthersPlace: a secret or service_role key as the anon key
// would give user calls the service role's rights; a publishable or anon key as the
// service-role key fails every model read. New says so without repeating the key.
func TestNewRefusesKeysInEachOthersPlace(t *testing.T) {
	secret := []byte(devtoken.Secret)
	anon, _ := resttest.RoleKey(secret, "anon")
	service, _ := resttest.RoleKey(secret, "service_role")
	cases := []struct{ name, anon, service string }{
		{"secret key as the anon key", apikey.SecretPrefix + "abc123", apikey.SecretPrefix + "def456"},
		{"service_role JWT as the anon key", service, service},
		{"publishable key as the service-role key", apikey.PublishablePrefix + "abc123", apikey.PublishablePrefix + "def456"},
		{"anon JWT as the service-role key", anon, anon},
	}
	for _, c := range cases {
		_, err := rest.New(rest.Options{URL: "http://127.0.0.1:54321", AnonKey: c.anon, ServiceRoleKey: c.service})
		if err == nil || strings.Contains(err.Error(), "abc123") || strings.Contains(err.Error(), "def456") || strings.Contains(err.Error(), "eyJ") {
			t.Errorf("%s: New error = %v, want a refusal that does not repeat the key", c.name, err)
		}
	}
	for _, pair := range [][2]string{{anon, service}, {apikey.PublishablePrefix + "a", apikey.SecretPrefix + "b"}, {anon, apikey.SecretPrefix + "b"}} {
		if _, err := rest.New(rest.Options{URL: "http://127.0.0.1:54321", AnonKey: pair[0], ServiceRoleKey: pair[1]}); err != nil {
			t.Errorf("keys in their places refused: %v", err)
		}
	}
}

// TestPostgRESTErrorsMapToTheSpec: each error PostgREST documents for these calls, as
// the stand-in produces it the way PostgREST does, reaches the client as the spec's
// code and message.
func TestPostgRESTErrorsMapToTheSpec(t *testing.T) {
	db := localdbtest.ForTest(t)
	ctx := context.Background()
	super := storetest.OpenPool(t, db.PostgresURL)
	if _, err := super.Exec(ctx, `
		create function public.fail(kind text) returns json language plpgsql as $$
		begin
		  if kind = 'raise' then raise exception 'preferences must be 5 numbers'; end if;
		  if kind = 'unique' then raise unique_violation using message = 'duplicate key value violates unique constraint'; end if;
		  perform pg_sleep(0.3);
		  return null;
		end $$;
		grant execute on function public.fail(text) to authenticated;`); err != nil {
		t.Fatal(err)
	}
	if _, err := super.Exec(ctx, `alter role authenticated in database `+db.Name+` set statement_timeout = '100ms'`); err != nil {
		t.Fatal(err)
	}
	u := newUpstreamWith(t, db, currentKeys, resttest.Options{})
	noAnon, err := resttest.StartWith(db.AuthenticatorURL, []byte(devtoken.Secret), resttest.Options{NoAnonRole: true})
	if err != nil {
		t.Fatal(err)
	}
	defer noAnon.Close()
	sign := func(claims jwt.MapClaims) string {
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(devtoken.Secret))
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	user := storetest.Caller(t, storetest.AddUsers(t, db.PostgresURL, 1)[0])
	expired := sign(jwt.MapClaims{"sub": user.UserID, "role": "authenticated", "exp": time.Now().Add(-time.Hour).Unix()})
	noRole := sign(jwt.MapClaims{"sub": user.UserID, "exp": time.Now().Add(time.Hour).Unix()})
	cases := []struct {
		name, pgrst string // what PostgREST answers, as the stand-in checks below
		srv         *resttest.Server
		fn, body    string
		token       string
		code, msg   string
	}{
		{"PGRST301 bad JWT", "PGRST301", u.postgrest, "checkin", "{}", "not-a-jwt", vibepass.EUNAUTHORIZED, "Invalid token"},
		{"PGRST302 no role and no anon role", "PGRST302", noAnon, "checkin", "{}", noRole, vibepass.EUNAUTHORIZED, "Invalid token"},
		{"PGRST303 expired JWT", "PGRST303", u.postgrest, "checkin", "{}", expired, vibepass.EUNAUTHORIZED, "Token expired"},
		{"PGRST202 function missing", "PGRST202", u.postgrest, "missing", "{}", user.Token, vibepass.EINTERNAL, "Internal error"},
		{"42501 not signed in", "42501", u.postgrest, "checkin", "{}", storetest.NoUserCaller(t).Token, vibepass.EUNAUTHORIZED, "Not signed in"},
		{"42501 permission denied", "42501", u.postgrest, "active_users_page", "{}", user.Token, vibepass.EFORBIDDEN, "Permission denied"},
		{"P0001 raise exception", "P0001", u.postgrest, "fail", `{"kind":"raise"}`, user.Token, vibepass.EINVALID, "preferences must be 5 numbers"},
		{"23505 unique violation", "23505", u.postgrest, "fail", `{"kind":"unique"}`, user.Token, vibepass.ECONFLICT, "Conflicting request, try again"},
		{"57014 statement timeout", "57014", u.postgrest, "fail", `{"kind":"slow"}`, user.Token, vibepass.ETIMEOUT, "Database timed out"},
	}
	for _, c := range cases {
		status, body := rest.RawCall(t, c.srv.URL, c.srv.PublishableKey, c.token, c.fn, c.body)
		if !strings.Contains(string(body), `"code":"`+c.pgrst+`"`) {
			t.Errorf("%s: the stand-in answered %d %s, not %s", c.name, status, body, c.pgrst)
			continue
		}
		err := rest.ResponseError(status, body)
		if vibepass.ErrorCode(err) != c.code || vibepass.ErrorMessage(err) != c.msg {
			t.Errorf("%s: %d %s -> %s %q, want %s %q", c.name, status, body, vibepass.ErrorCode(err), vibepass.ErrorMessage(err), c.code, c.msg)
		}
	}
}

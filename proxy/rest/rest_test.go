package rest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/rest"
	"github.com/vibepass/vibepass/proxy/rest/apikey"
	"github.com/vibepass/vibepass/proxy/rest/resttest"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func TestMain(m *testing.M) { localdbtest.Main(m) }

// upstream is a rest store in front of a PostgREST stand-in on db.
type upstream struct {
	store     *rest.Store
	postgrest *resttest.Server
}

// keys is one generation of Supabase's API keys as the stand-in issues them.
type keys struct {
	name              string
	anon, serviceRole func(*resttest.Server) string
}

var (
	legacyKeys = keys{"legacy JWT keys",
		func(s *resttest.Server) string { return s.AnonKey }, func(s *resttest.Server) string { return s.ServiceRoleKey }}
	currentKeys = keys{"publishable and secret keys",
		func(s *resttest.Server) string { return s.PublishableKey }, func(s *resttest.Server) string { return s.SecretKey }}
)

func newUpstream(t testing.TB, db *localdb.Database) upstream {
	t.Helper()
	return newUpstreamWith(t, db, legacyKeys, resttest.Options{})
}

func newUpstreamWith(t testing.TB, db *localdb.Database, k keys, o resttest.Options) upstream {
	t.Helper()
	srv, err := resttest.StartWith(db.AuthenticatorURL, []byte(devtoken.Secret), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	store, err := rest.New(rest.Options{URL: srv.URL, AnonKey: k.anon(srv), ServiceRoleKey: k.serviceRole(srv)})
	if err != nil {
		t.Fatal(err)
	}
	return upstream{store: store, postgrest: srv}
}

// TestStoreContract runs the contract against the stand-in, or against a real
// PostgREST when VIBEPASS_TEST_POSTGREST_URL names one (docs/testing.md).
func TestStoreContract(t *testing.T) {
	if real, ok := realPostgREST(t); ok {
		storetest.RunShared(t, storetest.Env{Store: real.store(t), PostgresURL: real.dbURL})
		return
	}
	storetest.Run(t, func(t *testing.T, db *localdb.Database) vibepass.Store { return newUpstream(t, db).store })
}

// The variables that name a real PostgREST for the tests, e.g. `supabase start`'s.
const (
	envPostgRESTURL = "VIBEPASS_TEST_POSTGREST_URL"
	envAnonKey      = "VIBEPASS_TEST_POSTGREST_ANON_KEY"
	envServiceKey   = "VIBEPASS_TEST_POSTGREST_SERVICE_ROLE_KEY"
	envDBURL        = "VIBEPASS_TEST_POSTGREST_DB_URL"
)

// realTarget is a real PostgREST and the superuser URL of its database.
type realTarget struct{ url, anonKey, serviceKey, dbURL string }

// realPostgREST returns the real PostgREST the environment names, and logs which
// PostgREST the test runs against. The user tokens the tests mint are signed with the
// CLI's local JWT secret, which `supabase start`'s PostgREST accepts.
func realPostgREST(t testing.TB) (realTarget, bool) {
	t.Helper()
	r := realTarget{os.Getenv(envPostgRESTURL), os.Getenv(envAnonKey), os.Getenv(envServiceKey), os.Getenv(envDBURL)}
	if r.url == "" {
		t.Logf("PostgREST: the stand-in (resttest); set %s, %s, %s and %s to run against a real one", envPostgRESTURL, envAnonKey, envServiceKey, envDBURL)
		return r, false
	}
	if r.anonKey == "" || r.serviceKey == "" || r.dbURL == "" {
		t.Fatalf("%s is set: set %s, %s and %s too (docs/testing.md)", envPostgRESTURL, envAnonKey, envServiceKey, envDBURL)
	}
	t.Logf("PostgREST: the real one at %s", r.url)
	return r, true
}

// store is a rest store in front of the real PostgREST.
func (r realTarget) store(t testing.TB) *rest.Store {
	t.Helper()
	store, err := rest.New(rest.Options{URL: r.url, AnonKey: r.anonKey, ServiceRoleKey: r.serviceKey})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// TestStoreContractCurrentKeys runs the contract with a publishable and a secret key.
func TestStoreContractCurrentKeys(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *localdb.Database) vibepass.Store {
		return newUpstreamWith(t, db, currentKeys, resttest.Options{}).store
	})
}

// TestSendsOnlyKnownFunctionsWithTheRightKeys checks what reached PostgREST, for both
// key generations: only the rpc URLs meant; user calls with the anon key as apikey
// and the user's own token; the readiness check with the anon key alone; the model
// read with the service-role key as apikey, and as bearer only when it is a JWT
// (a secret key is not, and the gateway refuses it there).
func TestSendsOnlyKnownFunctionsWithTheRightKeys(t *testing.T) {
	for _, k := range []keys{legacyKeys, currentKeys} {
		t.Run(k.name, func(t *testing.T) {
			db := localdbtest.ForTest(t)
			u := newUpstreamWith(t, db, k, resttest.Options{})
			ctx := context.Background()
			c := storetest.Caller(t, storetest.AddUsers(t, db.PostgresURL, 1)[0])
			if _, err := u.store.Checkin(ctx, c); err != nil {
				t.Fatal(err)
			}
			if _, err := u.store.SessionStatus(ctx, c); err != nil {
				t.Fatal(err)
			}
			var listed int
			if err := u.store.ActiveUsers(ctx, func(vibepass.ActiveUser) error { listed++; return nil }); err != nil || listed != 1 {
				t.Fatalf("model list: %d rows, %v", listed, err)
			}
			if _, err := u.store.Checkout(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := u.store.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			anonKey, serviceKey := k.anon(u.postgrest), k.serviceRole(u.postgrest)
			serviceBearer := "Bearer " + serviceKey
			if strings.HasPrefix(serviceKey, apikey.SecretPrefix) {
				serviceBearer = ""
			}
			type sent struct{ path, apikey, bearer string }
			want := []sent{
				{"checkin", anonKey, "Bearer " + c.Token},
				{"session_status", anonKey, "Bearer " + c.Token},
				{"active_users_page", serviceKey, serviceBearer},
				{"checkout", anonKey, "Bearer " + c.Token},
				{"session_status", anonKey, ""},
				{"vibepass_ready", serviceKey, serviceBearer},
			}
			got := u.postgrest.Requests()
			if len(got) != len(want) {
				t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
			}
			for i, r := range got {
				w := want[i]
				if r.Method != http.MethodPost || r.Path != "/rest/v1/rpc/"+w.path ||
					r.Header.Get("apikey") != w.apikey || r.Header.Get("Authorization") != w.bearer {
					t.Errorf("request %d: %s %s apikey %.20q Authorization %.20q; want POST %s apikey %.20q Authorization %.20q",
						i, r.Method, r.Path, r.Header.Get("apikey"), r.Header.Get("Authorization"), w.path, w.apikey, w.bearer)
				}
			}
		})
	}
}

// TestRefusesRedirects: postgrest-go's transport adds the token and key to every
// request it sends, so a redirect must never be followed.
func TestRefusesRedirects(t *testing.T) {
	var elsewhere atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/rest/v1/rpc/") {
			http.Redirect(w, r, "/auth/v1/admin/users", http.StatusTemporaryRedirect)
			return
		}
		elsewhere.Add(1)
	}))
	defer srv.Close()
	store, err := rest.New(rest.Options{URL: srv.URL, AnonKey: "anon", ServiceRoleKey: "service"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := vibepass.Caller{UserID: "u", Token: "user-token"}
	if _, err := store.Checkin(ctx, c); vibepass.ErrorCode(err) != vibepass.EINTERNAL {
		t.Fatalf("checkin through a redirect: %v, want an internal error", err)
	}
	if err := store.ActiveUsers(ctx, func(vibepass.ActiveUser) error { return nil }); vibepass.ErrorCode(err) != vibepass.EINTERNAL {
		t.Fatalf("model read through a redirect: %v, want an internal error", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("%d requests left /rest/v1/rpc/", n)
	}
}

// TestNewRefusesCredentialsInTheURL: transport errors repeat the URL, so a
// user:password@ in it would reach the logs; New refuses it without repeating it.
func TestNewRefusesCredentialsInTheURL(t *testing.T) {
	_, err := rest.New(rest.Options{URL: "http://restuser:restpass@127.0.0.1:54321", AnonKey: "anon", ServiceRoleKey: "service"})
	if err == nil || strings.Contains(err.Error(), "restuser") || strings.Contains(err.Error(), "restpass") {
		t.Fatalf("New error = %v, want a refusal that does not repeat the credentials", err)
	}
}

// TestActiveUsersStreams serves the first row and holds the rest back until emit has
// seen it: a client that read the whole body first would never get there.
func TestActiveUsersStreams(t *testing.T) {
	firstSeen := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Range", "0-1/2")
		row := `{"user_id":"00000000-0000-4000-8000-000000000001","display_name":"MusicFan","checked_in_at":"2025-11-09T14:00:00.123456+00:00","expires_at":"2025-11-09T15:00:00.123456+00:00","preferences":[0.5,0.8,0.2,1,0]}`
		_, _ = w.Write([]byte("[" + row))
		w.(http.Flusher).Flush()
		select {
		case <-firstSeen:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte("," + strings.Replace(row, "8000-000000000001", "8000-000000000000", 1) + "]"))
	}))
	defer srv.Close()
	store, err := rest.New(rest.Options{URL: srv.URL, AnonKey: "anon", ServiceRoleKey: "service"})
	if err != nil {
		t.Fatal(err)
	}
	var got []vibepass.ActiveUser
	err = store.ActiveUsers(t.Context(), func(u vibepass.ActiveUser) error {
		if len(got) == 0 {
			close(firstSeen)
		}
		got = append(got, u)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].CheckedInAt.Nanosecond() != 123456000 || got[0].CheckedInAt.Location().String() != "UTC" ||
		got[0].CheckedInAt.Hour() != 14 || !slices.Equal(got[0].Preferences, []float64{0.5, 0.8, 0.2, 1, 0}) {
		t.Fatalf("rows = %+v", got)
	}
}

// TestBothUpstreamsAgree runs one scenario through the direct and the PostgREST
// upstream on the same database, each step read back through both.
func TestBothUpstreamsAgree(t *testing.T) {
	db := localdbtest.ForTest(t)
	u := newUpstream(t, db)
	direct := storetest.OpenStore(t, db.AuthenticatorURL)
	ctx := context.Background()
	ids := storetest.AddUsers(t, db.PostgresURL, 3)
	stores := map[string]vibepass.Store{"direct": direct, "postgrest": u.store}
	same := func(step string, read func(vibepass.Store) (any, error)) {
		t.Helper()
		d, derr := read(direct)
		p, perr := read(u.store)
		if vibepass.ErrorCode(derr) != vibepass.ErrorCode(perr) || vibepass.ErrorMessage(derr) != vibepass.ErrorMessage(perr) ||
			(derr == nil) != (perr == nil) || !reflect.DeepEqual(d, p) {
			t.Fatalf("%s: direct = %+v, %v; postgrest = %+v, %v", step, d, derr, p, perr)
		}
	}
	status := func(id string) func(vibepass.Store) (any, error) {
		return func(s vibepass.Store) (any, error) { return s.SessionStatus(ctx, storetest.Caller(t, id)) }
	}
	list := func(s vibepass.Store) (any, error) {
		var rows []vibepass.ActiveUser
		err := s.ActiveUsers(ctx, func(u vibepass.ActiveUser) error { rows = append(rows, u); return nil })
		return rows, err
	}
	same("status before any pass", status(ids[0]))
	same("empty list", list)
	for i, id := range ids {
		name := []string{"direct", "postgrest"}[i%2]
		if _, err := stores[name].Checkin(ctx, storetest.Caller(t, id)); err != nil {
			t.Fatalf("%s checkin: %v", name, err)
		}
		same("status after checkin via "+name, status(id))
	}
	same("list of three", list)
	renewed, err := u.store.Checkin(ctx, storetest.Caller(t, ids[0]))
	if err != nil {
		t.Fatal(err)
	}
	pass, err := direct.SessionStatus(ctx, storetest.Caller(t, ids[0]))
	if err != nil || pass == nil || pass.SessionID != renewed.SessionID || !pass.ExpiresAt.Equal(renewed.ExpiresAt) {
		t.Fatalf("direct sees %+v, %v after postgrest renewed to %+v", pass, err, renewed)
	}
	same("status after renewal", status(ids[0]))
	if out, err := direct.Checkout(ctx, storetest.Caller(t, ids[1])); err != nil || !out.Ended {
		t.Fatalf("direct checkout = %+v, %v", out, err)
	}
	same("status after checkout", status(ids[1]))
	same("second checkout", func(s vibepass.Store) (any, error) { return s.Checkout(ctx, storetest.Caller(t, ids[1])) })
	same("list after checkout", list)
	same("token without a user", func(s vibepass.Store) (any, error) { return s.Checkin(ctx, storetest.NoUserCaller(t)) })
	same("ping", func(s vibepass.Store) (any, error) { return nil, s.Ping(ctx) })
}

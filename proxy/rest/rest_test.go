package rest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/rest"
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

func newUpstream(t testing.TB, db *localdb.Database) upstream {
	t.Helper()
	srv, err := resttest.Start(db.AuthenticatorURL, []byte(devtoken.Secret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	store, err := rest.New(rest.Options{URL: srv.URL, AnonKey: srv.AnonKey, ServiceRoleKey: srv.ServiceRoleKey})
	if err != nil {
		t.Fatal(err)
	}
	return upstream{store: store, postgrest: srv}
}

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *localdb.Database) vibepass.Store { return newUpstream(t, db).store })
}

// TestSendsOnlyKnownFunctionsWithTheRightKeys checks what reached PostgREST: only the
// four rpc URLs, the user's own token with the anon key for user calls, and the
// service-role key (never a user token) for the model read.
func TestSendsOnlyKnownFunctionsWithTheRightKeys(t *testing.T) {
	db := localdbtest.ForTest(t)
	u := newUpstream(t, db)
	ctx := context.Background()
	c := storetest.Caller(t, storetest.AddUsers(t, db.SuperuserURL, 1)[0])
	if _, err := u.store.Checkin(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := u.store.SessionStatus(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := u.store.ActiveUsers(ctx, func(vibepass.ActiveUser) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := u.store.Checkout(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := u.store.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range u.postgrest.Requests() {
		paths = append(paths, r.Path)
		if r.Method != http.MethodPost {
			t.Errorf("%s %s, want POST", r.Method, r.Path)
		}
		bearer, apikey := r.Header.Get("Authorization"), r.Header.Get("apikey")
		switch r.Path {
		case "/rest/v1/rpc/active_users":
			if bearer != "Bearer "+u.postgrest.ServiceRoleKey || apikey != u.postgrest.ServiceRoleKey {
				t.Errorf("model read sent Authorization %.20q apikey %.20q, want the service-role key in both", bearer, apikey)
			}
		default:
			if apikey != u.postgrest.AnonKey {
				t.Errorf("%s sent apikey %.20q, want the anon key", r.Path, apikey)
			}
			if bearer != "Bearer "+c.Token && !(r.Path == "/rest/v1/rpc/session_status" && bearer == "Bearer "+u.postgrest.AnonKey) {
				t.Errorf("%s sent Authorization %.20q, want the user's token", r.Path, bearer)
			}
		}
	}
	want := []string{"/rest/v1/rpc/checkin", "/rest/v1/rpc/session_status", "/rest/v1/rpc/active_users", "/rest/v1/rpc/checkout", "/rest/v1/rpc/session_status"}
	if !slices.Equal(paths, want) {
		t.Fatalf("requests = %q, want %q", paths, want)
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
		row := `{"user_id":"00000000-0000-4000-8000-000000000001","display_name":"MusicFan","checked_in_at":"2025-11-09T14:00:00.123456+00:00","expires_at":"2025-11-09T15:00:00.123456+00:00","preferences":[0.5,0.8,0.2,1,0]}`
		_, _ = w.Write([]byte("[" + row))
		w.(http.Flusher).Flush()
		select {
		case <-firstSeen:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte("," + row + "]"))
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
	ids := storetest.AddUsers(t, db.SuperuserURL, 3)
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

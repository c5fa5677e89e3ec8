package resttest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/rest/apikey"
	"github.com/vibepass/vibepass/proxy/rest/resttest"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func TestMain(m *testing.M) { localdbtest.Main(m) }

// testFunctions are extra public functions that show what the stand-in does per request.
const testFunctions = `
create function public.echo_request() returns json language sql as $$
  select json_build_object('role', current_user, 'sub', auth.uid(),
    'method', current_setting('request.method', true),
    'apikey', current_setting('request.headers', true)::json ->> 'apikey')
$$;
create function public.add(a integer, b integer default 2) returns integer language sql as $$ select a + b $$;
create function public.fail(kind text) returns void language plpgsql as $$
begin
  if kind = 'raise' then raise exception 'bad input'; end if;
  raise unique_violation using message = 'already there';
end $$;
create function public.numbers(n integer) returns table (i integer) language sql as $$ select generate_series(1, n) $$;
create function public.slow() returns void language sql as $$ select pg_sleep(0.5) $$; -- outlasts the 100 ms timeout whatever the load
grant execute on function public.echo_request(), public.add(integer, integer), public.fail(text), public.numbers(integer)
  to anon, authenticated;
grant execute on function public.echo_request(), public.slow() to authenticated, service_role;
`

type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) code(t *testing.T) string {
	t.Helper()
	var e struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal([]byte(a.body), &e); err != nil {
		t.Fatalf("error body %q: %v", a.body, err)
	}
	return e.Code
}

// TestPostgRESTBehaviour checks the stand-in against what PostgREST does, one behaviour a
// subtest, in order on one stand-in (the last looks at what the first sent).
func TestPostgRESTBehaviour(t *testing.T) {
	e := startStandIn(t)
	t.Run("RoleClaimsMethodAndHeadersPerRequest", func(t *testing.T) { testRoleClaimsMethodAndHeadersPerRequest(t, e) })
	t.Run("NamedArguments", func(t *testing.T) { testNamedArguments(t, e) })
	t.Run("FunctionResults", func(t *testing.T) { testFunctionResults(t, e) })
	t.Run("ErrorsAsPostgREST", func(t *testing.T) { testErrorsAsPostgREST(t, e) })
	t.Run("GatewayAndJWT", func(t *testing.T) { testGatewayAndJWT(t, e) })
	t.Run("CurrentKeys", func(t *testing.T) { testCurrentKeys(t, e) })
	t.Run("MaxRowsAndContentRange", func(t *testing.T) { testMaxRowsAndContentRange(t, e) })
	t.Run("NullArgumentsAndRoleSettings", func(t *testing.T) { testNullArgumentsAndRoleSettings(t, e) })
	t.Run("CORS", func(t *testing.T) { testCORS(t, e) })
	t.Run("RequestsAreRecordedAsCopies", func(t *testing.T) { testRequestsAreRecordedAsCopies(t, e) })
}

// standIn is a stand-in under test over a database with testFunctions, and the headers
// of the callers a test sends as.
type standIn struct {
	db                          *localdb.Database
	super                       *pgxpool.Pool
	srv                         *resttest.Server
	user                        vibepass.Caller
	asUser, anonOnly, asService map[string]string
}

// startStandIn starts a stand-in over a fresh database with testFunctions and one user,
// stopped when the test ends.
func startStandIn(t *testing.T) *standIn {
	t.Helper()
	db := localdbtest.ForTest(t)
	super := storetest.OpenPool(t, db.PostgresURL)
	if _, err := super.Exec(context.Background(), testFunctions); err != nil {
		t.Fatal(err)
	}
	srv, err := resttest.Start(db.AuthenticatorURL, []byte(devtoken.Secret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	user := storetest.Caller(t, storetest.AddUsers(t, db.PostgresURL, 1)[0])
	return &standIn{db: db, super: super, srv: srv, user: user,
		asUser:    map[string]string{"apikey": srv.AnonKey, "Authorization": "Bearer " + user.Token},
		anonOnly:  map[string]string{"apikey": srv.AnonKey},
		asService: map[string]string{"apikey": srv.ServiceRoleKey, "Authorization": "Bearer " + srv.ServiceRoleKey},
	}
}

// send sends a request to the stand-in with header and returns its answer.
func (e *standIn) send(t *testing.T, method, path, body string, header map[string]string) answer {
	t.Helper()
	return sendTo(t, e.srv.URL, method, path, body, header)
}

// sendTo sends a request to the stand-in at baseURL with header and returns its answer.
func sendTo(t *testing.T, baseURL, method, path, body string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, baseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// testRoleClaimsMethodAndHeadersPerRequest: the role, claims, method and headers PostgREST sets per request reach the function.
func testRoleClaimsMethodAndHeadersPerRequest(t *testing.T, e *standIn) {
	a := e.send(t, "POST", "/rest/v1/rpc/echo_request", "{}", e.asUser)
	want := `{"role" : "authenticated", "sub" : "` + e.user.UserID + `", "method" : "POST", "apikey" : "` + e.srv.AnonKey + `"}`
	if a.status != 200 || a.body != want {
		t.Fatalf("got %d %s, want %s", a.status, a.body, want)
	}
	if a := e.send(t, "GET", "/rest/v1/rpc/echo_request", "", e.anonOnly); a.status != 200 || !strings.Contains(a.body, `"role" : "anon"`) || !strings.Contains(a.body, `"method" : "GET"`) {
		t.Fatalf("apikey only: %d %s, want role anon", a.status, a.body)
	}
}

// testNamedArguments: arguments by name, from a JSON body or the query string, defaults filled in; unknown ones and bad JSON refused as PostgREST refuses them.
func testNamedArguments(t *testing.T, e *standIn) {
	if a := e.send(t, "POST", "/rest/v1/rpc/add", `{"a": 1}`, e.asUser); a.body != "3" {
		t.Fatalf("add(a=1) = %d %s, want 3 (b's default)", a.status, a.body)
	}
	if a := e.send(t, "GET", "/rest/v1/rpc/add?a=1&b=5", "", e.asUser); a.body != "6" {
		t.Fatalf("GET add(1,5) = %d %s", a.status, a.body)
	}
	if a := e.send(t, "POST", "/rest/v1/rpc/add", `{"c": 1}`, e.asUser); a.status != 404 || a.code(t) != "PGRST202" {
		t.Fatalf("unknown argument: %d %s", a.status, a.body)
	}
	if a := e.send(t, "POST", "/rest/v1/rpc/add", `{"a":`, e.asUser); a.status != 400 || a.code(t) != "PGRST102" {
		t.Fatalf("bad JSON: %d %s", a.status, a.body)
	}
}

// testFunctionResults: a function's result as PostgREST answers it: JSON null, an object, a set with its Content-Range.
func testFunctionResults(t *testing.T, e *standIn) {
	if a := e.send(t, "POST", "/rest/v1/rpc/session_status", "{}", e.asUser); a.status != 200 || a.body != "null" {
		t.Fatalf("no pass: %d %q, want JSON null", a.status, a.body)
	}
	if a := e.send(t, "POST", "/rest/v1/rpc/checkin", "", e.asUser); a.status != 200 || !strings.HasPrefix(a.body, `{"session_id"`) {
		t.Fatalf("checkin with an empty body: %d %s", a.status, a.body)
	}
	a := e.send(t, "POST", "/rest/v1/rpc/active_users", "{}", e.asService)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(a.body), &rows); err != nil || a.status != 200 || len(rows) != 1 || rows[0]["user_id"] != e.user.UserID {
		t.Fatalf("active_users: %d %s", a.status, a.body)
	}
	if cr := a.header.Get("Content-Range"); cr != "0-0/*" {
		t.Fatalf("Content-Range = %q", cr)
	}
}

// testErrorsAsPostgREST: SQLSTATEs and PostgREST's own errors come with PostgREST's statuses and codes.
func testErrorsAsPostgREST(t *testing.T, e *standIn) {
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		code                     string
	}{
		{"user reads the model list", "POST", "/rest/v1/rpc/active_users", "{}", e.asUser, 403, "42501"},
		{"anon checks in", "POST", "/rest/v1/rpc/checkin", "{}", e.anonOnly, 401, "42501"},
		{"GET of a writing function", "GET", "/rest/v1/rpc/checkin", "", e.asUser, 405, "25006"},
		{"raise exception", "POST", "/rest/v1/rpc/fail", `{"kind":"raise"}`, e.asUser, 400, "P0001"},
		{"unique violation", "POST", "/rest/v1/rpc/fail", `{"kind":"unique"}`, e.asUser, 409, "23505"},
		{"unknown function", "POST", "/rest/v1/rpc/nope", "{}", e.asUser, 404, "PGRST202"},
		{"private schema function", "POST", "/rest/v1/rpc/caller", "{}", e.asUser, 404, "PGRST202"},
		{"table path", "GET", "/rest/v1/sessions", "", e.asUser, 404, "PGRST125"},
		{"PATCH", "PATCH", "/rest/v1/rpc/checkin", "{}", e.asUser, 405, "PGRST101"},
	}
	for _, c := range cases {
		if a := e.send(t, c.method, c.path, c.body, c.header); a.status != c.status || a.code(t) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, a.status, a.body, c.status, c.code)
		}
	}
}

// testGatewayAndJWT: the gateway wants an API key; bad, expired and forged tokens get PostgREST's 401s.
func testGatewayAndJWT(t *testing.T, e *standIn) {
	if a := e.send(t, "POST", "/rest/v1/rpc/checkin", "{}", map[string]string{"Authorization": "Bearer " + e.user.Token}); a.status != 401 || !strings.Contains(a.body, "No API key") {
		t.Fatalf("no apikey: %d %s", a.status, a.body)
	}
	if a := e.send(t, "POST", "/rest/v1/rpc/checkin", "{}", map[string]string{"apikey": e.user.Token}); a.status != 401 {
		t.Fatalf("a user token as apikey: %d %s", a.status, a.body)
	}
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": e.user.UserID, "role": "authenticated", "exp": time.Now().Add(-time.Hour).Unix()}).SignedString([]byte(devtoken.Secret))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": e.user.UserID, "role": "service_role"}).SignedString([]byte("another secret of at least 32 characters"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct{ token, code string }{
		"expired": {expired, "PGRST303"}, "forged": {forged, "PGRST301"}, "garbage": {"abc", "PGRST301"},
	} {
		a := e.send(t, "POST", "/rest/v1/rpc/checkin", "{}", map[string]string{"apikey": e.srv.AnonKey, "Authorization": "Bearer " + want.token})
		if a.status != 401 || a.code(t) != want.code || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s token: %d %s %v, want 401 %s", name, a.status, a.body, a.header, want.code)
		}
	}
	if a := e.send(t, "POST", "/auth/v1/admin/users", "{}", e.asService); a.status != 404 {
		t.Fatalf("outside /rest/v1: %d", a.status)
	}
}

// testCurrentKeys: the publishable and secret keys act as Supabase's gateway makes them act.
func testCurrentKeys(t *testing.T, e *standIn) {
	publishable, secret := e.srv.PublishableKey, e.srv.SecretKey
	if !strings.HasPrefix(publishable, apikey.PublishablePrefix) || !strings.HasPrefix(secret, apikey.SecretPrefix) {
		t.Fatalf("keys %.16q %.12q are not of Supabase's current form", publishable, secret)
	}
	role := func(a answer) string {
		var e struct{ Role string }
		_ = json.Unmarshal([]byte(a.body), &e)
		return e.Role
	}
	cases := []struct {
		name   string
		header map[string]string
		status int
		role   string
	}{
		{"publishable with a user JWT", map[string]string{"apikey": publishable, "Authorization": "Bearer " + e.user.Token}, 200, "authenticated"},
		{"publishable alone", map[string]string{"apikey": publishable}, 200, "anon"},
		{"publishable in both, as supabase-js sends it", map[string]string{"apikey": publishable, "Authorization": "Bearer " + publishable}, 200, "anon"},
		{"secret in apikey", map[string]string{"apikey": secret}, 200, "service_role"},
		{"secret in both", map[string]string{"apikey": secret, "Authorization": "Bearer " + secret}, 200, "service_role"},
		{"secret where a JWT is expected", map[string]string{"apikey": publishable, "Authorization": "Bearer " + secret}, 401, ""},
		{"secret as a bearer token alone", map[string]string{"Authorization": "Bearer " + secret}, 401, ""},
		{"secret from a browser", map[string]string{"apikey": secret, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"}, 401, ""},
		{"a made-up secret key", map[string]string{"apikey": apikey.SecretPrefix + "guessed"}, 401, ""},
	}
	for _, c := range cases {
		if a := e.send(t, "POST", "/rest/v1/rpc/echo_request", "{}", c.header); a.status != c.status || role(a) != c.role {
			t.Errorf("%s: %d %s, want %d role %q", c.name, a.status, a.body, c.status, c.role)
		}
	}
	if a := e.send(t, "POST", "/rest/v1/rpc/echo_request", "{}", map[string]string{"apikey": publishable, "Authorization": "Bearer " + secret}); a.code(t) != "PGRST301" {
		t.Errorf("secret as bearer: %s, want PGRST301 (not a JWT)", a.body)
	}
}

// testMaxRowsAndContentRange: max_rows cuts set results, and Prefer: count=exact reports the total, as PostgREST does.
func testMaxRowsAndContentRange(t *testing.T, e *standIn) {
	capped, err := resttest.StartWith(e.db.AuthenticatorURL, []byte(devtoken.Secret), resttest.Options{MaxRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer capped.Close()
	call := func(n int, prefer string) answer {
		t.Helper()
		header := map[string]string{"apikey": capped.AnonKey}
		if prefer != "" {
			header["Prefer"] = prefer
		}
		return sendTo(t, capped.URL, "POST", "/rest/v1/rpc/numbers", `{"n": `+strconv.Itoa(n)+`}`, header)
	}
	cases := []struct {
		n            int
		prefer       string
		status       int
		contentRange string
		body         string
	}{
		{5, "", 200, "0-2/*", "[1,2,3]"},
		{5, "count=exact", 206, "0-2/5", "[1,2,3]"},
		{3, "count=exact", 200, "0-2/3", "[1,2,3]"},
		{2, "return=minimal, count=exact", 200, "0-1/2", "[1,2]"},
		{0, "", 200, "*/*", "[]"},
		{0, "count=exact", 200, "*/0", "[]"},
	}
	for _, c := range cases {
		a := call(c.n, c.prefer)
		var rows []struct{ I int }
		_ = json.Unmarshal([]byte(a.body), &rows)
		got := []int{}
		for _, r := range rows {
			got = append(got, r.I)
		}
		gotJSON, _ := json.Marshal(got)
		if a.status != c.status || a.header.Get("Content-Range") != c.contentRange || string(gotJSON) != c.body {
			t.Errorf("%d rows, Prefer %q: %d %q %s; want %d %q %s", c.n, c.prefer, a.status, a.header.Get("Content-Range"), a.body, c.status, c.contentRange, c.body)
		}
	}
	if a := call(5, ""); a.header.Get("Content-Range") == "" {
		t.Fatal("no Content-Range")
	}
}

// testNullArgumentsAndRoleSettings: a JSON null is SQL NULL, and a role's settings apply per request.
func testNullArgumentsAndRoleSettings(t *testing.T, e *standIn) {
	// A role setting PostgREST applies per request, as Supabase's statement_timeout is
	// (this database only: the cluster is shared).
	roleTimeout := func(value string) {
		t.Helper()
		if _, err := e.super.Exec(context.Background(), fmt.Sprintf(`alter role authenticated in database %s set statement_timeout = %s`,
			pgx.Identifier{e.db.Name}.Sanitize(), value)); err != nil {
			t.Fatal(err)
		}
	}
	roleTimeout("'100ms'")
	defer roleTimeout("default")
	if a := e.send(t, "POST", "/rest/v1/rpc/add", `{"a": null}`, e.asUser); a.status != 200 || a.body != "null" {
		t.Fatalf("add(a=null) = %d %s, want SQL NULL's null", a.status, a.body)
	}
	if a := e.send(t, "POST", "/rest/v1/rpc/slow", "{}", e.asUser); a.status != 500 || a.code(t) != "57014" {
		t.Fatalf("slow() under authenticated's statement_timeout: %d %s, want 500 57014", a.status, a.body)
	}
	if a := e.send(t, "POST", "/rest/v1/rpc/slow", "{}", e.asService); a.status != 200 {
		t.Fatalf("slow() as service_role, which has no timeout: %d %s", a.status, a.body)
	}
}

// testCORS: preflights and calls get Supabase's CORS headers.
func testCORS(t *testing.T, e *standIn) {
	a := e.send(t, "OPTIONS", "/rest/v1/rpc/checkin", "", map[string]string{
		"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "apikey, content-type, x-client-info",
	})
	h := a.header
	if a.status != 200 || h.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "apikey, content-type, x-client-info") ||
		h.Get("Access-Control-Max-Age") != "86400" {
		t.Fatalf("preflight: %d %v", a.status, h)
	}
	withOrigin := map[string]string{"Origin": "http://localhost:5173"}
	for k, v := range e.asUser {
		withOrigin[k] = v
	}
	if a := e.send(t, "POST", "/rest/v1/rpc/session_status", "{}", withOrigin); a.header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
		!strings.Contains(a.header.Get("Access-Control-Expose-Headers"), "Content-Range") {
		t.Fatalf("CORS on a call: %v", a.header)
	}
}

// testRequestsAreRecordedAsCopies: Requests hands out copies of what was recorded.
func testRequestsAreRecordedAsCopies(t *testing.T, e *standIn) {
	got := e.srv.Requests()
	if len(got) == 0 || got[0].Path != "/rest/v1/rpc/echo_request" || got[0].Header.Get("Authorization") != "Bearer "+e.user.Token {
		t.Fatalf("first request = %+v", got[0])
	}
	got[0].Header.Set("Authorization", "changed")
	if again := e.srv.Requests(); again[0].Header.Get("Authorization") != "Bearer "+e.user.Token {
		t.Fatal("Requests returned the recorded headers themselves, not copies")
	}
}

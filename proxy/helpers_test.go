package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/auth"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/openapitest"
	"github.com/vibepass/vibepass/proxy/pgstore"
	"github.com/vibepass/vibepass/proxy/rest"
	"github.com/vibepass/vibepass/proxy/rest/resttest"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func TestMain(m *testing.M) { localdbtest.Main(m) }

// Model keys the test servers accept: two at once, as during a rotation.
const (
	modelKey    = "model-key-new-0123456789abcdef"
	oldModelKey = "model-key-old-0123456789abcdef"
	appOrigin   = "https://app.example.com"
)

// Demo users from supabase/seed.sql.
const (
	musicFan  = "00000000-0000-4000-8000-000000000001"
	beatLover = "00000000-0000-4000-8000-000000000002"
	chillWave = "00000000-0000-4000-8000-000000000003"
)

// The two upstreams every endpoint test runs on.
const (
	upstreamPostgres  = "postgres"  // pgstore, straight to the database
	upstreamPostgREST = "postgrest" // rest, through the PostgREST stand-in
)

var upstreamKinds = []string{upstreamPostgres, upstreamPostgREST}

// How the test project's Supabase Auth signs users' tokens, for the tests that run
// with each: the legacy HS256 secret, or ES256 with a key named by its kid and
// published in a JWKS (new projects' default, and the CLI's local stack's).
const (
	signedHS256 = "HS256"
	signedES256 = "ES256"
)

// contractRun is one pass of an end-to-end test: an upstream, and how the project
// signs users' tokens.
type contractRun struct{ upstream, signing string }

// name names the pass's subtest, e.g. postgrest/ES256.
func (r contractRun) name() string { return r.upstream + "/" + r.signing }

// contractRuns are every upstream with every signing.
func contractRuns() []contractRun {
	var runs []contractRun
	for _, upstream := range upstreamKinds {
		for _, signing := range []string{signedHS256, signedES256} {
			runs = append(runs, contractRun{upstream, signing})
		}
	}
	return runs
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is a running proxy over a real database.
type testServer struct {
	URL    string
	Server *proxy.Server
	DB     *localdb.Database
	Rest   *resttest.Server // the PostgREST stand-in; nil for the postgres upstream
	// Key signs users' ES256 tokens (startSigned with signedES256); nil when the server
	// takes HS256 tokens from the dev secret only.
	Key  *devtoken.ES256Key
	Logs *syncBuffer
	// Stop starts the graceful shutdown (as SIGTERM does); Done closes when Run has
	// returned, with RunErr.
	Stop   func()
	Done   chan struct{}
	RunErr error
}

// startServer runs a proxy with the given upstream kind over db (a fresh seeded
// database when nil) on a real listener, until the test ends. withDeps may change
// what the server is given, e.g. its clock.
func startServer(t testing.TB, kind string, db *localdb.Database, mutate func(*proxy.Config), withDeps ...func(*proxy.Deps)) *testServer {
	t.Helper()
	if db == nil {
		db = localdbtest.ForTest(t)
	}
	return startServerOn(t, kind, db, db.AuthenticatorURL, mutate, withDeps...)
}

// startServerOn is startServer with the upstream logging in to db at dbURL, another
// way in than db.AuthenticatorURL (the Unix socket, say).
func startServerOn(t testing.TB, kind string, db *localdb.Database, dbURL string, mutate func(*proxy.Config), withDeps ...func(*proxy.Deps)) *testServer {
	t.Helper()
	return startServerSigned(t, kind, db, dbURL, nil, mutate, withDeps...)
}

// startSigned starts a server over a fresh seeded database that takes users' tokens
// signed as signing says. With signedES256 a new key's JWKS is served on loopback as
// Supabase Auth serves it: the proxy's only key source (serve with auth.jwks_url alone,
// as for a new project), and given to the PostgREST stand-in next to the secret, as
// Supabase gives PostgREST the project's keys. ts.token mints the matching tokens.
func startSigned(t testing.TB, kind, signing string) *testServer {
	t.Helper()
	var key *devtoken.ES256Key
	switch signing {
	case signedHS256:
	case signedES256:
		var err error
		if key, err = devtoken.NewES256Key(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown signing %q", signing)
	}
	db := localdbtest.ForTest(t)
	return startServerSigned(t, kind, db, db.AuthenticatorURL, key, nil)
}

// startServerSigned is startServerOn taking ES256 tokens of key, verified through its
// JWKS on loopback, instead of HS256 ones when key is not nil.
func startServerSigned(t testing.TB, kind string, db *localdb.Database, dbURL string, key *devtoken.ES256Key, mutate func(*proxy.Config), withDeps ...func(*proxy.Deps)) *testServer {
	t.Helper()
	ts := &testServer{DB: db, Key: key, Logs: &syncBuffer{}}
	cfg := proxy.DefaultConfig()
	cfg.CORS.Origins = []string{appOrigin}
	if mutate != nil {
		mutate(&cfg)
	}
	var deps proxy.Deps
	switch kind {
	case upstreamPostgres:
		useDirectStore(&deps, storetest.OpenStore(t, dbURL))
	case upstreamPostgREST:
		var restOpts resttest.Options
		if key != nil {
			restOpts.JWKS = key.JWKS()
		}
		rs, err := resttest.StartWith(dbURL, []byte(devtoken.Secret), restOpts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rs.Close)
		ts.Rest = rs
		store, err := rest.New(rest.Options{URL: rs.URL, AnonKey: rs.AnonKey, ServiceRoleKey: rs.ServiceRoleKey, Timeout: cfg.Timeouts.Upstream})
		if err != nil {
			t.Fatal(err)
		}
		deps = proxy.Deps{Passes: store, Presence: store, Readiness: store}
	default:
		t.Fatalf("unknown upstream %q", kind)
	}
	var (
		verifier *auth.Verifier
		keys     *auth.APIKeys
	)
	if key != nil {
		verifier, keys = jwksAuth(t, key, modelKey, oldModelKey)
	} else {
		verifier, keys = devAuth(t, modelKey, oldModelKey)
	}
	logger := slog.New(slog.NewJSONHandler(ts.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	deps.Verifier, deps.APIKeys, deps.Logger = verifier, keys, logger
	for _, f := range withDeps {
		f(&deps)
	}
	srv := proxy.New(cfg, deps)
	ts.Server = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ts.Stop, ts.Done = stop, make(chan struct{})
	go func() {
		defer close(ts.Done)
		ts.RunErr = srv.Run(ctx, ln, nil)
	}()
	t.Cleanup(func() {
		stop()
		<-ts.Done
		if ts.RunErr != nil {
			t.Errorf("Run: %v", ts.RunErr)
		}
	})
	ts.URL = "http://" + ln.Addr().String()
	return ts
}

// useDirectStore makes store, a direct upstream, d's upstream, with all it can do, as
// serve does.
func useDirectStore(d *proxy.Deps, store *pgstore.Store) {
	d.Passes, d.Presence, d.Readiness, d.Views, d.Pools, d.LivePasses = store, store, store, store, store, store
}

// token mints an access token for user sub as the server's project signs them: ES256
// with ts.Key when it has one, else HS256 with the dev secret (as mint does).
func (ts *testServer) token(t testing.TB, sub string) string {
	t.Helper()
	if ts.Key == nil {
		return mint(t, sub)
	}
	tok, err := ts.Key.Mint(devtoken.Request{Sub: sub, Email: "u@example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// manualClock is a clock a test sets and moves by hand, so rate-limit windows
// end when the test says and not while it runs.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

// Now is the clock's time; it is a vibepass.Clock.
func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withClock gives the server clock (for startServer).
func withClock(clock *manualClock) func(*proxy.Deps) {
	return func(d *proxy.Deps) { d.Clock = clock.Now }
}

// mint returns an access token for user sub, signed with the dev secret.
func mint(t testing.TB, sub string) string {
	t.Helper()
	tok, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: sub, Email: "u@example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// devAuth returns what test servers check credentials with: tokens signed with the
// dev secret and the given model keys, released when the test ends.
func devAuth(t testing.TB, modelKeys ...string) (*auth.Verifier, *auth.APIKeys) {
	t.Helper()
	verifier, err := auth.NewVerifier(context.Background(), auth.Options{HS256Secret: []byte(devtoken.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(verifier.Close)
	keys, err := auth.NewAPIKeys(modelKeys)
	if err != nil {
		t.Fatal(err)
	}
	return verifier, keys
}

// jwksAuth is devAuth for tokens signed with key alone: it serves key's JWKS on
// loopback until the test ends, and the verifier fetches it as serve does auth.jwks_url.
func jwksAuth(t testing.TB, key *devtoken.ES256Key, modelKeys ...string) (*auth.Verifier, *auth.APIKeys) {
	t.Helper()
	jwks := httptest.NewServer(key)
	t.Cleanup(jwks.Close)
	verifier, err := auth.NewVerifier(context.Background(), auth.Options{JWKSURL: jwks.URL + devtoken.JWKSPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(verifier.Close)
	if err := verifier.Ready(); err != nil {
		t.Fatalf("the JWKS on loopback did not load: %v", err)
	}
	keys, err := auth.NewAPIKeys(modelKeys)
	if err != nil {
		t.Fatal(err)
	}
	return verifier, keys
}

// client does not ask for gzip by itself, so tests see exactly what they asked for.
var client = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 30 * time.Second}

// response is an answer with its JSON body decoded.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// do sends a request; header values are "Name: value" strings ("" adds none).
func do(t testing.TB, method, url string, body io.Reader, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		if h == "" {
			continue
		}
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return readResponse(t, resp)
}

// readResponse reads and closes resp, decoding a body that is not compressed. Every
// response is checked against the OpenAPI document, so it cannot drift from the code.
func readResponse(t testing.TB, resp *http.Response) response {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", resp.Request.Method, resp.Request.URL, err)
	}
	if err := openapitest.Check(resp.Request, resp.StatusCode, resp.Header, raw); err != nil {
		t.Error(err)
	}
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && resp.Header.Get("Content-Encoding") == "" {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %v: %s", resp.Request.Method, resp.Request.URL, err, raw)
		}
	}
	return r
}

// contains reports whether s holds every one of subs.
func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// bearer is the Authorization header for token.
func bearer(token string) string { return "Authorization: Bearer " + token }

// apiKey is the X-API-Key header for key.
func apiKey(key string) string { return "X-API-Key: " + key }

// wantError checks the spec's error shape (plus its code) and status; the message
// must contain want.
func wantError(t testing.TB, r response, status int, want string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d, want %d (body %s)", r.Status, status, r.Raw)
	}
	msg, _ := r.Body["error"].(string)
	code, _ := r.Body["code"].(string)
	if len(r.Body) != 3 || r.Body["success"] != false || msg == "" || code == "" {
		t.Errorf("body = %s, want exactly {\"success\": false, \"error\": \"...\", \"code\": \"...\"}", r.Raw)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error = %q, want it to contain %q", msg, want)
	}
}

// keys returns the sorted keys of a JSON object.
func keys(v any) []string {
	m, _ := v.(map[string]any)
	return slices.Sorted(maps.Keys(m))
}

// superuser connects to the database as postgres until the test ends.
func superuser(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

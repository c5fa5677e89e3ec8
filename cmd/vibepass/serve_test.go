package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vibepass/vibepass/proxy/auth"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/openapitest"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

const testModelKey = "cmd-test-model-key-0123456789"

// run runs the command line and returns its exit code, stdout and stderr.
func run(ctx context.Context, args ...string) (int, string, string) {
	var stdout, stderr strings.Builder
	code := runMain(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// call sends a request with one optional "Name: value" header, checks the answer
// against the OpenAPI document and decodes its JSON.
func call(t *testing.T, method, url, header string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if name, value, ok := strings.Cut(header, ": "); ok {
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if err := openapitest.Check(req, resp.StatusCode, resp.Header, raw); err != nil {
		t.Error(err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode, body
}

// metricsText fetches a Prometheus text exposition.
func metricsText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, %v", url, resp.StatusCode, err)
	}
	return string(raw)
}

func TestServeRefusesABadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte("[upstream]\nkind = \"mysql\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(context.Background(), "serve", "--config", path)
	if code == 0 || !strings.Contains(stderr, `upstream.kind: must be "postgres" or "postgrest"`) {
		t.Errorf("exit %d, stderr %q: want non-zero naming upstream.kind", code, stderr)
	}
	code, _, stderr = run(context.Background(), "serve", "--config", filepath.Join(t.TempDir(), "missing.toml"))
	if code == 0 || !strings.Contains(stderr, "missing.toml") {
		t.Errorf("exit %d, stderr %q: want non-zero naming the missing file", code, stderr)
	}
}

// TestServeRefusesThePublicJWTSecret: with the Supabase CLI's published secret
// (dev's) anyone could sign a token for any user, so serve does not start, and says
// which key and what to do without printing the secret.
func TestServeRefusesThePublicJWTSecret(t *testing.T) {
	t.Setenv("CMD_TEST_DB_URL", "postgres://authenticator@127.0.0.1:1/postgres")
	t.Setenv("CMD_TEST_JWT_SECRET", devtoken.Secret)
	t.Setenv("MODEL_API_KEY", testModelKey)
	path := filepath.Join(t.TempDir(), "config.toml")
	config := "listen = \"127.0.0.1:0\"\n[upstream]\nkind = \"postgres\"\ndb_url = \"env(CMD_TEST_DB_URL)\"\n" +
		"[auth]\njwt_secret = \"env(CMD_TEST_JWT_SECRET)\"\n[metrics]\nlisten = \"\"\n"
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// The refusal comes before anything is dialled; the deadline only stops a serve that started.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, _, stderr := run(ctx, "serve", "--config", path)
	if code != 1 || !strings.Contains(stderr, "auth.jwt_secret: is a published secret") || !strings.Contains(stderr, "openssl rand") {
		t.Errorf("exit %d, stderr %q: want 1, naming auth.jwt_secret and how to make one", code, stderr)
	}
	if strings.Contains(stderr, devtoken.Secret) {
		t.Errorf("stderr %q prints the secret", stderr)
	}
}

// TestServeCheckConfig: `serve --check-config` validates the configuration the
// environment alone gives (no config.toml where it runs) and exits 0, or 2 naming the
// key and its variable, and never listens: PORT names a port this test holds.
func TestServeCheckConfig(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	t.Chdir(t.TempDir()) // no config.toml here: serve reads the environment alone
	t.Setenv("PORT", fmt.Sprint(held.Addr().(*net.TCPAddr).Port))
	t.Setenv("VIBEPASS_UPSTREAM_KIND", "postgres")
	t.Setenv("VIBEPASS_UPSTREAM_DB_URL", "postgres://authenticator:db-password-5e8a1c@127.0.0.1:1/postgres")
	t.Setenv("VIBEPASS_AUTH_JWT_SECRET", devtoken.NewSecret())
	t.Setenv("MODEL_API_KEY", testModelKey)
	// A serve that went on to listen would fail on the held port or run until this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, stdout, stderr := run(ctx, "serve", "--check-config")
	if want := fmt.Sprintf("config ok: no file, listen 0.0.0.0:%s, upstream postgres\n", os.Getenv("PORT")); code != 0 || stdout != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, want)
	}
	t.Setenv("VIBEPASS_LIMITS_MODEL_STREAMS", "0")
	code, _, stderr = run(ctx, "serve", "--check-config")
	if want := "VIBEPASS_LIMITS_MODEL_STREAMS: limits.model_streams: must be between 1 and 100"; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
	if strings.Contains(stderr, "db-password") {
		t.Errorf("stderr %q prints the database password", stderr)
	}
	t.Setenv("VIBEPASS_LIMITS_MODEL_STREAMS", "")
	code, _, stderr = run(ctx, "serve", "--check-config", "--config", "absent.toml")
	if code != 2 || !strings.Contains(stderr, "absent.toml") {
		t.Errorf("a config file that was asked for and is missing: exit %d, stderr %q; want 2 naming it", code, stderr)
	}
}

// serveLog is serve's stderr as a test reads it: every line kept, and the address of
// each record that says where serve listens ("listening" for the API, "metrics
// listening"), which is the bound one: a test configures port 0 and reads the port here,
// so no other process can take it between a test choosing it and serve binding it.
type serveLog struct {
	mu      sync.Mutex
	text    bytes.Buffer
	scanned int               // bytes of text already read as lines
	addrs   map[string]string // the address of each record, by msg
	wrote   chan struct{}     // signalled after each write
}

func newServeLog() *serveLog {
	return &serveLog{addrs: map[string]string{}, wrote: make(chan struct{}, 1)}
}

// Write keeps p and reads the records of the lines it completes.
func (l *serveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text.Write(p)
	for {
		rest := l.text.Bytes()[l.scanned:]
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			break
		}
		var record struct{ Msg, Addr string }
		if json.Unmarshal(rest[:end], &record) == nil && record.Addr != "" {
			l.addrs[record.Msg] = record.Addr
		}
		l.scanned += end + 1
	}
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

// String returns everything written so far.
func (l *serveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// addr waits for the record msg and returns its address as a client dials it (a wildcard
// host, as PORT binds, becomes 127.0.0.1). It fails t if serve exits first or writes no
// such record within a minute (a loaded machine's margin).
func (l *serveLog) addr(t *testing.T, msg string, exited <-chan struct{}) string {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		l.mu.Lock()
		addr, ok := l.addrs[msg]
		l.mu.Unlock()
		if ok {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("serve logged %q with address %q: %v", msg, addr, err)
			}
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				host = "127.0.0.1"
			}
			return net.JoinHostPort(host, port)
		}
		select {
		case <-l.wrote:
		case <-exited:
			t.Fatalf("serve exited before logging %q:\n%s", msg, l)
		case <-deadline:
			t.Fatalf("serve logged no %q within a minute:\n%s", msg, l)
		}
	}
}

// servingMain is `vibepass serve` running in this process.
type servingMain struct {
	log    *serveLog
	exited chan struct{} // closed when serve returns
	code   int           // its exit code, once exited is closed
}

// startServeMain runs serve with the config file at path until ctx ends, logging to a
// serveLog.
func startServeMain(ctx context.Context, path string) *servingMain {
	s := &servingMain{log: newServeLog(), exited: make(chan struct{})}
	go func() {
		s.code = runMain(ctx, []string{"serve", "--config", path}, io.Discard, s.log)
		close(s.exited)
	}()
	return s
}

// TestServeRunsUntilStopped serves a config file with the direct upstream and an
// auth.issuer, refuses a token of another issuer, checks a user in with a token from
// `vibepass token` naming that issuer, finds it counted on the metrics listener (and
// no metrics on the API's address), and stops as on SIGTERM.
func TestServeRunsUntilStopped(t *testing.T) {
	const issuer = "https://abcdefghijklmnopqrst.supabase.co/auth/v1"
	db := localdbtest.ForTest(t)
	t.Setenv("CMD_TEST_DB_URL", db.AuthenticatorURL)
	t.Setenv("CMD_TEST_JWT_SECRET", devtoken.NewSecret()) // serve refuses the public dev secret
	t.Setenv("MODEL_API_KEY", testModelKey)
	path := filepath.Join(t.TempDir(), "config.toml")
	config := fmt.Sprintf("listen = \"127.0.0.1:0\"\n[upstream]\nkind = \"postgres\"\ndb_url = \"env(CMD_TEST_DB_URL)\"\n"+
		"[auth]\njwt_secret = \"env(CMD_TEST_JWT_SECRET)\"\nissuer = %q\n[metrics]\nlisten = \"127.0.0.1:0\"\n", issuer)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	serve := startServeMain(ctx, path)
	base := "http://" + serve.log.addr(t, "listening", serve.exited)
	metricsAddr := serve.log.addr(t, "metrics listening", serve.exited)
	for _, iss := range []string{devtoken.Issuer, ""} { // the local stack's, and none
		code, token, _ := run(context.Background(), "token", "--sub", "00000000-0000-4000-8000-000000000001", "--secret-env", "CMD_TEST_JWT_SECRET", "--issuer", iss)
		if code != 0 {
			t.Fatalf("token exit %d", code)
		}
		if status, body := call(t, "GET", base+"/api/session", "Authorization: Bearer "+strings.TrimSpace(token)); status != 401 || body["error"] != "Invalid token issuer" || body["code"] != "invalid_token" {
			t.Errorf("session with iss %q while auth.issuer is %s = %d %v, want 401 Invalid token issuer", iss, issuer, status, body)
		}
	}
	code, token, _ := run(context.Background(), "token", "--sub", "00000000-0000-4000-8000-000000000001", "--secret-env", "CMD_TEST_JWT_SECRET", "--issuer", issuer)
	if code != 0 {
		t.Fatalf("token exit %d", code)
	}
	if status, body := call(t, "POST", base+"/api/checkin", "Authorization: Bearer "+strings.TrimSpace(token)); status != 200 || body["message"] != "1-hour vibe pass activated" {
		t.Errorf("checkin = %d %v", status, body)
	}
	if status, body := call(t, "GET", base+"/api/model/active-users", "X-API-Key: "+testModelKey); status != 200 || body["count"] != 1.0 {
		t.Errorf("active users = %d %v", status, body)
	}
	if m := metricsText(t, "http://"+metricsAddr+"/metrics"); !strings.Contains(m, `vibepass_http_requests_total{method="POST",route="/api/checkin",status="200"} 1`) {
		t.Errorf("the metrics listener does not count the checkin:\n%s", m)
	}
	if status, body := call(t, "GET", base+"/metrics", ""); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the API address = %d %v, want 404: serve keeps metrics on metrics.listen", status, body)
	}
	stop()
	if <-serve.exited; serve.code != 0 {
		t.Errorf("serve exit %d after the stop, want 0:\n%s", serve.code, serve.log)
	}
}

// TestServeExitsZeroWhenTheGraceRunsOut sends serve a real SIGTERM while a model
// stream to a client that does not read outlives timeouts.shutdown: cutting it is
// the shutdown doing its job, so serve logs it and exits 0.
func TestServeExitsZeroWhenTheGraceRunsOut(t *testing.T) {
	db := localdbtest.ForTest(t)
	// About 7 MB of rows: more than the kernel buffers of a connection hold, so the
	// stream blocks on a client that does not read.
	storetest.AddUsers(t, db.PostgresURL, 40000)
	storetest.CheckInEveryone(t, db.PostgresURL)
	key := rand.Text()
	t.Setenv("CMD_TEST_DB_URL", db.AuthenticatorURL)
	t.Setenv("CMD_TEST_JWT_SECRET", rand.Text()+rand.Text())
	t.Setenv("MODEL_API_KEY", key)
	path := filepath.Join(t.TempDir(), "config.toml")
	// A grace of 1 ms: the stream outlives any grace, so none needs to pass in real time.
	config := "listen = \"127.0.0.1:0\"\n[upstream]\nkind = \"postgres\"\ndb_url = \"env(CMD_TEST_DB_URL)\"\n" +
		"[auth]\njwt_secret = \"env(CMD_TEST_JWT_SECRET)\"\n[metrics]\nlisten = \"\"\n" +
		"[timeouts]\nshutdown = \"1ms\"\nwrite = \"10m\"\n"
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// The log is a serveLog, which the cut stream's goroutine may still write to after serve returns.
	serve := startServeMain(context.Background(), path)
	addr := serve.log.addr(t, "listening", serve.exited)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET /api/model/active-users HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n\r\n", key); err != nil {
		t.Fatal(err)
	}
	// The status line says the stream has begun; nothing more is read.
	if status, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("model stream: %q %v", status, err)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-serve.exited:
		if logs := serve.log.String(); serve.code != 0 || !strings.Contains(logs, "grace period over") {
			t.Errorf("serve exit %d after SIGTERM, want 0 with the cut stream logged; stderr:\n%s", serve.code, logs)
		}
	case <-time.After(time.Minute): // a loaded machine's margin
		t.Fatal("serve did not exit after SIGTERM")
	}
}

func TestTokenVerifies(t *testing.T) {
	const sub = "00000000-0000-4000-8000-000000000002"
	code, out, stderr := run(context.Background(), "token", "--sub", sub, "--email", "beat@example.com", "--ttl", "10m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	v, err := auth.NewVerifier(context.Background(), auth.Options{HS256Secret: []byte(devtoken.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	who, err := v.Verify(context.Background(), strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("the minted token does not verify with the dev secret: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(who.Claims, &claims); err != nil {
		t.Fatal(err)
	}
	exp, iat := claims["exp"].(float64), claims["iat"].(float64)
	if who.UserID != sub || claims["email"] != "beat@example.com" || claims["role"] != "authenticated" ||
		claims["aud"] != "authenticated" || claims["is_anonymous"] != false || exp-iat != 600 || claims["iss"] != devtoken.Issuer {
		t.Errorf("claims = %v", claims)
	}
	// --issuer '' leaves iss out, as Supabase Auth does with no issuer configured.
	if code, out, stderr = run(context.Background(), "token", "--sub", sub, "--issuer", ""); code != 0 {
		t.Fatalf("--issuer '': exit %d: %s", code, stderr)
	}
	if who, err = v.Verify(context.Background(), strings.TrimSpace(out)); err != nil {
		t.Fatalf("a token with no iss does not verify: %v", err)
	}
	if bytes.Contains(who.Claims, []byte(`"iss"`)) {
		t.Errorf("--issuer '': claims = %s, want no iss", who.Claims)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "--sub", "not-a-uuid"}, "--sub must be a UUID"},
		{[]string{"token", "--sub", sub, "--secret-env", "CMD_TEST_UNSET_SECRET"}, "CMD_TEST_UNSET_SECRET is not set"},
		{[]string{"token", "--sub", sub, "--ttl", "-1m"}, "--ttl must be positive"},
	} {
		if code, _, stderr := run(context.Background(), tc.args...); code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := run(context.Background(), args...)
		if code != 0 || !strings.HasPrefix(out, "vibepass ") || !strings.Contains(out, "go1.") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
}

// TestBuiltBinaryNamesItsRevision builds vibepass from the checkout with VCS stamping
// on (Go's default; -buildvcs=true because this machine kind's go env turns it off) and
// checks that --version names the module version and the commit it was built from.
func TestBuiltBinaryNamesItsRevision(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v (the test runs in a git checkout)", err)
	}
	bin := filepath.Join(t.TempDir(), "vibepass")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.Contains(string(out), strings.TrimSpace(string(head))) || strings.Contains(string(out), "(devel)") {
		t.Errorf("vibepass --version = %q (%v), want the module version and revision %s", out, err, head)
	}
}

// TestCommandLineErrorsExit2 checks Go's convention: a mistake in the command line
// exits 2 and says what is wrong, with the command's usage for a bad flag.
func TestCommandLineErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "--no-such-flag"}, "Usage: vibepass token [flags]"},
		{[]string{"token", "--sub", "ada"}, "--sub must be a UUID"},
		{[]string{"serve", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"bench", "--users", "0"}, "--users"},
	} {
		code, _, stderr := run(context.Background(), tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	if code, stdout, _ := run(context.Background(), "serve", "-h"); code != 0 {
		t.Errorf("serve -h: exit %d, want 0 (%q)", code, stdout)
	}
}

// TestDevServesTheAPI runs `vibepass dev` and uses its API as the README tells:
// a token from `vibepass token`, the model key dev printed. Its lines for people are
// plain text and its JSON log is in its file; a restart prints and accepts the same key.
func TestDevServesTheAPI(t *testing.T) {
	dataDir := filepath.Join(localdbtest.ReachableDir(t), "dev")
	t.Setenv("MODEL_API_KEY", "")
	args := []string{"dev", "--data-dir", dataDir, "--db-port", "0", "--addr", "127.0.0.1:0"}
	dev := startDevMain(t, args...)
	base, key := dev.printed["ready"], dev.printed["model key"]
	if !strings.HasPrefix(base, "http://127.0.0.1:") || len(key) < 16 {
		t.Fatalf("dev printed %v, want ready: http://<addr> and a model key", dev.printed)
	}
	if dashboard := dev.printed["dashboard"]; dashboard != base+"/dashboard" {
		t.Errorf("dev printed dashboard %q, want %s/dashboard next to the model key", dashboard, base)
	} else if resp, err := http.Get(dashboard); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET %s = %v %v, want the dashboard page", dashboard, resp, err)
	} else {
		resp.Body.Close()
	}
	// The token is signed with the public dev secret, which serve refuses
	// (TestServeRefusesThePublicJWTSecret) and dev accepts: dev is local by design.
	_, token, _ := run(context.Background(), "token", "--sub", "00000000-0000-4000-8000-000000000003")
	if status, body := call(t, "POST", base+"/api/checkin", "Authorization: Bearer "+strings.TrimSpace(token)); status != 200 || body["success"] != true {
		t.Errorf("checkin = %d %v", status, body)
	}
	status, body := call(t, "GET", base+"/api/model/active-users", "X-API-Key: "+key)
	users, _ := body["data"].([]any)
	if status != 200 || len(users) != 1 || users[0].(map[string]any)["display_name"] != "ChillWave" {
		t.Errorf("active users = %d %v", status, body)
	}
	if m := metricsText(t, base+"/metrics"); !strings.Contains(m, `vibepass_http_requests_total{method="POST",route="/api/checkin",status="200"} 1`) {
		t.Errorf("dev's /metrics does not count the checkin:\n%s", m)
	}
	// A frontend on Vite's dev server may call the dev API from the browser.
	preflight, _ := http.NewRequest("OPTIONS", base+"/api/checkin", nil)
	preflight.Header.Set("Origin", "http://localhost:5173")
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	preflight.Header.Set("Access-Control-Request-Headers", "authorization")
	if resp, err := http.DefaultClient.Do(preflight); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:5173" {
			t.Errorf("CORS preflight from Vite's origin: allow-origin %q", got)
		}
	}
	if code := dev.stop(); code != 0 {
		t.Errorf("dev exit %d after the stop, want 0", code)
	}

	// One format per stream: people's lines on the terminal, the JSON log in its file.
	logPath := filepath.Join(dataDir, "vibepass.log")
	if dev.printed["log"] != logPath {
		t.Errorf("dev printed log: %q, want %s", dev.printed["log"], logPath)
	}
	for stream, text := range map[string]string{"stdout": strings.Join(dev.stdout, "\n"), "stderr": dev.stderr.String()} {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "{") {
				t.Errorf("dev wrote a JSON line to its %s, meant for people: %s", stream, line)
			}
		}
	}
	logged, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	checkinLogged := false
	for _, line := range strings.Split(strings.TrimSpace(string(logged)), "\n") {
		var record map[string]any
		if err := json.Unmarshal([]byte(line), &record); err != nil {
			t.Errorf("a line of %s is not JSON (%v): %s", logPath, err, line)
		}
		checkinLogged = checkinLogged || (record["msg"] == "request" && record["path"] == "/api/checkin" && record["status"] == 200.0)
	}
	if !checkinLogged {
		t.Errorf("%s has no access log line for the check-in:\n%s", logPath, logged)
	}

	// The key survives a restart, so a model client set up with it keeps working.
	if fi, err := os.Stat(filepath.Join(dataDir, "model-key")); err != nil {
		t.Errorf("dev kept no model key: %v", err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("the kept model key has mode %v, want 0600", fi.Mode().Perm())
	}
	again := startDevMain(t, args...)
	if again.printed["model key"] != key {
		t.Errorf("after a restart dev printed model key %q, want the first run's", again.printed["model key"])
	}
	if status, body := call(t, "GET", again.printed["ready"]+"/api/model/active-users", "X-API-Key: "+key); status != 200 {
		t.Errorf("after a restart, the first run's key: %d %v", status, body)
	}
	if code := again.stop(); code != 0 {
		t.Errorf("dev exit %d after the second stop, want 0", code)
	}
}

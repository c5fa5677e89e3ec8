package examples

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/openapitest"
)

// jsClientDir is the vibepass npm package, seen from this package's directory.
var jsClientDir = filepath.Join(repoRoot, "clients", "js")

// jsBuild is the package built once per test binary: a copy of clients/js compiled by its
// pinned TypeScript, and the tarball npm pack made of it.
var jsBuild struct {
	once         sync.Once
	dir, tarball string
	err          string
}

// buildJSPackage builds clients/js as `npm ci --prefix clients/js` leaves it ready to:
// a copy of its sources (so the build leaves nothing in the work tree) with its
// installed node_modules, compiled with `npm run build` (tsc: ESM and .d.ts into dist/),
// then packed with `npm pack` as a registry would get it. It returns the copy and the
// tarball; any failure fails t with what to do.
func buildJSPackage(t *testing.T) (dir, tarball string) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: apt-get install -y nodejs npm (Node 20 or newer)", tool)
		}
	}
	modules, err := filepath.Abs(filepath.Join(jsClientDir, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, ".bin", "tsc")); err != nil {
		t.Fatalf("the JS package's pinned TypeScript is not installed (%v): npm ci --prefix clients/js", err)
	}
	jsBuild.once.Do(func() {
		dir := filepath.Join(filepath.Dir(vibepassBin), "js")
		run := func(name string, args ...string) bool {
			cmd := exec.Command(name, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
			if out, err := cmd.CombinedOutput(); err != nil {
				jsBuild.err = strings.Join(append([]string{name}, args...), " ") + ": " + err.Error() + "\n" + string(out)
				return false
			}
			return true
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			jsBuild.err = err.Error()
			return
		}
		for _, f := range []string{"package.json", "package-lock.json", "tsconfig.json", "README.md", "src", "test"} {
			if !run("cp", "-r", filepath.Join(mustAbs(jsClientDir), f), dir) {
				return
			}
		}
		if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
			jsBuild.err = err.Error()
			return
		}
		if !run("npm", "run", "--silent", "build") || !run("npm", "pack", "--silent", "--ignore-scripts") {
			return
		}
		tarballs, _ := filepath.Glob(filepath.Join(dir, "vibepass-*.tgz"))
		if len(tarballs) != 1 {
			jsBuild.err = "npm pack made no vibepass-*.tgz"
			return
		}
		jsBuild.dir, jsBuild.tarball = dir, tarballs[0]
	})
	if jsBuild.err != "" {
		t.Fatalf("building clients/js: %s", jsBuild.err)
	}
	return jsBuild.dir, jsBuild.tarball
}

// mustAbs is path made absolute; the working directory is always there.
func mustAbs(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		panic(err)
	}
	return abs
}

// TestJSClientPackage builds clients/js and runs its Node tests (node --test) against
// `vibepass dev` through a proxy that checks every answer against openapi.json: the
// model client's typed rows, 304 as Unchanged, each failure kind (a wrong key, no key,
// no server, no answer, the database down) thrown as its typed error and never answered
// as an empty list, and follow() resuming after a cut connection with no gap or repeat.
func TestJSClientPackage(t *testing.T) {
	dir, _ := buildJSPackage(t)
	dev := startDev(t)
	resetPasses(t, dev.dbURL)
	tokens, err := json.Marshal(dev.tokens)
	if err != nil {
		t.Fatal(err)
	}
	checked := checkedServer(t, dev.url)
	files, err := filepath.Glob(filepath.Join(dir, "test", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no clients/js/test/*.test.js (%v)", err)
	}
	// One file at a time: they share dev's database and take it down.
	node := exec.Command("node", append([]string{"--test", "--test-concurrency=1", "--test-force-exit", "--test-reporter=spec"}, files...)...)
	node.Dir = dir
	node.Env = append(os.Environ(), "VIBEPASS_URL="+checked.URL, "ML_API_KEY="+dev.modelKey, "MODEL_API_KEY=",
		"VIBEPASS_TEST_TOKENS="+string(tokens), "VIBEPASS_TEST_CONTROL="+databaseSwitch(t, dev.dbURL),
		"VIBEPASS_TEST_REFUSED_URL=http://"+refusedAddr(t))
	start := time.Now()
	out, err := node.CombinedOutput()
	t.Logf("node --test took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
}

// checkedServer serves checkingProxy(t, target) until the test ends.
func checkedServer(t *testing.T, target string) *httptest.Server {
	t.Helper()
	server := httptest.NewServer(checkingProxy(t, target))
	t.Cleanup(server.Close)
	return server
}

// checkingProxy is a reverse proxy to target that checks every exchange against
// openapi.json on the way: every answer but an event stream's body, and every request
// the server took (one it refused is a test of that refusal: no key, an unknown path).
func checkingProxy(t *testing.T, target string) *httputil.ReverseProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode < 400 {
			if err := openapitest.CheckRequest(resp.Request); err != nil {
				t.Errorf("openapi: %v", err)
			}
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if err := openapitest.Check(resp.Request, resp.StatusCode, resp.Header, body); err != nil {
			t.Errorf("openapi: %v", err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	return proxy
}

// jsApp makes a directory laid out like an app's: the vibepass package installed from
// its tarball by npm (offline: it depends on nothing), and examples/node_modules (React,
// esbuild, supabase-js) one level up, where Node, esbuild and tsc find them too. It
// returns the app's directory.
func jsApp(t *testing.T) string {
	t.Helper()
	_, tarball := buildJSPackage(t)
	app := filepath.Join(nodeDir(t), "app")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "package.json"), []byte(`{"private": true, "type": "module"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	install := exec.Command("npm", "install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball)
	install.Dir = app
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", filepath.Base(tarball), err, out)
	}
	return app
}

// bundle bundles entry (in dir) and what it imports into dir/bundle.js for the browser,
// with the pinned esbuild, as an app's build would.
func bundle(t *testing.T, dir, entry string) {
	t.Helper()
	requireNodeModules(t, "esbuild", "react", "react-dom")
	esbuild := exec.Command(mustAbs(filepath.Join("node_modules", ".bin", "esbuild")), entry, "--bundle", "--outfile=bundle.js",
		"--jsx=automatic", "--loader:.js=jsx", `--define:process.env.NODE_ENV="production"`, "--log-level=warning")
	esbuild.Dir = dir
	if out, err := esbuild.CombinedOutput(); err != nil {
		t.Fatalf("esbuild %s: %v\n%s", entry, err, out)
	}
}

// pageRequest is one /api request a served page sent.
type pageRequest struct {
	method, path, user string // user: the demo user whose token it carried, "" for none
}

// pageServer serves dir/bundle.js in a page signed in as a demo user (?user=<name>:
// window.vibepassTestSession is that user's session, as supabase-js would hold it), and
// /api/ from dev on the same origin, checking every answer against openapi.json and
// noting every request. POST /test/travel?user=<name>&ms=<n> moves the user's live pass
// back by n ms: to the server, as if n ms had gone by.
type pageServer struct {
	URL string

	mu       sync.Mutex
	requests []pageRequest
}

func servePage(t *testing.T, dev *devServer, dir string) *pageServer {
	t.Helper()
	names := map[string]string{}
	for name, token := range dev.tokens {
		names["Bearer "+token] = name
	}
	s := &pageServer{}
	api := checkingProxy(t, dev.url)
	db := connect(t, dev.dbURL)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/"):
			s.mu.Lock()
			s.requests = append(s.requests, pageRequest{r.Method, r.URL.Path, names[r.Header.Get("Authorization")]})
			s.mu.Unlock()
			api.ServeHTTP(w, r)
		case r.URL.Path == "/test/travel" && r.Method == http.MethodPost:
			ms, err := strconv.ParseInt(r.URL.Query().Get("ms"), 10, 64)
			if err == nil {
				_, err = db.Exec(r.Context(), `update public.sessions s
					set expires_at = expires_at - $1 * interval '1 millisecond', checked_in_at = checked_in_at - $1 * interval '1 millisecond'
					from public.profiles p where p.id = s.user_id and p.display_name = $2 and s.status = 'active'`, ms, r.URL.Query().Get("user"))
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		case r.URL.Path == "/bundle.js":
			http.ServeFile(w, r, filepath.Join(dir, "bundle.js"))
		case r.URL.Path == "/":
			token, ok := dev.tokens[r.URL.Query().Get("user")]
			if !ok {
				http.Error(w, "?user= names no demo user", http.StatusBadRequest)
				return
			}
			session, _ := json.Marshal(map[string]any{"access_token": token, "expires_at": time.Now().Add(24 * time.Hour).Unix()}) // as the demo links
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>vibepass test page</title>
<div id="root"></div><script>window.vibepassTestSession = %s</script><script src="/bundle.js"></script>`, session)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(server.Close)
	s.URL = server.URL
	return s
}

// sent returns the requests the page sent as the user so far.
func (s *pageServer) sent(user string) []pageRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []pageRequest
	for _, r := range s.requests {
		if r.user == user {
			out = append(out, r)
		}
	}
	return out
}

// TestPackagesCarryTheProjectVersion checks that every client package says the version
// vibepass.Version says: the JS package's package.json, its lock and its VERSION, and the
// Python package's pyproject.toml and __version__.
func TestPackagesCarryTheProjectVersion(t *testing.T) {
	for _, c := range []struct{ file, pattern string }{
		{"clients/js/package.json", `(?m)^  "version": "([^"]+)"`},
		{"clients/js/package-lock.json", `(?s)"packages": \{\s*"": \{\s*"name": "vibepass",\s*"version": "([^"]+)"`},
		{"clients/js/src/version.ts", `(?m)^export const VERSION = '([^']+)'`},
		{"clients/python/pyproject.toml", `(?m)^version = "([^"]+)"`},
		{"clients/python/src/vibepass/__init__.py", `(?m)^__version__ = "([^"]+)"`},
	} {
		data, err := os.ReadFile(filepath.Join(repoRoot, c.file))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(c.pattern).FindSubmatch(data)
		if m == nil {
			t.Errorf("%s: no version where %s looks", c.file, c.pattern)
		} else if string(m[1]) != vibepass.Version {
			t.Errorf("%s says version %s; vibepass.Version is %s", c.file, m[1], vibepass.Version)
		}
	}
}

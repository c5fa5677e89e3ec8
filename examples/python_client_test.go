package examples

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pythonClientDir is the vibepass Python package, seen from this package's directory.
var pythonClientDir = filepath.Join(repoRoot, "clients", "python")

// requirePythonTools fails unless the system python3 has what the package's tests
// need: venv, pip and setuptools/wheel to install it offline, pytest and mypy.
func requirePythonTools(t *testing.T) {
	t.Helper()
	for mod, pkg := range map[string]string{"venv": "python3-venv", "pip": "python3-pip", "setuptools": "python3-setuptools",
		"wheel": "python3-wheel", "pytest": "python3-pytest", "mypy": "mypy"} {
		if out, err := exec.Command(systemPython, "-c", "import "+mod).CombinedOutput(); err != nil {
			t.Fatalf("%s cannot import %s (%v: %s): apt-get install %s", systemPython, mod, err, out, pkg)
		}
	}
}

// pythonVenv copies clients/python to a temporary directory (so the build leaves
// nothing in the work tree), installs it the way docs/clients.md says into a fresh
// venv that sees the system's packages (Debian's python is externally managed), with
// no package index, and returns the venv's python and the copy.
func pythonVenv(t *testing.T) (python, src string) {
	t.Helper()
	requirePythonTools(t)
	dir := t.TempDir()
	src = filepath.Join(dir, "python")
	if out, err := exec.Command("cp", "-r", pythonClientDir, src).CombinedOutput(); err != nil {
		t.Fatalf("cp -r %s: %v: %s", pythonClientDir, err, out)
	}
	for _, junk := range []string{"build", "src/vibepass.egg-info", ".mypy_cache", ".pytest_cache"} {
		_ = os.RemoveAll(filepath.Join(src, junk))
	}
	venv := filepath.Join(dir, "venv")
	if out, err := exec.Command(systemPython, "-m", "venv", "--system-site-packages", venv).CombinedOutput(); err != nil {
		t.Fatalf("python3 -m venv: %v: %s", err, out)
	}
	python = filepath.Join(venv, "bin", "python")
	install := exec.Command(python, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation", src)
	install.Env = append(os.Environ(), "PIP_NO_INDEX=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PYTHONDONTWRITEBYTECODE=1")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("pip install --no-index --no-build-isolation clients/python: %v: %s", err, out)
	}
	return python, src
}

// TestPythonClientPackage installs clients/python into a venv, checks it with
// mypy --strict, and runs its pytest suite against `vibepass dev`, through a proxy that
// checks every exchange against openapi.json: typed rows, 304 as
// Unchanged, each failure kind (no key, a wrong key, the database down, a timeout, no
// server) raising its error rather than answering an empty list, and follow()
// resuming after a cut connection with no gap or repeat.
func TestPythonClientPackage(t *testing.T) {
	python, src := pythonVenv(t)

	// mypy --strict on the installed package: it must be typed (py.typed) and clean.
	mypy := exec.Command(python, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir=/dev/null", "-p", "vibepass")
	mypy.Dir = t.TempDir() // not the source: check what was installed
	if out, err := mypy.CombinedOutput(); err != nil {
		t.Errorf("mypy --strict -p vibepass: %v\n%s", err, out)
	}

	dev := startDev(t)
	resetPasses(t, dev.dbURL)
	tokens, err := json.Marshal(dev.tokens)
	if err != nil {
		t.Fatal(err)
	}
	control := databaseSwitch(t, dev.dbURL)
	examples, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}

	pytest := exec.Command(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "console_output_style=classic", "tests")
	pytest.Dir = src
	pytest.Env = append(os.Environ(), "VIBEPASS_URL="+checkedServer(t, dev.url).URL, "ML_API_KEY="+dev.modelKey, "MODEL_API_KEY=",
		"VIBEPASS_TEST_TOKENS="+string(tokens), "VIBEPASS_TEST_CONTROL="+control,
		"VIBEPASS_TEST_EXAMPLES="+examples, "PYTHONDONTWRITEBYTECODE=1")
	start := time.Now()
	out, err := pytest.CombinedOutput()
	t.Logf("pytest took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("pytest: %v", err)
	}
}

// databaseSwitch serves POST /db/down and /db/up on a local address and returns its
// URL: down makes dev's database refuse the proxy's connections (its login role may
// open none, and those it has are ended), the way an unreachable database looks to the
// proxy (503 unavailable); up lets it connect again.
func databaseSwitch(t *testing.T, dbURL string) string {
	t.Helper()
	admin := connect(t, dbURL)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /db/{state}", func(w http.ResponseWriter, r *http.Request) {
		var statements []string
		switch r.PathValue("state") {
		case "down":
			statements = []string{"alter role authenticator connection limit 0",
				"select pg_terminate_backend(pid) from pg_stat_activity where usename = 'authenticator'"}
		case "up":
			statements = []string{"alter role authenticator connection limit -1"}
		default:
			http.NotFound(w, r)
			return
		}
		for _, s := range statements {
			if _, err := admin.Exec(context.Background(), s); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := &http.Server{Handler: mux}
	go func() { _ = server.Serve(ln) }()
	t.Cleanup(func() { _ = server.Close() })
	return "http://" + strings.TrimSpace(ln.Addr().String())
}

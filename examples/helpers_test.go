// Package examples holds the Go tests that run the example clients and every code
// sample in README.md and docs/ against the real `vibepass` binary, started the way a
// reader starts it (`vibepass dev`). They use the binary's command line and printed
// lines only, never the project's internal packages (except the PostgREST stand-in),
// so that what they check is what a reader sees.
package examples

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// testModelKey is the model API key the tests start dev with (MODEL_API_KEY).
	testModelKey = "examples-test-model-key"
	systemPython = "/usr/bin/python3"
	musicFanID   = "00000000-0000-4000-8000-000000000001"
	// repoRoot is the repository, seen from this package's directory.
	repoRoot = ".."
	// startTimeout only guards against a hang; nothing waits for it to pass.
	startTimeout = 2 * time.Minute
)

// vibepassBin is the binary TestMain builds from ./cmd/vibepass.
var vibepassBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "vibepass-examples-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	vibepassBin = filepath.Join(dir, "vibepass")
	build := exec.Command("go", "build", "-o", vibepassBin, "./cmd/vibepass")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/vibepass: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// devServer is a running `vibepass dev`, as its output describes it.
type devServer struct {
	url      string            // http://127.0.0.1:<port>, from "ready: "
	addr     string            // 127.0.0.1:<port>
	dbURL    string            // the superuser URL, from "db: "
	modelKey string            // MODEL_API_KEY it was started with
	tokens   map[string]string // display name -> the token in that user's printed link
}

// authenticatorURL is dev's database URL for the authenticator role (PostgREST's login
// role); dev's database trusts local connections, so no password is needed.
func (d *devServer) authenticatorURL(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(d.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User("authenticator")
	return u.String()
}

// startDev runs `vibepass dev --addr 127.0.0.1:0 --db-port 0 --data-dir <fresh dir>`
// with MODEL_API_KEY set, reads what it prints up to the last demo link, and stops it
// with SIGINT when the test ends.
func startDev(t *testing.T) *devServer {
	t.Helper()
	// Not t.TempDir: run as root, the postgres system user must reach the directory.
	dir, err := os.MkdirTemp("", "vibepass-examples-dev-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(vibepassBin, "dev", "--addr", "127.0.0.1:0", "--db-port", "0", "--data-dir", filepath.Join(dir, "dev"))
	cmd.Env = append(os.Environ(), "MODEL_API_KEY="+testModelKey)
	stdout, stderr := startPiped(t, cmd)
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(startTimeout):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("vibepass dev did not stop on SIGINT; stderr:\n%s", stderr.String())
		}
		_ = os.RemoveAll(dir)
	})

	dev := &devServer{modelKey: testModelKey, tokens: map[string]string{}}
	read := make(chan struct{})
	go func() {
		defer close(read)
		lines := bufio.NewScanner(stdout)
		lines.Buffer(nil, 1<<20)
		for lines.Scan() {
			line := lines.Text()
			if v, ok := strings.CutPrefix(line, "db: "); ok {
				dev.dbURL = v
			} else if v, ok := strings.CutPrefix(line, "ready: "); ok {
				dev.url = v
				dev.addr = strings.TrimPrefix(v, "http://")
			} else if fields := strings.Fields(line); len(fields) == 2 && strings.Contains(fields[1], "/#access_token=") {
				_, token, _ := strings.Cut(fields[1], "#access_token=")
				dev.tokens[fields[0]] = token
				if len(dev.tokens) == 6 { // the seed's demo users
					return
				}
			}
		}
	}()
	go func() {
		<-read
		_, _ = io.Copy(io.Discard, stdout) // later output must not block dev
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case <-read:
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill() // ends the reader, so dev's fields are safe to read below
		<-read
	}
	if dev.url == "" || dev.dbURL == "" || len(dev.tokens) != 6 {
		t.Fatalf("vibepass dev printed ready %q, db %q and %d demo links, want all three and 6 links; stderr:\n%s",
			dev.url, dev.dbURL, len(dev.tokens), stderr.String())
	}
	return dev
}

// startPiped starts cmd with its stdout to read and its stderr collected.
func startPiped(t *testing.T, cmd *exec.Cmd) (io.Reader, *syncBuffer) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return stdout, stderr
}

// mintToken runs `vibepass token --sub sub` and returns the access token it prints.
func mintToken(t *testing.T, sub string) string {
	t.Helper()
	out, err := exec.Command(vibepassBin, "token", "--sub", sub).Output()
	if err != nil {
		t.Fatalf("vibepass token --sub %s: %v%s", sub, err, stderrOf(err))
	}
	return strings.TrimSpace(string(out))
}

// resetPasses deletes every pass in dev's database, so the next sample starts with none.
func resetPasses(t *testing.T, dbURL string) {
	t.Helper()
	if _, err := connect(t, dbURL).Exec(context.Background(), "delete from public.sessions"); err != nil {
		t.Fatal(err)
	}
}

// pass is one of a user's rows in public.sessions.
type pass struct {
	id, status, endReason string
	expiresAt             time.Time
	live                  bool
}

// userPasses reads the user's passes from the database, oldest first.
func userPasses(t *testing.T, dbURL, userID string) []pass {
	t.Helper()
	ctx := context.Background()
	rows, _ := connect(t, dbURL).Query(ctx, `select id::text, status, coalesce(end_reason, ''), expires_at,
		status = 'active' and expires_at > now()
		from public.sessions where user_id = $1 order by created_at, checked_in_at`, userID)
	var passes []pass
	var p pass
	_, err := pgx.ForEachRow(rows, []any{&p.id, &p.status, &p.endReason, &p.expiresAt, &p.live}, func() error {
		passes = append(passes, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return passes
}

// connect opens a connection to the database at dbURL, closed when the test ends.
func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// refusedAddr returns a loopback address that refuses connections until the test ends:
// a socket bound to it, never listening, holds its port, so no other process can start
// listening there (Linux refuses the bind: this socket lacks SO_REUSEADDR). It stands for
// "no server".
func refusedAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// stderrOf returns what a failed command wrote to stderr, when exec kept it.
func stderrOf(err error) string {
	if exitErr, ok := err.(*exec.ExitError); ok && len(exitErr.Stderr) > 0 {
		return "\n" + string(exitErr.Stderr)
	}
	return ""
}

// requireNodeModules fails unless the pinned npm package is installed under examples/.
func requireNodeModules(t *testing.T, packages ...string) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed: apt-get install nodejs")
	}
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join("node_modules", p, "package.json")); err != nil {
			t.Fatalf("%s is not installed (%v): npm ci --prefix examples", p, err)
		}
	}
}

// requirePython fails unless the system python3 can import requests.
func requirePython(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(systemPython, "-c", "import requests").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import requests (%v: %s): apt-get install python3-requests", systemPython, err, out)
	}
}

// syncBuffer is a strings.Builder safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

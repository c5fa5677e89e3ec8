package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func TestDevPrintsAWorkingDatabaseURLAndStops(t *testing.T) {
	dir := localdbtest.ReachableDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan int, 1)
	var stderr strings.Builder // read only once dev has returned
	go func() {
		done <- runMain(ctx, []string{"dev", "--data-dir", filepath.Join(dir, "dev"), "--db-port", "0", "--addr", "127.0.0.1:0"}, w, &stderr)
		w.Close()
	}()

	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatalf("dev printed nothing (exit %d):\n%s", <-done, stderr.String())
	}
	url, ok := strings.CutPrefix(lines.Text(), "db: ")
	if !ok {
		t.Fatalf("first line %q, want db: <url>", lines.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }() // a later ready: line must not block dev
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	err = conn.QueryRow(ctx, "select display_name from public.profiles where id = '00000000-0000-4000-8000-000000000001'").Scan(&name)
	conn.Close(ctx)
	if err != nil {
		t.Fatalf("the seeded MusicFan is not in the dev database: %v", err)
	}

	cancel() // as Ctrl-C does
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("dev exited %d after the stop, want 0", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("dev did not stop within a minute")
	}
	if _, err := pgx.Connect(context.Background(), url); err == nil {
		t.Error("the database still accepts connections after dev stopped")
	}
}

func TestUnknownCommandIsAUsageError(t *testing.T) {
	var stderr strings.Builder
	if code := runMain(context.Background(), []string{"nope"}, io.Discard, &stderr); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "dev ") {
		t.Errorf("usage does not list dev:\n%s", stderr.String())
	}
}

// String returns what was written, for a test whose syncWriter wraps a strings.Builder
// that dev writes to while the test reads it.
func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(fmt.Stringer).String()
}

// devMain is `vibepass dev` running in this process, as far as it has printed.
type devMain struct {
	stdout  []string          // its lines up to ready:
	printed map[string]string // the first word after "name: " in those lines, by name
	stderr  *syncWriter       // over a strings.Builder
	stop    func() int        // stops it as Ctrl-C does and returns its exit code
}

// startDevMain runs runMain with args (a dev command line) and reads stdout up to ready:.
func startDevMain(t *testing.T, args ...string) *devMain {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	dev := &devMain{printed: map[string]string{}, stderr: &syncWriter{w: &strings.Builder{}}}
	exit := make(chan int, 1)
	go func() {
		exit <- runMain(ctx, args, w, dev.stderr)
		w.Close()
	}()
	lines := bufio.NewScanner(out)
	for dev.printed["ready"] == "" && lines.Scan() {
		dev.stdout = append(dev.stdout, lines.Text())
		if name, value, ok := strings.Cut(lines.Text(), ": "); ok && value != "" {
			dev.printed[name] = strings.Fields(value)[0]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }() // the demo links must not block dev
	stopped := false
	code := 0
	dev.stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case code = <-exit:
			case <-time.After(time.Minute):
				t.Fatal("dev did not stop within a minute")
			}
		}
		return code
	}
	t.Cleanup(func() { dev.stop() })
	if dev.printed["ready"] == "" {
		t.Fatalf("dev printed no ready: line (exit %d); stdout:\n%s\nstderr:\n%s", dev.stop(), strings.Join(dev.stdout, "\n"), dev.stderr.String())
	}
	return dev
}

// TestDevErrorsSayWhatToDo checks the errors a newcomer meets first: each names the
// flag (or variable) to change and how, and a busy address fails before the database starts.
func TestDevErrorsSayWhatToDo(t *testing.T) {
	dir := localdbtest.ReachableDir(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		env  string // NAME=value set for the case
		want []string
	}{
		{"address in use", []string{"--addr", busyAddr},
			"", []string{"--addr " + busyAddr + ": the address is already in use", "--addr 127.0.0.1:0 picks a free port"}},
		{"address malformed", []string{"--addr", "3000"},
			"", []string{"--addr 3000:", "it takes host:port, e.g. --addr 127.0.0.1:3000"}},
		{"database port in use", []string{"--db-port", busyPort},
			"", []string{"--db-port " + busyPort + ": 127.0.0.1:" + busyPort + " is already in use", "--db-port 0 to pick a free port"}},
		{"--pg-bin without PostgreSQL", []string{"--pg-bin", empty},
			"", []string{"--pg-bin " + empty + ": no initdb and postgres there", "/opt/homebrew/opt/postgresql@15/bin"}},
		{"VIBEPASS_PG_BIN without PostgreSQL", nil,
			"VIBEPASS_PG_BIN=" + empty, []string{"VIBEPASS_PG_BIN " + empty + ": no initdb and postgres there"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if name, value, ok := strings.Cut(tc.env, "="); ok {
				t.Setenv(name, value)
			}
			dataDir := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			args := append([]string{"dev", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--db-port", "0"}, tc.args...)
			// Bounded: were the error missed, dev would serve until stopped.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			code, _, stderr := run(ctx, args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if _, err := os.Stat(dataDir); err == nil {
				t.Errorf("dev made its data directory before failing; it should fail before starting the database")
			}
		})
	}
}

// TestDevDataOfAnotherVersionSaysWhatToDo starts dev on a data directory made by another
// PostgreSQL major version (as after `brew upgrade` to a newer postgresql@N): the error
// says to name that version's binaries or remove the directory, before postgres starts.
func TestDevDataOfAnotherVersionSaysWhatToDo(t *testing.T) {
	dataDir := filepath.Join(localdbtest.ReachableDir(t), "dev")
	pgData := filepath.Join(dataDir, "data")
	if err := os.MkdirAll(pgData, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pgData, "PG_VERSION"), []byte("99\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // were the error missed, dev would serve until stopped
	defer cancel()
	code, _, stderr := run(ctx, "dev", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--db-port", "0")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"was made by PostgreSQL 99, and the binaries in", "name PostgreSQL 99's binaries with --pg-bin DIR", "or remove " + dataDir + " to start afresh"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

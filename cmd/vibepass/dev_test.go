package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestDevPrintsAWorkingDatabaseURLAndStops(t *testing.T) {
	dir, err := os.MkdirTemp("", "vibepass-dev-test-") // not t.TempDir: it is removed before the server stops
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // MkdirTemp makes 0700 dirs, which the postgres user cannot enter
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan int, 1)
	var stderr syncBuffer
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

func TestUnknownCommandIsAUsageError(t *testing.T) {
	var stderr strings.Builder
	if code := runMain(context.Background(), []string{"nope"}, io.Discard, &stderr); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "dev ") {
		t.Errorf("usage does not list dev:\n%s", stderr.String())
	}
}

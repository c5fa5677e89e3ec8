package main

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
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

package localdb_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func queryInt(t *testing.T, url, sql string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestMain(m *testing.M) { localdbtest.Main(m) }

func TestDatabasesHoldWhatTheirTemplateSays(t *testing.T) {
	began := time.Now()
	c := localdbtest.Cluster(t)
	t.Logf("cold Start took %v", time.Since(began).Round(time.Millisecond))
	ctx := context.Background()

	began = time.Now()
	seeded, err := c.NewDatabase(ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NewDatabase took %v", time.Since(began).Round(time.Millisecond))
	unseeded, err := c.NewDatabase(ctx, "plain", false)
	if err != nil {
		t.Fatal(err)
	}
	base, err := c.NewBaseDatabase(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, seeded.PostgresURL, "select count(*) from auth.users"); n == 0 {
		t.Error("the seeded database has no users")
	}
	if n := queryInt(t, unseeded.PostgresURL, "select count(*) from auth.users"); n != 0 {
		t.Errorf("the unseeded database has %d users", n)
	}
	if n := queryInt(t, base.PostgresURL, "select count(*) from pg_tables where schemaname = 'public'"); n != 0 {
		t.Errorf("the base database has %d tables in public, want none", n)
	}
	if n := queryInt(t, base.PostgresURL, "select count(*) from pg_proc where proname = 'uid' and pronamespace = 'auth'::regnamespace"); n != 1 {
		t.Errorf("the base database has %d auth.uid(), want 1", n)
	}
	// Every migration's objects are there and nothing records the migrations.
	if n := queryInt(t, unseeded.PostgresURL, "select count(*) from pg_namespace where nspname = 'supabase_migrations'"); n != 0 {
		t.Error("localdb made supabase_migrations; only the Supabase CLI should")
	}
	if n := queryInt(t, unseeded.AuthenticatorURL, "select 1"); n != 1 {
		t.Error("authenticator cannot log in")
	}
	if c.SocketDir() == "" {
		t.Error("a cluster under the temp dir has no Unix socket")
	}
	socketURL := fmt.Sprintf("host=%s port=%d user=authenticator dbname=%s", c.SocketDir(), c.Port(), unseeded.Name)
	if n := queryInt(t, socketURL, "select 1"); n != 1 {
		t.Error("no connection over the Unix socket")
	}
	if len(vibepass.MigrationFiles()) == 0 {
		t.Error("no migrations embedded")
	}
}

func TestConcurrentNewDatabase(t *testing.T) {
	c := localdbtest.Cluster(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			db, err := c.NewDatabase(context.Background(), "", true)
			if err == nil {
				err = c.DropDatabase(context.Background(), db.Name)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestStopRestartKeepsDataAndPort(t *testing.T) {
	c := localdbtest.NewCluster(t, localdb.Options{})
	ctx := context.Background()
	db, err := c.NewDatabase(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, db.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "create table kept (n int); insert into kept values (42)"); err != nil {
		t.Fatal(err)
	}
	port := c.Port()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("the connection still answers after Stop")
	}
	if _, err := pgx.Connect(ctx, db.PostgresURL); err == nil {
		t.Fatal("a new connection succeeded after Stop")
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Port() != port {
		t.Errorf("port changed from %d to %d", port, c.Port())
	}
	if n := queryInt(t, db.PostgresURL, "select n from kept"); n != 42 {
		t.Errorf("kept = %d, want 42", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("temporary cluster directory %s still there after Close (%v)", c.Dir(), err)
	}
}

func TestDirIsReused(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), "vibepass-localdb-reuse-"+filepath.Base(t.Name()))
	_ = os.RemoveAll(dir)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	c, err := localdb.Start(ctx, localdb.Options{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	db, err := c.EnsureDatabase(ctx, "vibepass")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, db.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "create table kept (n int); insert into kept values (7)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Fatalf("Close removed a cluster it was given: %v", err)
	}

	c, err = localdb.Start(ctx, localdb.Options{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	db, err = c.EnsureDatabase(ctx, "vibepass")
	if err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db.PostgresURL, "select n from kept"); n != 7 {
		t.Errorf("kept = %d after restart, want 7", n)
	}
}

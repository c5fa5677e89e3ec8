// Package localdbtest gives tests a fresh database on a throwaway local PostgreSQL.
//
// One cluster serves a whole test binary: it starts on the first call (about a second,
// more the first time the SQL changed) and every call clones a fresh database from its
// templates (milliseconds), dropped when the test ends. Tests may run in parallel.
//
//	func TestMain(m *testing.M) { localdbtest.Main(m) } // stops the cluster at the end
//
//	func TestCheckin(t *testing.T) {
//		db := localdbtest.ForTest(t) // base + migrations + seed
//		pool, err := pgxpool.New(ctx, db.AuthenticatorURL)
//		...
//	}
//
// Without Main the server still stops when the test binary exits and the next run removes
// its directory. A test that stops the database must use NewCluster, not the shared one.
package localdbtest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vibepass/vibepass/sql/localdb"
)

// setupTimeout bounds starting the shared cluster and making one database.
const setupTimeout = 2 * time.Minute

var shared struct {
	once    sync.Once
	cluster *localdb.Cluster
	err     error
}

// Main runs the tests and then stops the shared cluster; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		_ = shared.cluster.Close()
	}
	os.Exit(code)
}

// Cluster returns the cluster shared by this test binary, starting it on first use.
// Do not stop it: other tests use it; NewCluster gives a private one.
func Cluster(t testing.TB) *localdb.Cluster {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		shared.cluster, shared.err = localdb.Start(ctx, localdb.Options{})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster
}

// ForTest returns a fresh database with base, migrations and seed (the demo users),
// dropped when t ends.
func ForTest(t testing.TB) *localdb.Database {
	t.Helper()
	return newDatabase(t, Cluster(t), func(ctx context.Context, c *localdb.Cluster) (*localdb.Database, error) {
		return c.NewDatabase(ctx, "", true)
	})
}

// Unseeded returns a fresh database with base and migrations but no seed, dropped when t ends.
func Unseeded(t testing.TB) *localdb.Database {
	t.Helper()
	return newDatabase(t, Cluster(t), func(ctx context.Context, c *localdb.Cluster) (*localdb.Database, error) {
		return c.NewDatabase(ctx, "", false)
	})
}

// BaseOnly returns a fresh database holding only sql/supabase_base.sql, like a Supabase
// project before its migrations are pushed; dropped when t ends.
func BaseOnly(t testing.TB) *localdb.Database {
	t.Helper()
	return newDatabase(t, Cluster(t), func(ctx context.Context, c *localdb.Cluster) (*localdb.Database, error) {
		return c.NewBaseDatabase(ctx, "")
	})
}

// NewCluster starts a private cluster (about a second) for a test that stops and restarts
// the database (Stop, Crash, Restart), with opts (its Logf is t.Logf); it is removed when
// t ends. Use ForTest otherwise.
func NewCluster(t testing.TB, opts localdb.Options) *localdb.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	opts.Logf = t.Logf
	c, err := localdb.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// ReachableDir returns a new temporary directory that the postgres system user can
// enter (t.TempDir and os.MkdirTemp make 0700 ones owned by root), for a cluster's
// data; it is removed when t ends, after the cleanups registered later have run.
func ReachableDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vibepass-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newDatabase(t testing.TB, c *localdb.Cluster, create func(context.Context, *localdb.Cluster) (*localdb.Database, error)) *localdb.Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	db, err := create(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if err := c.DropDatabase(ctx, db.Name); err != nil {
			t.Error(err)
		}
	})
	return db
}

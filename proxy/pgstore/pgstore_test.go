package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func TestMain(m *testing.M) { localdbtest.Main(m) }

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *localdb.Database) vibepass.Store {
		return storetest.OpenStore(t, db.AuthenticatorURL)
	})
}

// TestActiveUsersStreams holds the first row in emit and watches Postgres: the backend
// must be blocked writing the rest to the client (wait event ClientWrite), which can only
// happen when the store reads rows as they come instead of collecting them first.
func TestActiveUsersStreams(t *testing.T) {
	const users = 8000
	ctx := context.Background()
	db := localdbtest.ForTest(t)
	storetest.AddUsers(t, db.PostgresURL, users)
	super := storetest.OpenPool(t, db.PostgresURL)
	storetest.CheckInEveryone(t, db.PostgresURL)
	// Over the cluster's Unix socket, whose buffers (unlike TCP's) do not grow, the kernel
	// holds far less than the list for a client that does not read: the check does not
	// depend on the machine's TCP tuning.
	sockDir := localdbtest.Cluster(t).SocketDir()
	if sockDir == "" {
		t.Fatal("the test cluster has no Unix socket: its directory path is too long; set TMPDIR to a shorter one")
	}
	socketURL := fmt.Sprintf("postgresql://authenticator@/%s?host=%s&port=%d", db.Name, sockDir, db.Port)
	store := storetest.OpenStore(t, socketURL)
	rows := 0
	err := store.ActiveUsers(ctx, func(vibepass.ActiveUser) error {
		rows++
		if rows == 1 {
			return waitForClientWrite(ctx, super)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows < users {
		t.Fatalf("streamed %d rows, want at least %d", rows, users)
	}
}

func waitForClientWrite(ctx context.Context, super *pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		var writing bool
		err := super.QueryRow(ctx, `select exists (select from pg_stat_activity
			where datname = current_database() and usename = 'authenticator' and state = 'active' and wait_event = 'ClientWrite')`).Scan(&writing)
		if err != nil {
			return fmt.Errorf("while the first row was held, Postgres never waited to write the rest: %w", err)
		}
		if writing {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

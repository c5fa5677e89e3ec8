package pgstore_test

import (
	"context"
	"fmt"
	"io"
	"net"
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

// TestAnswerLostAfterTheCallIsUnknown cuts the connection after a check-in has
// reached the database and before its answer comes back, as a database host that
// dies or a network that fails at that moment does. The database does the check-in,
// so the store must not say it was unavailable (503: nothing done, a client need not
// ask again): it says the outcome is unknown (ETIMEOUT, 504), and a client asks again,
// which the user calls allow. A refused connection (nothing sent) stays EUNAVAILABLE.
func TestAnswerLostAfterTheCallIsUnknown(t *testing.T) {
	ctx := context.Background()
	db := localdbtest.ForTest(t)
	relay := startRelay(t, fmt.Sprintf("127.0.0.1:%d", db.Port))
	store := storetest.OpenStore(t, fmt.Sprintf("postgresql://authenticator@%s/%s?sslmode=disable", relay.addr, db.Name))
	users := storetest.AddUsers(t, db.PostgresURL, 2)
	// One pooled connection that has prepared the check-in (so the next one is sent
	// and run in one round trip), used again at once (so it is not pinged first).
	if _, err := store.Checkin(ctx, storetest.Caller(t, users[1])); err != nil {
		t.Fatal(err)
	}
	user := users[0]
	c := storetest.Caller(t, user)
	relay.loseAnswers()
	_, err := store.Checkin(ctx, c)
	storetest.WantCode(t, err, vibepass.ETIMEOUT)
	if msg := vibepass.ErrorMessage(err); msg != "Database connection lost before it answered" {
		t.Errorf("message = %q", msg)
	}
	super := storetest.OpenPool(t, db.PostgresURL)
	deadline := time.Now().Add(time.Minute)
	for done := false; !done; {
		if err := super.QueryRow(ctx, `select exists (select from public.sessions where user_id = $1)`, user).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if !done && time.Now().After(deadline) {
			t.Fatal("the check-in whose answer was lost never reached the database: the test cut too early")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The relay now refuses connections: nothing is sent, so nothing is done.
	_, err = store.Checkin(ctx, c)
	storetest.WantCode(t, err, vibepass.EUNAVAILABLE)
}

// relay forwards TCP connections to a database until loseAnswers.
type relay struct {
	addr string
	lost chan struct{} // closed by loseAnswers
}

// startRelay listens on loopback and forwards each connection to target.
func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &relay{addr: ln.Addr().String(), lost: make(chan struct{})}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case <-r.lost:
				client.Close() // the database is out of reach
				continue
			default:
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			go func() { _, _ = io.Copy(server, client) }() // ends when client closes
			go r.answer(client, server)
		}
	}()
	return r
}

// loseAnswers makes the relay drop what the database sends from now on, closing the
// client's side as the first of it arrives (the call was sent and is being run), and
// refuse new connections. The database's side stays open and is read to its end, so
// the database finishes the call undisturbed.
func (r *relay) loseAnswers() { close(r.lost) }

// answer copies server to client until the answers are lost.
func (r *relay) answer(client, server net.Conn) {
	defer server.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		select {
		case <-r.lost:
			client.Close()
			_, _ = io.Copy(io.Discard, server)
			return
		default:
		}
		if n > 0 {
			if _, err := client.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			client.Close()
			return
		}
	}
}

package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// starved is how long a request that waited for a connection held by a stalled or waiting
// model read would take at least: the pool wait runs to the upstream timeout, then 504. An
// answer well under it came from a connection of its own, however slow the machine is.
var starved = proxy.DefaultConfig().Timeouts.Upstream

// TestStalledModelReadersStarveNoUser opens four model streams whose clients send the
// request and never read, over a list far larger than the sockets on the way can hold,
// so each admitted stream blocks with its store read open. Meanwhile a user's
// /api/session must answer 200 before a starved request could and /readyz 200; model requests beyond
// limits.model_streams get 503 with Retry-After at once; and once the stalled clients
// leave, the model endpoint serves the whole list again. On both upstreams.
func TestStalledModelReadersStarveNoUser(t *testing.T) {
	// About 165 bytes a row: 40k rows are 6.6 MB, more than the proxy's socket to the
	// client can buffer (tcp_wmem's 4 MB at most) with the client's kept small.
	const users = 40000
	db := localdbtest.ForTest(t)
	ids := storetest.AddUsers(t, db.PostgresURL, users)
	storetest.CheckInEveryone(t, db.PostgresURL)
	// Over the Unix socket, whose buffers do not grow like TCP's, the direct upstream's
	// reads stop as soon as the proxy stops taking rows, so they hold their connections.
	sockDir := localdbtest.Cluster(t).SocketDir()
	if sockDir == "" {
		t.Fatal("the test cluster has no Unix socket: its directory path is too long; set TMPDIR to a shorter one")
	}
	socketURL := fmt.Sprintf("postgresql://authenticator@/%s?host=%s&port=%d", db.Name, sockDir, db.Port)
	limit := proxy.DefaultConfig().Limits.ModelStreams
	tok := mint(t, ids[0])
	super := superuser(t, db.PostgresURL)
	for _, kind := range upstreamKinds {
		t.Run(kind, func(t *testing.T) {
			ts := startServerOn(t, kind, db, socketURL, nil)
			var stalled []net.Conn
			for range 4 {
				stalled = append(stalled, stallModelStream(t, ts.URL))
			}
			waitUntil(t, time.Minute, "the admitted model streams to stall", func() bool {
				return ts.Server.ModelStreams() == limit &&
					(kind != upstreamPostgres || backendsWritingToClient(t, super) == limit)
			})

			start := time.Now()
			r := do(t, "GET", ts.URL+"/api/session", nil, bearer(tok))
			if took := time.Since(start); r.Status != 200 || took >= starved {
				t.Errorf("/api/session with %d model streams stalled: %d after %v, want 200 within %v: %s", limit, r.Status, took, starved, r.Raw)
			}
			t.Logf("/api/session with %d model streams stalled: %d in %v", limit, r.Status, time.Since(start))
			if r := do(t, "GET", ts.URL+"/readyz", nil); r.Status != 200 {
				t.Errorf("/readyz with model streams stalled: %d %s", r.Status, r.Raw)
			}
			// The model's other reads run beside the stalled streams, not behind them.
			for _, path := range []string{"/api/model/summary", "/api/model/history"} {
				start := time.Now()
				if r := do(t, "GET", ts.URL+path, nil, apiKey(modelKey)); r.Status != 200 || time.Since(start) >= starved {
					t.Errorf("%s with %d model streams stalled: %d after %v, want 200 within %v", path, limit, r.Status, time.Since(start), starved)
				}
			}
			start = time.Now()
			r = do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey))
			wantError(t, r, http.StatusServiceUnavailable, "Too many model reads at once")
			if took := time.Since(start); took >= starved || r.Header.Get("Retry-After") != "1" {
				t.Errorf("model request over the limit: Retry-After %q after %v, want 1 within %v", r.Header.Get("Retry-After"), took, starved)
			}

			for _, c := range stalled {
				c.Close()
			}
			waitUntil(t, time.Minute, "the stalled streams to end", func() bool { return ts.Server.ModelStreams() == 0 })
			if r := do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey)); r.Status != 200 || r.Body["count"].(float64) < users {
				t.Errorf("model request once the stalled clients left: %d, count %v", r.Status, r.Body["count"])
			}
		})
	}
}

// stallModelStream sends a model request on a connection that never reads its
// answer, with a receive buffer kept small, until the test ends.
func stallModelStream(t *testing.T, baseURL string) net.Conn {
	t.Helper()
	return neverRead(t, baseURL, "/api/model/active-users")
}

// neverRead sends a model GET for path over a connection with a small receive buffer
// and never reads the answer, so the server's writes to it soon block.
func neverRead(t *testing.T, baseURL, path string) net.Conn {
	t.Helper()
	dialer := net.Dialer{Control: func(_, _ string, raw syscall.RawConn) error {
		var setErr error
		err := raw.Control(func(fd uintptr) {
			setErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, setErr)
	}}
	conn, err := dialer.Dial("tcp", strings.TrimPrefix(baseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: vibepass\r\nX-API-Key: %s\r\n\r\n", path, modelKey); err != nil {
		t.Fatal(err)
	}
	return conn
}

// backendsWritingToClient counts the authenticator's backends of the test's database
// that wait for their client to take more of their answer.
func backendsWritingToClient(t *testing.T, super *pgx.Conn) int {
	t.Helper()
	var n int
	if err := super.QueryRow(context.Background(), `select count(*) from pg_stat_activity
		where datname = current_database() and usename = 'authenticator' and wait_event = 'ClientWrite'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitUntil polls cond until it holds, failing t after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestModelReadsSlowNoUser: the model's summaries, ticks and history run on the direct
// upstream's feed pool, never on the users'. Twenty summaries stuck behind the feed's lock
// (held here from another session) hold every connection they can get; a user's
// /api/session still answers before a starved request could. Before, they took the user pool's connections.
func TestModelReadsSlowNoUser(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) { c.RateLimit.ModelKeyPerMinute = 1000 })
	ctx := context.Background()
	admin := superuser(t, ts.DB.PostgresURL)
	if _, err := admin.Exec(ctx, "select pg_advisory_lock(7622839204051130711)"); err != nil { // vibepass.presence_lock()'s key
		t.Fatal(err)
	}
	done := make(chan struct{})
	for range 20 {
		go func() {
			defer func() { done <- struct{}{} }()
			do(t, "GET", ts.URL+"/api/model/summary", nil, apiKey(modelKey))
		}()
	}
	waitUntil(t, time.Minute, "summaries to wait on the feed's lock", func() bool {
		var waiting int
		if err := admin.QueryRow(ctx, `select count(*) from pg_stat_activity
			where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'advisory'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		return waiting >= 2
	})
	start := time.Now()
	r := do(t, "GET", ts.URL+"/api/session", nil, bearer(mint(t, musicFan)))
	if took := time.Since(start); r.Status != http.StatusOK || took >= starved {
		t.Errorf("/api/session with 20 model summaries waiting: %d after %v, want 200 within %v", r.Status, took, starved)
	}
	if _, err := admin.Exec(ctx, "select pg_advisory_unlock(7622839204051130711)"); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		<-done
	}
}

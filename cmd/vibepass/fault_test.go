package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/openapitest"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// checkinAnswer is one answer the fault test's load got.
type checkinAnswer struct {
	user      string
	status    int
	body      string
	sessionID string // of a 200
	seq       int64  // order in which the answers arrived
	departs   error  // how the answer departs from the OpenAPI document, if it does
}

// faultLoad checks users in through a running proxy, a few at a time, as an app
// would: a user whose check-in gets 503 tries again, backing off, until
// it is answered 200, and then the next user is taken. Every answer is kept.
type faultLoad struct {
	base, secret string
	users        []string
	next         atomic.Int64 // index of the next user to take
	seq          atomic.Int64
	ok, failed   atomic.Int64 // 200s and non-200s so far

	mu      sync.Mutex
	answers []checkinAnswer
}

// run is one worker; it returns when stop is closed or the users run out.
func (l *faultLoad) run(t *testing.T, stop <-chan struct{}) {
	client := &http.Client{Timeout: time.Minute}
	for {
		i := l.next.Add(1) - 1
		if int(i) >= len(l.users) {
			return
		}
		token, err := devtoken.Mint([]byte(l.secret), devtoken.Request{Sub: l.users[i]}, time.Now())
		if err != nil {
			t.Error(err)
			return
		}
		// A client's exponential back-off (not a wait for a condition): it also keeps one
		// user's retries under user_per_minute however long the outage lasts.
		for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
			select {
			case <-stop:
				return
			default:
			}
			if l.checkin(client, l.users[i], token).status == http.StatusOK {
				break
			}
			select {
			case <-stop:
				return
			case <-time.After(backoff):
			}
		}
	}
}

// checkin sends one check-in and records its answer.
func (l *faultLoad) checkin(client *http.Client, user, token string) checkinAnswer {
	a := checkinAnswer{user: user}
	req, _ := http.NewRequest("POST", l.base+"/api/checkin", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		a.body = "transport error: " + err.Error()
	} else {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.body = resp.StatusCode, string(raw)
		a.departs = openapitest.Check(req, resp.StatusCode, resp.Header, raw)
		var ok struct {
			Data struct {
				SessionID string `json:"session_id"`
			} `json:"data"`
		}
		if a.status == http.StatusOK && json.Unmarshal(raw, &ok) == nil {
			a.sessionID = ok.Data.SessionID
		}
	}
	a.seq = l.seq.Add(1)
	if a.status == http.StatusOK {
		l.ok.Add(1)
	} else {
		l.failed.Add(1)
	}
	l.mu.Lock()
	l.answers = append(l.answers, a)
	l.mu.Unlock()
	return a
}

// waitFor polls cond until it holds, failing t after a minute (a slow machine's margin).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeSurvivesDatabaseCrash runs check-ins through `serve` (direct upstream)
// while Postgres is killed with `pg_ctl stop -m immediate` and started again. Every
// answer is a 200 or a 503 in the spec's shape; every 200 names a session that is in
// the database after crash recovery (no answered check-in is lost); and the same
// serve process answers 200 again once the database is back.
func TestServeSurvivesDatabaseCrash(t *testing.T) {
	ctx := context.Background()
	// Durable commits, as on a real database: with fsync off a crash may lose them.
	cluster := localdbtest.NewCluster(t, localdb.Options{Fsync: true})
	db, err := cluster.NewDatabase(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	load := &faultLoad{secret: devtoken.NewSecret(), users: storetest.AddUsers(t, db.SuperuserURL, 2000)}

	addr := freeAddr(t)
	t.Setenv("CMD_FAULT_DB_URL", db.AuthenticatorURL)
	t.Setenv("CMD_FAULT_JWT_SECRET", load.secret)
	t.Setenv("MODEL_API_KEY", devtoken.NewSecret())
	path := filepath.Join(t.TempDir(), "config.toml")
	config := fmt.Sprintf("listen = %q\n[upstream]\nkind = \"postgres\"\ndb_url = \"env(CMD_FAULT_DB_URL)\"\n"+
		"[auth]\njwt_secret = \"env(CMD_FAULT_JWT_SECRET)\"\n[log]\nlevel = \"warn\"\n", addr)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	exit := make(chan int, 1)
	var serveErr strings.Builder
	go func() { exit <- runMain(serveCtx, []string{"serve", "--config", path}, io.Discard, &serveErr) }()
	load.base = "http://" + addr
	waitFor(t, "serve to answer /healthz", func() bool {
		resp, err := http.Get(load.base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	stop := make(chan struct{})
	var workers sync.WaitGroup
	for range 4 {
		workers.Add(1)
		go func() { defer workers.Done(); load.run(t, stop) }()
	}
	finished := false
	finish := func() {
		if !finished {
			finished = true
			close(stop)
			workers.Wait()
		}
	}
	defer finish()

	waitFor(t, "check-ins before the crash", func() bool { return load.ok.Load() >= 50 })
	if err := cluster.Crash(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "answers while the database is down", func() bool { return load.failed.Load() >= 5 })
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := load.seq.Load()
	okBefore := load.ok.Load()
	waitFor(t, "check-ins after the restart", func() bool { return load.ok.Load() >= okBefore+50 })
	finish()

	conn, err := pgx.Connect(ctx, db.SuperuserURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var unavailable, answered, afterRestart int
	for _, a := range load.answers {
		if a.departs != nil {
			t.Error(a.departs)
		}
		switch a.status {
		case http.StatusOK:
			answered++
			if a.seq > restarted {
				afterRestart++
			}
			var found bool
			if err := conn.QueryRow(ctx, `select exists (select from public.sessions where id = $1 and user_id = $2)`,
				a.sessionID, a.user).Scan(&found); err != nil {
				t.Fatalf("looking up session %q of answer %s: %v", a.sessionID, a.body, err)
			}
			if !found {
				t.Errorf("check-in of %s was answered 200 (%s) but its session is not in the database", a.user, a.body)
			}
		case http.StatusServiceUnavailable:
			unavailable++
			var body map[string]any
			err := json.Unmarshal([]byte(a.body), &body)
			msg, _ := body["error"].(string)
			if code, _ := body["code"].(string); err != nil || len(body) != 3 || code == "" || body["success"] != false || msg == "" {
				t.Errorf("503 not in the spec's shape: %s", a.body)
			}
		default:
			t.Errorf("check-in of %s answered %d %s: want only 200 or 503", a.user, a.status, a.body)
		}
	}
	t.Logf("%d check-ins answered 200 (%d after the restart), %d answered 503", answered, afterRestart, unavailable)
	if unavailable == 0 || afterRestart == 0 {
		t.Errorf("want 503s during the outage and 200s after it, got %d and %d", unavailable, afterRestart)
	}
	if status, body := call(t, "GET", load.base+"/readyz", ""); status != 200 {
		t.Errorf("readyz after the restart = %d %v", status, body)
	}

	stopServe()
	if code := <-exit; code != 0 {
		t.Errorf("serve exit %d after the stop, want 0; stderr: %s", code, serveErr.String())
	}
}

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
	"testing"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

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
	load := &checkinLoad{secret: devtoken.NewSecret(), users: storetest.AddUsers(t, db.PostgresURL, 2000)}

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
	base := "http://" + addr
	load.bases = []string{base}
	waitFor(t, "serve to answer /healthz", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	finish := load.start(t, 4)
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

	load.assertAnswers(t, db.PostgresURL)
	var unavailable, answered, afterRestart int
	for _, a := range load.answers {
		switch a.status {
		case http.StatusOK:
			answered++
			if a.seq > restarted {
				afterRestart++
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
	if status, body := call(t, "GET", base+"/readyz", ""); status != 200 {
		t.Errorf("readyz after the restart = %d %v", status, body)
	}

	stopServe()
	if code := <-exit; code != 0 {
		t.Errorf("serve exit %d after the stop, want 0; stderr: %s", code, serveErr.String())
	}
}

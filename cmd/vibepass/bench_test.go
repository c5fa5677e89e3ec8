package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestMain lets this test binary stand in for vibepass when the benchmark starts the
// proxy process (it re-executes itself with benchChildEnv set); otherwise it runs the
// tests and then stops the shared local database.
func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) != "" {
		os.Exit(runMain(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	localdbtest.Main(m)
}

// TestBenchSmallRunMeasuresEveryFigure runs the benchmark's whole code path at a small
// scale: load, tokens, the proxy process, every figure and the table. It asserts that
// nothing failed and everything was measured, never how fast.
func TestBenchSmallRunMeasuresEveryFigure(t *testing.T) {
	db := localdbtest.Unseeded(t)
	cfg := benchConfig{users: 1000, passesPerUser: 100, concurrency: 4, duration: 2 * time.Second, rounds: 2, logf: t.Logf}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	report, err := runBench(ctx, cfg, db.SuperuserURL, db.AuthenticatorURL)
	if err != nil {
		t.Fatal(err)
	}
	if n := report.errors(); n > 0 {
		t.Errorf("%d calls failed, first: %v", n, report.firstError())
	}
	for _, f := range []pairedFigure{report.checkin, report.status} {
		for side, res := range map[string]loadResult{"proxy": f.proxy, "direct": f.direct} {
			if res.ops == 0 || res.rate() <= 0 || res.percentile(99) <= 0 {
				t.Errorf("%s %s: not measured: %d ops in %s", f.name, side, res.ops, res.elapsed)
			}
		}
	}
	if len(report.active) != len(activeUsersClients) {
		t.Fatalf("active users measured at %d client counts, want %d", len(report.active), len(activeUsersClients))
	}
	for _, a := range report.active {
		want := a.clients * cfg.rounds
		if len(a.proxy) != want || len(a.fetch) != want || len(a.jsonAgg) != want {
			t.Errorf("active users, %d clients: %d/%d/%d reads, want %d each", a.clients, len(a.proxy), len(a.fetch), len(a.jsonAgg), want)
		}
		if a.peakRSS == 0 || a.bodySize == 0 {
			t.Errorf("active users, %d clients: peak RSS %d, body %d bytes", a.clients, a.peakRSS, a.bodySize)
		}
	}

	var out bytes.Buffer
	report.print(&out)
	t.Log("\n" + out.String())
	for _, row := range []string{"check-in, 4 clients", "session status, 4 clients", "active users, 1 client", "active users, 4 client", "proxy peak RSS, 4 model", "errors, all runs"} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("the table has no %q row", row)
		}
	}
}

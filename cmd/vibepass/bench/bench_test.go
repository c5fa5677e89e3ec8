package bench

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func TestMain(m *testing.M) { localdbtest.Main(m) }

// buildVibepass builds the vibepass command into a temporary directory: the benchmark
// measures its `serve`, as a process of its own.
func buildVibepass(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vibepass")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/vibepass/vibepass/cmd/vibepass").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBenchSmallRunMeasuresEveryFigure runs the benchmark's whole code path at a small
// scale: load, tokens, the proxy process, every figure and the table. It asserts that
// nothing failed and everything was measured, never how fast.
func TestBenchSmallRunMeasuresEveryFigure(t *testing.T) {
	db := localdbtest.Unseeded(t)
	cfg := Config{Binary: buildVibepass(t), Users: 1000, PassesPerUser: 100, Concurrency: 4, Duration: 2 * time.Second, Rounds: 2, Logf: t.Logf}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	report, err := Run(ctx, cfg, db.AdminURL, db.AuthenticatorURL)
	if err != nil {
		t.Fatal(err)
	}
	if n := report.Errors(); n > 0 {
		t.Errorf("%d calls failed, first: %v", n, report.FirstError())
	}
	if len(report.user) != 6 {
		t.Fatalf("%d user endpoint figures, want 6", len(report.user))
	}
	for _, f := range report.user {
		for side, res := range map[string]loadResult{"proxy": f.proxy, "direct": f.direct} {
			if res.ops == 0 || res.rate() <= 0 || res.percentile(99) <= 0 {
				t.Errorf("%s %s: not measured: %d ops in %s", f.name, side, res.ops, res.elapsed)
			}
		}
	}
	if len(report.limits) != 2 {
		t.Fatalf("%d limit figures, want check-in and session status", len(report.limits))
	}
	for _, l := range report.limits {
		for side, res := range map[string]loadResult{"direct": l.direct, l.bareName: l.bare} {
			if res.ops == 0 || res.rate() <= 0 {
				t.Errorf("%s limit, %s: not measured: %d ops in %s", l.name, side, res.ops, res.elapsed)
			}
		}
	}
	if len(report.active) != len(activeUsersClients) {
		t.Fatalf("active users measured at %d client counts, want %d", len(report.active), len(activeUsersClients))
	}
	for _, a := range report.active {
		want := a.clients * cfg.Rounds
		if len(a.proxy) != want || len(a.fetch) != want || len(a.jsonAgg) != want {
			t.Errorf("active users, %d clients: %d/%d/%d reads, want %d each", a.clients, len(a.proxy), len(a.fetch), len(a.jsonAgg), want)
		}
		if a.peakRSS == 0 || a.bodySize == 0 {
			t.Errorf("active users, %d clients: peak RSS %d, body %d bytes", a.clients, a.peakRSS, a.bodySize)
		}
	}
	checkFeedMeasured(t, report.feed)

	var out bytes.Buffer
	report.Print(&out)
	t.Log("\n" + out.String())
	for _, row := range []string{"check-in, HS256, 4 clients", "check-in, ES256, 4 clients", "session status, HS256, 4 clients",
		"session status, ES256, 4 clients", "session status, HS256, polling, 4 clients", "session status, ES256, polling, 4 clients",
		"check-in renewal vs its bare statement", "session status vs its bare statement", "active users, 1 client", "active users, 4 client", "proxy peak RSS, 4 model",
		"feed event latency, 1 subscriber(s)", "feed event latency, 1000 subscriber(s)", "proxy RSS per 1000 idle subscribers",
		"proxy CPU per 1000 idle subscribers", "Postgres CPU per change poll", "active users 304, 1 client", "errors, all runs"} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("the table has no %q row", row)
		}
	}
}

// checkFeedMeasured asserts that every presence feed figure was measured: latency
// with 1 and feedSubscribers streams, every event at every stream, the idle streams'
// cost against none, change polls and 304 reads.
func checkFeedMeasured(t *testing.T, f feedFigure) {
	t.Helper()
	if len(f.latency) != 2 || f.latency[0].subscribers != 1 || f.latency[1].subscribers != feedSubscribers {
		t.Fatalf("feed latency measured with %+v subscribers, want 1 and %d", f.latency, feedSubscribers)
	}
	for _, l := range f.latency {
		if l.events == 0 || len(l.latencies) != l.events*l.subscribers || l.percentile(99) <= 0 {
			t.Errorf("feed latency, %d subscribers: %d events, %d deliveries, p99 %s", l.subscribers, l.events, len(l.latencies), l.percentile(99))
		}
	}
	if i := f.idle; !i.measured || i.rssBase == 0 || i.rss == 0 || i.window <= 0 || i.subscribers != feedSubscribers {
		t.Errorf("idle subscribers not measured: %+v", i)
	}
	for name, l := range map[string]loadResult{"change poll": f.poll, "304 read": f.notModified} {
		if l.ops == 0 || l.percentile(50) <= 0 || l.elapsed <= 0 {
			t.Errorf("%s: not measured: %d ops in %s", name, l.ops, l.elapsed)
		}
	}
}

// TestSQLBenchMeasuresEveryFigure runs `vibepass bench --sql` at a small scale: every
// function and its bare statement run under pgbench without a failed transaction.
func TestSQLBenchMeasuresEveryFigure(t *testing.T) {
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		t.Fatal("pgbench not found: apt-get install postgresql-15 (or run .ci/run, which installs every tool the tests need)")
	}
	db := localdbtest.Unseeded(t)
	cfg := Config{Users: 200, PassesPerUser: 2, Concurrency: 2, Duration: time.Second, Logf: t.Logf}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report, err := RunSQL(ctx, cfg, db.AdminURL, db.AuthenticatorURL, pgbench)
	if err != nil {
		t.Fatal(err)
	}
	if len(report.pgbench) != len(pgbenchFigures()) {
		t.Fatalf("%d figures, want %d", len(report.pgbench), len(pgbenchFigures()))
	}
	for _, f := range report.pgbench {
		if f.fnRes.scripts == 0 || f.bareRes.scripts == 0 || f.fnRes.failed+f.bareRes.failed > 0 {
			t.Errorf("%s: %+v against %+v", f.name, f.fnRes, f.bareRes)
		}
	}
	var out bytes.Buffer
	report.Print(&out)
	t.Log("\n" + out.String())
}

// TestMixSmallRunSearchesAndSoaks runs `bench --mix --soak` at a small scale, time
// compressed so that a few seconds hold arrivals, renewals, checkouts and passes running
// out: the search, then the soak at half the capacity it found. It asserts that every
// target and every sample was measured and that nothing failed, never how fast, nor
// the soak's verdict on this shared machine (TestSoakJudgeFindsAGrowingSeries tests it).
func TestMixSmallRunSearchesAndSoaks(t *testing.T) {
	db := localdbtest.Unseeded(t)
	mix := DefaultMix
	mix.Compress, mix.Start, mix.Precision, mix.Warmup, mix.Workers = 120, 100, 1, time.Second, 16
	mix.Soak, mix.Sample = 10*time.Second, 500*time.Millisecond
	cfg := Config{Binary: buildVibepass(t), Users: 300, PassesPerUser: 2, Duration: 3 * time.Second, Mix: &mix, Logf: t.Logf}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	report, err := RunMix(ctx, cfg, db.AdminURL, db.AuthenticatorURL)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	report.Print(&out)
	t.Log("\n" + out.String())
	if len(report.steps) == 0 {
		t.Fatal("the search measured no target")
	}
	for _, s := range report.steps {
		u := s.w.users()
		if u.ops == 0 || s.present == 0 || s.live < s.present/2 || s.cpu.proxy <= 0 || s.pg.samples == 0 {
			t.Errorf("target %d: %d calls, %d present, %d live passes, proxy CPU %s, %d pg_stat_activity samples", s.target, u.ops, s.present, s.live, s.cpu.proxy, s.pg.samples)
		}
		if n, first := s.w.errs(); n > 0 {
			t.Errorf("target %d: %d errors, first: %v", s.target, n, first)
		}
	}
	if report.soak == nil {
		t.Fatalf("no soak after the search (capacity %d)", report.capacity)
	}
	if n := len(report.soak.rows); n != 20 {
		t.Fatalf("%d soak samples, want 20", n)
	}
	for i, r := range report.soak.rows {
		if r[colRSS] <= 0 || r[colGoroutines] <= 0 || r[colFDs] <= 0 || r[colBackends] <= 0 || r[colSubscribers] != 1 || r[colSessionsRows] <= 0 || r[colRate] <= 0 {
			t.Errorf("sample %d not measured: %v", i, r)
		}
	}
	if n := report.soak.errors(); n > 0 {
		t.Errorf("%d errors in the soak, first: %v", n, report.soak.firstErr)
	}
	for _, row := range []string{"capacity: ", "present  live passes", "soak: ", "proxy RSS MB", "presence_log rows", "bounds: "} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("the report has no %q", row)
		}
	}
}

// TestSoakOneMinute is the soak CI runs (docs/performance.md, "Hours, not seconds"): the
// built `vibepass bench --mix --soak` on a database of its own, for 60 s after a 30 s
// warm-up. The command exits non-zero when a series of the proxy or Postgres keeps growing
// over the second half, or on any error, and so fails this test. Time runs 30x faster for
// the users (a 2-minute pass, 1-minute sessions), so the minute holds arrivals, renewals,
// checkouts, passes running out and the presence log's trimming; 2,000 simulated present
// users make the requests of 60,000 real ones. The load generator runs in the child, not
// under the race detector.
func TestSoakOneMinute(t *testing.T) {
	bin := buildVibepass(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "bench", "--mix", "--soak", "60s", "--present", "2000", "--compress", "30",
		"--sample", "4s", "--warmup", "30s", "--workers", "64", "--soak-out", t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Log("\n" + string(out))
	if err != nil {
		t.Fatalf("the soak failed: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(string(out), "\nsoak passed\n") {
		t.Errorf("the soak exited 0 without passing")
	}
}

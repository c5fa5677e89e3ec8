package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass/client"
	"github.com/vibepass/vibepass/internal/netns"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// The faults' serve configuration: what "within the configured timeouts" means below.
const (
	faultUpstreamTimeout = 2 * time.Second // timeouts.upstream: one call to the database
	faultReadyTimeout    = time.Second     // timeouts.ready: the /readyz ping
	// faultMargin is what an answer may take beyond its timeout on a loaded machine: far
	// less than the 10 s a fault lasts, so an answer that waits for the fault to pass fails.
	faultMargin = 2 * time.Second
	// faultLength is how long the link stays cut or lossy.
	faultLength = 10 * time.Second
)

// The test hosts' addresses: each namespace has addresses and ports of its own, so
// fixed ones cannot clash with the machine's or another test's.
const (
	faultDBIP     = "10.0.0.1" // Postgres, on port 5432
	faultProxyDB  = "10.0.0.2" // serve's side of the database link
	faultProxyIP  = "10.0.1.2" // serve's side of the clients' link, port 3000
	faultClientIP = "10.0.1.1" // the load's, the followers' and the readiness probe's
)

// TestServeThroughNetworkFaults runs Postgres and `vibepass serve` (the image's build,
// direct upstream) on hosts of their own, network namespaces joined by veth links, with
// check-ins, checkouts, readiness probes and two feed followers coming from a third,
// and breaks what lies between serve and the database in turn: the link cut for 10 s
// (set down on the database's side), 30% of its packets dropped each way for 10 s
// (nftables, numgen random), Postgres stopped with a fast shutdown and started again,
// and Postgres killed (pg_ctl stop -m immediate) and started again (crash recovery,
// with durable commits). Through each:
//   - every call is answered within timeouts.upstream, and /readyz within
//     timeouts.ready (plus a loaded machine's margin): nothing waits for the fault to pass;
//   - every 200 has its row in the database afterwards, and a call refused with an error
//     that says nothing was done (503) and not asked again changed nothing; a 504 (the
//     database did not answer in time) may have been done, so the load asks again;
//   - /readyz answers 503 while the database is cut off or down, and 200 once it is
//     back, from the same serve process;
//   - the followers (the Go client's Follow; one has its stream cut as each fault
//     begins and resumes with Last-Event-ID) see every change the database logged
//     after their list, each once, in order.
func TestServeThroughNetworkFaults(t *testing.T) {
	ctx := context.Background()
	hosts := newFaultNet(t)
	// Durable commits, as on a real database: with fsync off a crash may lose them.
	cluster := localdbtest.NewCluster(t, localdb.Options{Fsync: true, Netns: hosts.db})
	db, err := cluster.NewDatabase(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	secret, key := devtoken.NewSecret(), devtoken.NewSecret()
	srv := startReplicaOn(t, imageBuild(t, nil), map[string]string{
		"VIBEPASS_UPSTREAM_KIND":                   "postgres",
		"VIBEPASS_UPSTREAM_DB_URL":                 fmt.Sprintf("postgresql://authenticator@%s:%d/%s?sslmode=disable", faultDBIP, cluster.Port(), db.Name),
		"VIBEPASS_AUTH_JWT_SECRET":                 secret,
		"VIBEPASS_LOG_LEVEL":                       "warn",
		"VIBEPASS_METRICS_LISTEN":                  faultProxyIP + ":9464",
		"VIBEPASS_TIMEOUTS_UPSTREAM":               faultUpstreamTimeout.String(),
		"VIBEPASS_TIMEOUTS_READY":                  faultReadyTimeout.String(),
		"VIBEPASS_FEED_HEARTBEAT":                  "1s",
		"VIBEPASS_RATE_LIMIT_MODEL_KEY_PER_MINUTE": "100000", // the followers' resumes are not what is tested
		"MODEL_API_KEY":                            key,
	}, replicaHost{netns: hosts.proxy, ip: faultProxyIP, port: "3000", client: hosts.client(nil)})
	pid := srv.cmd.Process.Pid

	// Every phase's users, made before the followers list: a checkout removes the user's
	// join from the log, which a follower that had seen it could not square.
	const perPhase = 2000
	users := storetest.AddUsers(t, db.PostgresURL, 4*perPhase)
	checkouts := map[string]bool{}
	var checkedIn []string
	for i := 3; i < len(users); i += 4 { // every fourth user checks out
		checkouts[users[i]] = true
		checkedIn = append(checkedIn, users[i])
	}
	storetest.CheckIn(t, db.PostgresURL, checkedIn)
	followers := []*feedWatch{watchFeed(t, hosts, srv.base, key), watchFeed(t, hosts, srv.base, key)}

	ip := func(args ...string) func() error { return func() error { return netns.IP(args...) } }
	nft := func(script string) func() error {
		return func() error { return netns.Do(hosts.db, func() error { return runNft(script) }) }
	}
	restart := func() error { return cluster.Restart(ctx) }
	phases := []struct {
		name         string
		inject, mend func() error
		down         bool // readiness must go 503 before the fault is mended
		hold         bool // the fault lasts faultLength; else it is mended once readiness is 503
	}{
		{name: "link cut", inject: ip("-n", hosts.db, "link", "set", "db0", "down"), mend: ip("-n", hosts.db, "link", "set", "db0", "up"), down: true, hold: true},
		{name: "30% packet loss", inject: nft(dropRules), mend: nft("delete table inet vibepass_fault"), hold: true},
		{name: "fast restart", inject: cluster.Stop, mend: restart, down: true},
		{name: "immediate restart", inject: func() error { return cluster.Crash(ctx) }, mend: restart, down: true},
	}
	for i, p := range phases {
		t.Run(strings.ReplaceAll(p.name, " ", "_"), func(t *testing.T) {
			load := &userLoad{bases: []string{srv.base}, secret: secret, users: users[i*perPhase : (i+1)*perPhase], checkouts: checkouts,
				client: hosts.client(nil), pace: 25 * time.Millisecond}
			finish := load.start(t, 4)
			defer finish()
			probe := probeReadiness(t, srv)
			defer probe.stop()
			load.waitOK(t, "calls answered 200 before the fault", 20)
			streamsBefore := followers[0].f.Streams()
			followers[0].cut() // its stream breaks as the fault begins: it must resume
			injected, mended := time.Now(), time.Time{}
			if err := p.inject(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if mended.IsZero() { // failed mid-fault: the next phases need the database back
					_ = p.mend()
				}
			}()
			if p.down {
				probe.waitFor(t, http.StatusServiceUnavailable, injected)
			}
			if p.hold {
				<-time.After(faultLength - time.Since(injected)) // the fault's own length, the thing under test
			}
			mended = time.Now()
			if err := p.mend(); err != nil {
				t.Fatal(err)
			}
			probe.waitFor(t, http.StatusOK, mended)
			load.waitOK(t, "calls answered 200 after the fault", 20)
			finish()
			probe.stop()

			statuses, unsettled := load.assertAnswers(t, db.PostgresURL)
			slowest := assertAnswerTimes(t, load.answers)
			probes := probe.assert(t)
			var lines []string
			for _, f := range followers {
				lines = append(lines, f.assertComplete(t, db.PostgresURL))
			}
			if followers[0].f.Streams() <= streamsBefore {
				t.Errorf("the follower whose stream was cut opened no new stream")
			}
			select {
			case <-srv.exited:
				t.Fatalf("serve exited (%v):\n%s", srv.err, srv.log.String())
			default:
			}
			t.Logf("%s (%s, serve pid %d throughout): %d calls (%s), %d users left unsettled; slowest answer %s (bound %s)",
				p.name, mended.Sub(injected).Round(time.Millisecond), pid, len(load.answers), formatStatuses(statuses), unsettled,
				slowest.Round(time.Millisecond), faultUpstreamTimeout+faultMargin)
			t.Logf("%s: /readyz %s", p.name, probes)
			for _, l := range lines {
				t.Logf("%s: %s", p.name, l)
			}
		})
	}
	if code := srv.stop(t); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0:\n%s", code, srv.log.String())
	}
}

// dropRules drops 30% of the packets in and out of the database's link, at random:
// this kernel has no netem qdisc, and nftables' numgen does it (nft(8), NUMGEN EXPRESSION).
const dropRules = `table inet vibepass_fault {
	chain in { type filter hook input priority 0; iifname "db0" numgen random mod 10 < 3 drop; }
	chain out { type filter hook output priority 0; oifname "db0" numgen random mod 10 < 3 drop; }
}`

// runNft runs `nft -f -` with script, in the caller's network namespace.
func runNft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return errors.New("nft not found: apt-get install nftables")
	}
	if err != nil {
		return fmt.Errorf("nft: %w: %s", err, out)
	}
	return nil
}

// faultNet is three network namespaces joined by veth links, the test's own hosts:
// db (Postgres, on faultDBIP) - proxy (serve) - clients (the test's requests). The
// clients reach the database only through serve, and the db link can be cut alone.
type faultNet struct{ db, proxy, clients string }

// newFaultNet makes the namespaces and links; they are removed when t ends.
func newFaultNet(t *testing.T) *faultNet {
	t.Helper()
	removeStaleNamespaces()
	prefix := fmt.Sprintf("vpf%d-", os.Getpid())
	n := &faultNet{db: prefix + "db", proxy: prefix + "proxy", clients: prefix + "clients"}
	for _, name := range []string{n.db, n.proxy, n.clients} {
		if err := netns.Add(name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := netns.Delete(name); err != nil {
				t.Error(err)
			}
		})
	}
	for _, link := range []struct{ ns, dev, addr, peerNS, peerDev, peerAddr string }{
		{n.db, "db0", faultDBIP, n.proxy, "px0", faultProxyDB},
		{n.clients, "cl0", faultClientIP, n.proxy, "px1", faultProxyIP},
	} {
		steps := [][]string{
			{"link", "add", link.dev, "netns", link.ns, "type", "veth", "peer", "name", link.peerDev, "netns", link.peerNS},
			{"-n", link.ns, "addr", "add", link.addr + "/30", "dev", link.dev},
			{"-n", link.peerNS, "addr", "add", link.peerAddr + "/30", "dev", link.peerDev},
			{"-n", link.ns, "link", "set", link.dev, "up"},
			{"-n", link.peerNS, "link", "set", link.peerDev, "up"},
		}
		for _, args := range steps {
			if err := netns.IP(args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	return n
}

// client returns an HTTP client whose connections come from the clients' namespace;
// conns, when not nil, keeps them so a test can cut them.
func (n *faultNet) client(conns *connSet) *http.Client {
	dial := netns.Dialer(n.clients, &net.Dialer{})
	if conns != nil {
		dial = conns.track(dial)
	}
	// A minute: an answer that takes longer than the bounds asserted shows as slow, not cut short.
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 8}}
}

// removeStaleNamespaces deletes the namespaces of test processes that are gone (killed
// before their cleanup ran).
func removeStaleNamespaces() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		pid, _, ok := strings.Cut(strings.TrimPrefix(e.Name(), "vpf"), "-")
		if !strings.HasPrefix(e.Name(), "vpf") || !ok {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", pid)); errors.Is(err, fs.ErrNotExist) {
			_ = netns.Delete(e.Name())
		}
	}
}

// connSet keeps the connections of a dialer, so that a test can cut them.
type connSet struct {
	mu    sync.Mutex
	conns []net.Conn
}

// track wraps dial so that its connections are kept.
func (s *connSet) track(dial func(context.Context, string, string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err == nil {
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
		}
		return conn, err
	}
}

// cut closes every connection made so far.
func (s *connSet) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// feedWatch is a model following the presence feed with the Go client, keeping the
// cursor of every change it is handed.
type feedWatch struct {
	f     *client.Follower
	conns *connSet

	mu      sync.Mutex
	start   int64   // the first list's cursor
	cursors []int64 // of each change after it
	relists int     // lists after the first: the feed said the cursor was lost
}

// watchFeed starts following base's feed from the clients' namespace, once its first
// list has come; it stops when t ends.
func watchFeed(t *testing.T, hosts *faultNet, base, key string) *feedWatch {
	t.Helper()
	w := &feedWatch{conns: &connSet{}}
	c, err := client.New(base, client.WithAPIKey(key), client.WithHTTPClient(hosts.client(w.conns)))
	if err != nil {
		t.Fatal(err)
	}
	w.f = c.Follow(context.Background(), client.WithBackoff(100*time.Millisecond, time.Second), client.WithHeartbeatTimeout(5*time.Second))
	listed := make(chan struct{})
	go func() {
		first := true
		for {
			ev, err := w.f.Next(context.Background())
			if err != nil {
				return
			}
			cursor, _ := strconv.ParseInt(ev.Cursor, 10, 64)
			w.mu.Lock()
			switch {
			case ev.Kind == client.EventList && first:
				w.start, first = cursor, false
				close(listed)
			case ev.Kind == client.EventList:
				w.relists++
			default:
				w.cursors = append(w.cursors, cursor)
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.f.Close)
	select {
	case <-listed:
	case <-time.After(time.Minute):
		t.Fatal("the follower's first list never came")
	}
	return w
}

// cut breaks the follower's stream, as a network between it and serve would.
func (w *feedWatch) cut() { w.conns.cut() }

// assertComplete waits until the follower has seen every change the database logged
// after its list, each once and in order, failing t if that does not happen within a
// minute or the follower had to list again; it returns a line for the log. The log is
// read again on each look: a call answered 504 may still commit after the load has
// stopped, its answer lost (what a 504 warns of).
func (w *feedWatch) assertComplete(t *testing.T, superuserURL string) string {
	t.Helper()
	db := storetest.OpenPool(t, superuserURL)
	var got, logged []int64
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		rows, err := db.Query(context.Background(), `select seq from vibepass.presence_log where seq > $1 order by seq`, w.start)
		if err == nil {
			logged, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		}
		if err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		got = slices.Clone(w.cursors)
		w.mu.Unlock()
		if slices.Equal(got, logged) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the follower saw %d changes after cursor %d, the log holds %d: %s", len(got), w.start, len(logged), firstDifference(got, logged))
			break
		}
	}
	w.mu.Lock()
	relists := w.relists
	w.mu.Unlock()
	if relists > 0 {
		t.Errorf("the follower had to list again %d times: the feed lost its cursor", relists)
	}
	return fmt.Sprintf("follower from cursor %d: %d changes, cursors %s, each once in order as logged; %d streams opened",
		w.start, len(got), cursorRange(got), w.f.Streams())
}

// firstDifference says where two cursor sequences part.
func firstDifference(got, want []int64) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("change #%d is cursor %d, want %d (before it: %v)", i, got[i], want[i], got[max(0, i-3):i])
		}
	}
	return fmt.Sprintf("one is a start of the other (%d and %d long)", len(got), len(want))
}

// cursorRange shows a sequence of cursors by its ends.
func cursorRange(c []int64) string {
	if len(c) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d..%d", c[0], c[len(c)-1])
}

// assertAnswerTimes fails t for every answer slower than timeouts.upstream and the
// margin, and returns the slowest time.
func assertAnswerTimes(t *testing.T, answers []userAnswer) time.Duration {
	t.Helper()
	var slowest time.Duration
	late := 0
	for _, a := range answers {
		slowest = max(slowest, a.took)
		if a.took > faultUpstreamTimeout+faultMargin {
			if late++; late <= 5 {
				t.Errorf("%s of %s took %s, past timeouts.upstream (%s) and a margin of %s: %d %s",
					a.path, a.user, a.took.Round(time.Millisecond), faultUpstreamTimeout, faultMargin, a.status, a.body)
			}
		}
	}
	if late > 5 {
		t.Errorf("and %d more answers past the bound", late-5)
	}
	return slowest
}

// formatStatuses shows how many answers had each status, "0" for no answer.
func formatStatuses(n map[int]int) string {
	var parts []string
	for _, status := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%d× %d", n[status], status))
	}
	return strings.Join(parts, ", ")
}

// readinessProbe asks a replica's /readyz over and over, as an orchestrator's probe
// does, and keeps every answer.
type readinessProbe struct {
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once

	mu      sync.Mutex
	samples []probeSample
}

// probeSample is one /readyz answer.
type probeSample struct {
	at     time.Time // when it was asked
	status int       // 0: no answer
	took   time.Duration
}

// probeReadiness starts probing r every 50 ms until stop.
func probeReadiness(t *testing.T, r *replica) *readinessProbe {
	p := &readinessProbe{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(p.stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			s := probeSample{at: time.Now()}
			if resp, err := r.client.Get(r.base + "/readyz"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				s.status = resp.StatusCode
			}
			s.took = time.Since(s.at)
			p.mu.Lock()
			p.samples = append(p.samples, s)
			p.mu.Unlock()
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// stop ends the probing and waits for it; it may be called again.
func (p *readinessProbe) stop() {
	p.once.Do(func() { close(p.done) })
	<-p.stopped
}

// waitFor waits for an answer with status to a probe sent after since.
func (p *readinessProbe) waitFor(t *testing.T, status int, since time.Time) {
	t.Helper()
	waitFor(t, fmt.Sprintf("/readyz to answer %d", status), func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, s := range slices.Backward(p.samples) {
			if s.at.Before(since) {
				return false
			}
			if s.status == status {
				return true
			}
		}
		return false
	})
}

// assert fails t for an answer that is not 200 or 503, or slower than timeouts.ready
// and the margin, and returns a line for the log: the statuses in the order they
// came, each with how many answers in a row had it.
func (p *readinessProbe) assert(t *testing.T) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	type run struct{ status, n int }
	var runs []run
	var slowest time.Duration
	for _, s := range p.samples {
		slowest = max(slowest, s.took)
		if s.status != http.StatusOK && s.status != http.StatusServiceUnavailable {
			t.Errorf("/readyz answered %d after %s", s.status, s.took)
		}
		if s.took > faultReadyTimeout+faultMargin {
			t.Errorf("/readyz took %s, past timeouts.ready (%s) and a margin of %s", s.took.Round(time.Millisecond), faultReadyTimeout, faultMargin)
		}
		if len(runs) == 0 || runs[len(runs)-1].status != s.status {
			runs = append(runs, run{s.status, 0})
		}
		runs[len(runs)-1].n++
	}
	shown := make([]string, len(runs))
	for i, r := range runs {
		shown[i] = fmt.Sprintf("%d×%d", r.n, r.status)
	}
	return fmt.Sprintf("%s (%d transitions; slowest answer %s, bound %s)", strings.Join(shown, " → "), len(runs)-1,
		slowest.Round(time.Millisecond), faultReadyTimeout+faultMargin)
}

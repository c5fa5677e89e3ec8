package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass/cmd/vibepass/config"
)

// Targets of the mix (issue 24): a target of present users is sustained when all hold.
const (
	mixUserP99Target = 100 * time.Millisecond // every user call, from when it was due
	mixFeedP99Target = time.Second            // a check-in's or checkout's 200 to its event at the follower
	// mixMaxSteps bounds the search, whatever the precision.
	mixMaxSteps = 16
	// mixMinPresent is the smallest target the search tries.
	mixMinPresent = 10
	// poolSlack is the share of bench users beyond the present ones and the live passes of
	// those who left that arrivals pick from.
	poolSlack = 0.15
)

// MixReport is what `bench --mix` measured: every target the search tried, the
// capacity it found, and the soak when one ran.
type MixReport struct {
	machine  *Report
	cfg      Config
	steps    []mixStep
	capacity int    // the largest target sustained, 0 if none
	bounded  string // why the search stopped short of a failing target, "" when it found one
	soak     *soakReport
}

// mixStep is one target of the search, measured at its steady state.
type mixStep struct {
	target  int
	present int // present at the end of the measured window
	live    int // live passes then (present users and those who left without a checkout)
	w       *mixWindow
	cpu     cpuTimes
	busy    time.Duration // every CPU of the machine, so that what else ran shows
	pg      pgActivity
	pass    bool
	why     string // what failed
}

// Failed says why the run should exit non-zero, or "" when it should not: a soak whose
// series grew or that had errors. A search that found a failing target did its job.
func (m *MixReport) Failed() string {
	if m.soak != nil {
		return m.soak.failed()
	}
	if m.capacity == 0 {
		return "no target was sustained"
	}
	return ""
}

// RunMix loads the bench users, starts the proxy on authURL and plays the mix: the search
// for the largest number of present users this machine sustains, or a soak.
func RunMix(ctx context.Context, cfg Config, superURL, authURL string) (*MixReport, error) {
	m := cfg.Mix
	machine, err := newReport(ctx, cfg, superURL)
	if err != nil {
		return nil, err
	}
	rep := &MixReport{machine: machine, cfg: cfg}
	r, err := startRun(ctx, cfg, authURL, superURL, config.DefaultPoolMaxConns, 2)
	if err != nil {
		return nil, err
	}
	defer r.close()
	r.userClient.MaxConns = m.Workers
	start := time.Now()
	r.signer.ttl = max(r.signer.ttl, 2*m.Soak+2*time.Hour)
	if err := r.signer.mint(r.users, es256); err != nil {
		return nil, err
	}
	cfg.Logf("minted %d ES256 tokens in %s", len(r.users), time.Since(start).Round(time.Second/10))
	restore, err := setSetting(ctx, superURL, "pass_length", m.scaled(m.PassLength))
	if err != nil {
		return nil, err
	}
	defer restore()

	g, err := newMixGen(ctx, r, *m, superURL)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	if err := g.start(ctx); err != nil {
		return nil, err
	}

	if m.Soak == 0 || m.Present == 0 {
		if err := rep.search(ctx, g, superURL); err != nil {
			return nil, err
		}
	}
	if m.Soak > 0 {
		n := m.Present
		if n == 0 {
			if n = int(float64(rep.capacity) * m.At); n < 1 {
				return nil, fmt.Errorf("no capacity to soak at: %s", rep.Failed())
			}
		}
		if rep.soak, err = soak(ctx, g, superURL, n); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return rep, nil
}

// setSetting sets an interval column of vibepass.settings and returns what puts it back.
func setSetting(ctx context.Context, superURL, column string, d time.Duration) (func(), error) {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var old string
	q := fmt.Sprintf("update vibepass.settings s set %[1]s = make_interval(secs => $1) where s.singleton returning (select %[1]s::text from vibepass.settings)", column)
	if err := conn.QueryRow(ctx, q, d.Seconds()).Scan(&old); err != nil {
		return nil, fmt.Errorf("setting vibepass.settings.%s: %w", column, err)
	}
	return func() {
		conn, err := pgx.Connect(context.Background(), superURL)
		if err == nil {
			_, err = conn.Exec(context.Background(), fmt.Sprintf("update vibepass.settings s set %s = $1::interval where s.singleton", column), old)
			conn.Close(context.Background())
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: could not put vibepass.settings.%s back to %s: %v\n", column, old, err)
		}
	}, nil
}

// maxPresent is the most present users the loaded bench users can carry, with the live
// passes of those who left and room for arrivals.
func (m MixConfig) maxPresent(users int) int {
	return int(float64(users) / (1 + m.rates().ghosts + poolSlack))
}

// UsersFor returns how many bench users a mix of present users needs.
func (m MixConfig) UsersFor(present int) int {
	return int(float64(present)*(1+m.rates().ghosts+poolSlack)) + 1
}

// search doubles the target from Start until one fails, then bisects between the last
// target sustained and the first that failed, until they are within Precision.
func (rep *MixReport) search(ctx context.Context, g *mixGen, superURL string) error {
	m := rep.cfg.Mix
	top := m.maxPresent(len(g.users))
	lo, hi := 0, 0
	n := min(m.Start, top)
	for len(rep.steps) < mixMaxSteps && ctx.Err() == nil {
		s, err := rep.measure(ctx, g, superURL, n)
		if err != nil {
			return err
		}
		rep.steps = append(rep.steps, s)
		if s.pass {
			lo = n
		} else {
			hi = n
		}
		switch {
		case hi == 0 && n >= top:
			rep.bounded = fmt.Sprintf("every target passed up to %d, the most %d bench users carry (--users)", n, len(g.users))
			rep.capacity = lo
			return nil
		case hi == 0:
			n = min(2*n, top)
		case lo == 0:
			if n /= 2; n < mixMinPresent {
				return nil
			}
		case float64(hi) <= float64(lo)*(1+m.Precision):
			rep.capacity = lo
			return nil
		default:
			n = (lo + hi) / 2
		}
	}
	rep.capacity = lo
	if len(rep.steps) == mixMaxSteps {
		rep.bounded = fmt.Sprintf("stopped after %d targets", mixMaxSteps)
	}
	return nil
}

// measure moves the mix to n present users, lets it settle for the warm-up and measures
// it for Config.Duration.
func (rep *MixReport) measure(ctx context.Context, g *mixGen, superURL string, n int) (mixStep, error) {
	cfg := rep.cfg
	s := mixStep{target: n}
	start := time.Now()
	if err := g.setTarget(ctx, n); err != nil {
		return s, err
	}
	cfg.Logf("mix: %d present users (set in %s); warming up for %s", n, time.Since(start).Round(time.Millisecond), cfg.Mix.Warmup)
	if !sleep(ctx, cfg.Mix.Warmup) {
		return s, ctx.Err()
	}
	g.swapWindow()
	sampler, err := startPgSampler(ctx, superURL)
	if err != nil {
		return s, err
	}
	busy := machineBusy()
	s.cpu = g.r.measureCPU(func() { sleep(ctx, cfg.Duration) })
	s.busy = machineBusy() - busy
	s.w = g.swapWindow()
	s.pg = sampler.stop()
	s.present = g.presentNow()
	if s.live, err = countLivePasses(ctx, g.admin); err != nil {
		return s, err
	}
	s.judge()
	u := s.w.users()
	errs, _ := s.w.errs()
	cfg.Logf("mix: %d present, %d live passes: %.0f user req/s, p99 %s ms (%s), feed p99 %s ms, %d errors; CPU cores proxy %.2f Postgres %.2f load %.2f other %.2f; Postgres backends %s; %s",
		s.present, s.live, u.rate(), ms(u.percentile(99)), s.w.byCall(), ms(s.w.feedPercentile(99)), errs,
		cores(s.cpu.proxy, s.w.elapsed), cores(s.cpu.postgres, s.w.elapsed), cores(s.cpu.client, s.w.elapsed), cores(max(0, s.busy-s.cpu.proxy-s.cpu.postgres-s.cpu.client), s.w.elapsed), s.pg.top(4), met(s.pass))
	return s, nil
}

// judge decides whether the step met the targets, and if not, why.
func (s *mixStep) judge() {
	var why []string
	u := s.w.users()
	if p := u.percentile(99); p >= mixUserP99Target {
		why = append(why, fmt.Sprintf("user p99 %s ms", ms(p)))
	}
	if p := s.w.feedPercentile(99); p >= mixFeedP99Target {
		why = append(why, fmt.Sprintf("feed p99 %s ms", ms(p)))
	}
	if n, first := s.w.errs(); n > 0 {
		why = append(why, fmt.Sprintf("%d errors (first: %v)", n, first))
	}
	if u.ops == 0 || len(s.w.feed) == 0 {
		why = append(why, "nothing measured")
	}
	s.pass = len(why) == 0
	s.why = strings.Join(why, "; ")
}

// marginalCPU fits the proxy's and Postgres's cores against the present users over every
// target measured (least squares): what one more present user costs, apart from what the
// run costs whatever the load (the feed's polls, the model's reads of few rows, background
// work), which the CPU per request at a small capacity includes.
func (m *MixReport) marginalCPU() (fixed, perUser float64, ok bool) {
	var n, sx, sy, sxx, sxy float64
	for _, s := range m.steps {
		x, y := float64(s.present), cores(s.cpu.proxy+s.cpu.postgres, s.w.elapsed)
		n, sx, sy, sxx, sxy = n+1, sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	d := n*sxx - sx*sx
	if n < 3 || d == 0 {
		return 0, 0, false
	}
	perUser = (n*sxy - sx*sy) / d
	return (sy - perUser*sx) / n, perUser, true
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// livePassesSQL counts the live passes.
const livePassesSQL = "select count(*) from public.sessions s where s.status = 'active' and s.expires_at > pg_catalog.now()"

// countLivePasses counts the live passes.
func countLivePasses(ctx context.Context, conn *pgx.Conn) (int, error) {
	var n int
	err := conn.QueryRow(ctx, livePassesSQL).Scan(&n)
	return n, err
}

// cores returns d of CPU time over elapsed as cores kept busy.
func cores(d, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return d.Seconds() / elapsed.Seconds()
}

// machineBusy returns the CPU time every process of the machine has used (/proc/stat:
// all but idle and iowait), so that what ran besides the three parties shows.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

// pgActivity is what a sampler of pg_stat_activity saw: the client backends busy in a
// statement, by what they waited on ("CPU" when nothing).
type pgActivity struct {
	samples int
	busy    map[string]int
}

// top returns the busiest states as "CPU 1.20, LWLock:WALWrite 0.30" (mean backends).
func (a pgActivity) top(n int) string {
	if a.samples == 0 {
		return "-"
	}
	type kv struct {
		k string
		v int
	}
	var all []kv
	total := 0
	for k, v := range a.busy {
		all = append(all, kv{k, v})
		total += v
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	parts := []string{fmt.Sprintf("%.2f busy", float64(total)/float64(a.samples))}
	for _, e := range all[:min(n, len(all))] {
		parts = append(parts, fmt.Sprintf("%s %.2f", e.k, float64(e.v)/float64(a.samples)))
	}
	return strings.Join(parts, ", ")
}

// pgSampler reads pg_stat_activity every pgSampleEvery until stopped.
type pgSampler struct {
	cancel context.CancelFunc
	done   chan pgActivity
}

// pgSampleEvery is how often the sampler looks.
const pgSampleEvery = 200 * time.Millisecond

// startPgSampler starts sampling on a connection of its own.
func startPgSampler(ctx context.Context, superURL string) (*pgSampler, error) {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &pgSampler{cancel: cancel, done: make(chan pgActivity, 1)}
	go func() {
		defer conn.Close(context.Background())
		a := pgActivity{busy: map[string]int{}}
		t := time.NewTicker(pgSampleEvery)
		defer t.Stop()
		for {
			rows, err := conn.Query(ctx, `select coalesce(a.wait_event_type || ':' || a.wait_event, 'CPU') from pg_catalog.pg_stat_activity a
				where a.backend_type = 'client backend' and a.state = 'active' and a.pid <> pg_catalog.pg_backend_pid()`)
			if err == nil {
				waits, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err == nil {
					a.samples++
					for _, w := range waits {
						a.busy[w]++
					}
				}
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				s.done <- a
				return
			}
		}
	}()
	return s, nil
}

// stop ends the sampling and returns what it saw.
func (s *pgSampler) stop() pgActivity {
	s.cancel()
	return <-s.done
}

// Print writes the model, every target and the capacity, and the soak when one ran.
func (m *MixReport) Print(w io.Writer) {
	c, mix := m.cfg, m.cfg.Mix
	fmt.Fprintf(w, "vibepass bench --mix: %d bench users (%d past passes each), ES256 tokens, %d load workers, %s warm-up and %s measured per target\n",
		c.Users, c.PassesPerUser, mix.Workers, mix.Warmup, c.Duration)
	m.machine.printMachine(w)
	top := m.capacity
	if len(m.steps) == 0 && m.soak != nil {
		top = m.soak.present
	}
	mix.describe(w, top)
	if len(m.steps) > 0 {
		fmt.Fprintf(w, "\nsearch: the most present users with user calls p99 < %s, feed events p99 < %s and no errors (targets doubled, then bisected to %.0f%%)\n\n",
			mixUserP99Target, mixFeedP99Target, mix.Precision*100)
		m.printSteps(w)
		m.printCapacity(w)
	}
	if m.soak != nil {
		fmt.Fprintln(w)
		m.soak.print(w)
	}
}

// printSteps writes one row per target, in the order tried.
func (m *MixReport) printSteps(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "present\tlive passes\tuser req/s (in/renew/status/out)\tuser p50/p99 ms\tfeed p50/p99 ms\tsummary/list p99 ms\terrors\tCPU cores proxy/Postgres/load/other\tPostgres backends (mean)\tmet?")
	for _, s := range m.steps {
		u := s.w.users()
		var perKind []string
		for _, c := range s.w.calls {
			perKind = append(perKind, fmt.Sprintf("%.0f", c.rate()))
		}
		el := s.w.elapsed
		other := s.busy - s.cpu.proxy - s.cpu.postgres - s.cpu.client
		errs, _ := s.w.errs()
		verdict := met(s.pass)
		if !s.pass {
			verdict += ": " + s.why
		}
		fmt.Fprintf(tw, "%d\t%d\t%.0f (%s)\t%s / %s\t%s / %s\t%s / %s\t%d\t%.2f/%.2f/%.2f/%.2f\t%s\t%s\n",
			s.present, s.live, u.rate(), strings.Join(perKind, "/"), ms(u.percentile(50)), ms(u.percentile(99)),
			ms(s.w.feedPercentile(50)), ms(s.w.feedPercentile(99)), ms(s.w.summary.percentile(99)), ms(s.w.list.percentile(99)), errs,
			cores(s.cpu.proxy, el), cores(s.cpu.postgres, el), cores(s.cpu.client, el), cores(max(0, other), el), s.pg.top(3), verdict)
	}
	tw.Flush()
}

// printCapacity writes the capacity, the CPU of each party there, and what the goal
// would take at that CPU per request.
func (m *MixReport) printCapacity(w io.Writer) {
	mix := m.cfg.Mix
	if m.capacity == 0 {
		fmt.Fprintln(w, "\ncapacity: no target was sustained")
		return
	}
	var at mixStep
	for _, s := range m.steps {
		if s.pass && s.target == m.capacity {
			at = s
		}
	}
	u := at.w.users()
	fmt.Fprintf(w, "\ncapacity: %d present users", m.capacity)
	if mix.Compress != 1 {
		fmt.Fprintf(w, " simulated (%.0f real users' requests, time compressed %gx)", float64(m.capacity)*mix.Compress, mix.Compress)
	}
	if m.bounded != "" {
		fmt.Fprintf(w, " at least: %s", m.bounded)
	}
	fmt.Fprintln(w)
	el := at.w.elapsed
	perReq := at.cpu.perOp(u.ops)
	fmt.Fprintf(w, "  there: %.0f user req/s; CPU cores: proxy %.2f, Postgres %.2f, load generator %.2f, everything else %.2f (of %d)\n",
		u.rate(), cores(at.cpu.proxy, el), cores(at.cpu.postgres, el), cores(at.cpu.client, el),
		cores(max(0, at.busy-at.cpu.proxy-at.cpu.postgres-at.cpu.client), el), runtime.NumCPU())
	fmt.Fprintf(w, "  CPU per user request (µs: proxy/Postgres/load generator): %s, the model's reads and the feed included\n", perReq.micros())
	fmt.Fprintf(w, "  by call: %s\n", at.w.byCall())
	goal := mix.rates().total() * goalPresent
	need := goal * (perReq.proxy + perReq.postgres).Seconds()
	fmt.Fprintf(w, "  goal: %d present users = %.0f req/s, which at this CPU per request needs %.1f cores for the proxy and Postgres alone (%.1fx this machine)\n",
		goalPresent, goal, need, need/float64(runtime.NumCPU()))
	if fixed, perUser, ok := m.marginalCPU(); ok {
		fmt.Fprintf(w, "  marginal: %.2f cores of proxy and Postgres per 100,000 present users, %.2f fixed (least squares over the %d targets); the goal would need %.1f cores\n",
			perUser*100_000, fixed, len(m.steps), fixed+perUser*goalPresent)
	}
	fmt.Fprintf(w, "  Postgres backends at capacity (mean over %d samples of pg_stat_activity): %s\n", at.pg.samples, at.pg.top(6))
}

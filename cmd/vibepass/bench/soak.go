package bench

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// seriesKind is how a soak judges a series.
type seriesKind uint8

const (
	mustStayFlat   seriesKind = iota // fails when it keeps growing
	deadTuples                       // fails when it keeps growing and ends past autovacuum's trigger
	untilRetention                   // grows until pass_retention, then must stay flat
	errorCount                       // fails on any error
	informative                      // printed only
)

// soakSeries is one series the soak samples.
type soakSeries struct {
	name  string
	kind  seriesKind
	floor float64 // the least growth over the second half that counts (see trend.go)
	// perWorker adds to floor for each load worker: the proxy holds a connection, its
	// goroutine and buffers for each worker that had a request in flight at once, and a
	// burst opens more of them for a while.
	perWorker float64
	live      int // for dead tuples: the column of the table's live rows
}

// The soak's series, in the order of its columns.
const (
	colRSS = iota
	colGoroutines
	colFDs
	colPoolInUse
	colPoolWaits
	colBackends
	colLivePasses
	colSessionsRows
	colSessionsMB
	colSessionsDead
	colLogRows
	colLogMB
	colLogDead
	colSubscribers
	colErrors
	colRate
	colUserP99
	colFeedP99
	numCols
)

// soakColumns describe each column.
var soakColumns = [numCols]soakSeries{
	colRSS:          {name: "proxy RSS MB", kind: mustStayFlat, floor: 8, perWorker: 1.0 / 16},
	colGoroutines:   {name: "goroutines", kind: mustStayFlat, floor: 20, perWorker: 2},
	colFDs:          {name: "open fds", kind: mustStayFlat, floor: 10, perWorker: 1},
	colPoolInUse:    {name: "pool conns in use", kind: mustStayFlat, floor: 3},
	colPoolWaits:    {name: "pool waits", kind: mustStayFlat, floor: 10},
	colBackends:     {name: "Postgres backends", kind: mustStayFlat, floor: 3},
	colLivePasses:   {name: "live passes", kind: mustStayFlat, floor: 10},
	colSessionsRows: {name: "sessions rows", kind: untilRetention, floor: 100},
	colSessionsMB:   {name: "sessions MB", kind: untilRetention, floor: 1},
	colSessionsDead: {name: "sessions dead", kind: deadTuples, live: colSessionsRows},
	colLogRows:      {name: "presence_log rows", kind: mustStayFlat, floor: 100},
	colLogMB:        {name: "presence_log MB", kind: mustStayFlat, floor: 1},
	colLogDead:      {name: "presence_log dead", kind: deadTuples, live: colLogRows},
	colSubscribers:  {name: "feed subscribers", kind: mustStayFlat, floor: 1},
	colErrors:       {name: "errors", kind: errorCount},
	colRate:         {name: "user req/s", kind: informative},
	colUserP99:      {name: "user p99 ms", kind: informative},
	colFeedP99:      {name: "feed p99 ms", kind: informative},
}

// soakReport is what a soak sampled and found.
type soakReport struct {
	present     int
	workers     int
	duration    time.Duration
	sample      time.Duration
	feedHistory time.Duration
	// passRetention and passLength are vibepass.settings' during the run: an ended pass
	// is deleted passRetention after it ends, at most passLength after it began.
	passRetention, passLength time.Duration
	compress                  float64
	rates                     mixRates
	at                        []time.Duration // since the soak began
	rows                      [][numCols]float64
	firstErr                  error
	verdicts                  [numCols]string
	failures                  []string
	// autovacuum's trigger: dead tuples past threshold + scale × live rows start a vacuum,
	// at its next look, naptime later at most.
	vacuumThreshold, vacuumScale, vacuumNaptime float64
}

// errors returns the errors counted over the soak.
func (s *soakReport) errors() int {
	n := 0
	for _, r := range s.rows {
		n += int(r[colErrors])
	}
	return n
}

// failed says why the soak failed, or "".
func (s *soakReport) failed() string {
	return strings.Join(s.failures, "; ")
}

// soak runs the mix at n present users for the configured duration, sampling every
// Sample, then judges each series. feed_history is set for the soak (to a quarter of it
// unless told), so that the presence log reaches its bound within the first half, and
// pass_retention to the least it may be, so that a run longer than twice pass_retention
// shows the passes' bound too.
func soak(ctx context.Context, g *mixGen, superURL string, n int) (*soakReport, error) {
	m := g.m
	rep := &soakReport{present: n, workers: m.Workers, duration: m.Soak, sample: m.Sample, feedHistory: m.FeedHistory,
		passLength: m.scaled(m.PassLength), compress: m.Compress, rates: m.rates()}
	if rep.feedHistory <= 0 {
		rep.feedHistory = m.Soak / 4
	}
	rep.passRetention = max(rep.feedHistory, minPassRetention)
	// In this order, and put back in the reverse one, so that every step keeps
	// pass_retention >= feed_history.
	for _, set := range []struct {
		column string
		d      time.Duration
	}{{"feed_history", rep.feedHistory}, {"pass_retention", rep.passRetention}} {
		restore, err := setSetting(ctx, superURL, set.column, set.d)
		if err != nil {
			return nil, err
		}
		defer restore()
	}
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, `select current_setting('autovacuum_vacuum_threshold')::float8, current_setting('autovacuum_vacuum_scale_factor')::float8,
		extract(epoch from current_setting('autovacuum_naptime')::interval)::float8`).
		Scan(&rep.vacuumThreshold, &rep.vacuumScale, &rep.vacuumNaptime); err != nil {
		return nil, err
	}
	if err := g.setTarget(ctx, n); err != nil {
		return nil, err
	}
	g.r.cfg.Logf("soak: %d present users; warming up for %s", n, m.Warmup)
	if !sleep(ctx, m.Warmup) {
		return nil, ctx.Err()
	}
	g.r.cfg.Logf("soak: %d present users for %s, sampling every %s, feed_history %s", n, m.Soak, m.Sample, rep.feedHistory)
	g.swapWindow()
	var waitsBefore float64
	if fams, err := g.r.proxy.metrics(ctx); err == nil {
		waitsBefore = sumMetric(fams, "vibepass_pool_waits_total", "", "")
	}
	start := time.Now()
	for next := m.Sample; next <= m.Soak; next += m.Sample {
		if !sleep(ctx, time.Until(start.Add(next))) {
			return nil, ctx.Err()
		}
		row, waits, err := g.soakSample(ctx, conn, waitsBefore)
		if err != nil {
			return nil, err
		}
		waitsBefore = waits
		rep.at = append(rep.at, time.Since(start).Round(time.Second))
		rep.rows = append(rep.rows, row.values)
		if rep.firstErr == nil {
			rep.firstErr = row.firstErr
		}
		g.r.cfg.Logf("soak %s: RSS %.1f MB, %0.f goroutines, %0.f fds, %.0f live passes, presence_log %.0f rows, %.0f errors",
			rep.at[len(rep.at)-1], row.values[colRSS], row.values[colGoroutines], row.values[colFDs], row.values[colLivePasses], row.values[colLogRows], row.values[colErrors])
	}
	rep.judge()
	if m.SoakOut != "" {
		if err := rep.write(m.SoakOut); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// minPassRetention is the least vibepass.settings.pass_retention may be (00_settings.sql):
// presence_history()'s reach.
const minPassRetention = time.Hour

// settled is when the passes table stops growing: the first passes of the run have
// ended (passLength at most) and been kept passRetention since.
func (s *soakReport) settled() time.Duration {
	return s.passLength + s.passRetention
}

// soakRow is one sample.
type soakRow struct {
	values   [numCols]float64
	firstErr error
}

// soakSample reads every series once: the proxy's process and metrics, Postgres's
// activity and tables, and the load measured since the last sample. The rows are counted
// (n_live_tup is an estimate that autovacuum's analyze resets), the dead tuples taken
// from the statistics. waitsBefore is the
// pool waits counter at the last sample; the counter now is returned.
func (g *mixGen) soakSample(ctx context.Context, conn *pgx.Conn, waitsBefore float64) (soakRow, float64, error) {
	var row soakRow
	v := &row.values
	rss, err := g.r.proxy.rss()
	if err != nil {
		return row, 0, err
	}
	v[colRSS] = float64(rss) / (1 << 20)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", g.r.proxy.cmd.Process.Pid))
	if err != nil {
		return row, 0, err
	}
	v[colFDs] = float64(len(fds))
	fams, err := g.r.proxy.metrics(ctx)
	if err != nil {
		return row, 0, err
	}
	v[colGoroutines] = sumMetric(fams, "go_goroutines", "", "")
	v[colPoolInUse] = sumMetric(fams, "vibepass_pool_connections", "state", "in_use")
	waits := sumMetric(fams, "vibepass_pool_waits_total", "", "")
	v[colPoolWaits] = waits - waitsBefore
	v[colSubscribers] = sumMetric(fams, "vibepass_event_subscribers", "", "")

	var sessionsBytes, logBytes float64
	err = conn.QueryRow(ctx, `select
		(select count(*) from pg_catalog.pg_stat_activity a where a.backend_type = 'client backend'),
		(`+livePassesSQL+`),
		(select count(*) from public.sessions), t.n_dead_tup, pg_catalog.pg_total_relation_size(t.relid),
		(select count(*) from vibepass.presence_log), l.n_dead_tup, pg_catalog.pg_total_relation_size(l.relid)
		from pg_catalog.pg_stat_user_tables t, pg_catalog.pg_stat_user_tables l
		where t.schemaname = 'public' and t.relname = 'sessions' and l.schemaname = 'vibepass' and l.relname = 'presence_log'`).
		Scan(&v[colBackends], &v[colLivePasses], &v[colSessionsRows], &v[colSessionsDead], &sessionsBytes,
			&v[colLogRows], &v[colLogDead], &logBytes)
	if err != nil {
		return row, 0, fmt.Errorf("reading Postgres's statistics: %w", err)
	}
	v[colBackends]-- // this connection
	v[colSessionsMB], v[colLogMB] = sessionsBytes/(1<<20), logBytes/(1<<20)

	w := g.swapWindow()
	u := w.users()
	errs, first := w.errs()
	v[colErrors], row.firstErr = float64(errs), first
	v[colRate] = u.rate()
	v[colUserP99] = u.percentile(99).Seconds() * 1000
	v[colFeedP99] = w.feedPercentile(99).Seconds() * 1000
	return row, waits, nil
}

// metrics reads the proxy's /metrics.
func (p *benchProxy) metrics(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// sumMetric adds up a gauge's or counter's values, only those whose label is value
// when label is not "".
func sumMetric(fams map[string]*dto.MetricFamily, name, label, value string) float64 {
	sum := 0.0
	for _, m := range fams[name].GetMetric() {
		if label != "" && !hasLabel(m, label, value) {
			continue
		}
		sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	return sum
}

// hasLabel reports whether the metric's label is value.
func hasLabel(m *dto.Metric, label, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == label {
			return l.GetValue() == value
		}
	}
	return false
}

// judge runs the trend test over the second half of each series; for the passes table,
// over the samples after it settled (and after the first half).
func (s *soakReport) judge() {
	half := len(s.rows) / 2
	if len(s.rows)-half < minTrendSamples {
		s.failures = append(s.failures, fmt.Sprintf("%d samples in the second half, too few to find a trend (at least %d: a longer --soak or a shorter --sample)",
			len(s.rows)-half, minTrendSamples))
	}
	for c, def := range soakColumns {
		from := s.testedFrom(c)
		ts := make([]float64, 0, len(s.rows)-from)
		ys := make([]float64, 0, len(s.rows)-from)
		for i, r := range s.rows[from:] {
			ts = append(ts, s.at[from+i].Seconds())
			ys = append(ys, r[c])
		}
		t := findTrend(ts, ys)
		perHour := t.slope * 3600
		switch def.kind {
		case mustStayFlat:
			s.judgeFlat(c, t, "")
		case untilRetention:
			if len(ys) < minTrendSamples {
				s.verdicts[c] = fmt.Sprintf("grows until pass_retention, not judged: it settles %s into the run (pass_length %s + pass_retention %s), too late for this one (a --soak of at least %s judges it)",
					s.settled(), s.passLength, s.passRetention, 2*s.settled())
				continue
			}
			s.judgeFlat(c, t, fmt.Sprintf(" after it settled at %s", s.settled()))
		case deadTuples:
			// Past the trigger, autovacuum looks within a naptime and then needs a while to
			// get through the table: dead tuples may pile up for two naptimes at the rate seen.
			last := s.rows[len(s.rows)-1]
			trigger := s.vacuumThreshold + s.vacuumScale*last[def.live]
			bound := 1.5*trigger + max(0, t.slope)*2*s.vacuumNaptime
			s.verdicts[c] = fmt.Sprintf("bounded by autovacuum (at most %.0f: 1.5 x its trigger %.0f + two naptimes at %+.3g/h)", bound, trigger, perHour)
			if t.rising(0) && last[c] > bound {
				s.verdicts[c] = fmt.Sprintf("GROWS past what autovacuum allows (%.0f against %.0f, %+.3g/h)", last[c], bound, perHour)
				s.failures = append(s.failures, def.name+" keeps growing past what autovacuum allows")
			}
		case errorCount:
			s.verdicts[c] = "none"
			if n := s.errors(); n > 0 {
				s.verdicts[c] = fmt.Sprintf("%d (first: %v)", n, s.firstErr)
				s.failures = append(s.failures, fmt.Sprintf("%d errors (first: %v)", n, s.firstErr))
			}
		case informative:
			s.verdicts[c] = fmt.Sprintf("median %s, highest %s (not judged: it follows the machine's other load)", formatSample(t.median), formatSample(slices.Max(ys)))
		}
	}
}

// testedFrom returns the first sample the trend test reads for column c: the second
// half's, and for the passes table none before it settled.
func (s *soakReport) testedFrom(c int) int {
	from := len(s.rows) / 2
	if soakColumns[c].kind == untilRetention {
		for from < len(s.at) && s.at[from] < s.settled() {
			from++
		}
	}
	return from
}

// judgeFlat fails column c when its trend t is growth; when is how the verdict names
// the samples tested.
func (s *soakReport) judgeFlat(c int, t trend, when string) {
	def := soakColumns[c]
	perHour := t.slope * 3600
	s.verdicts[c] = fmt.Sprintf("flat%s (Theil-Sen %+.3g/h, Mann-Kendall p %.2g)", when, perHour, t.p)
	if t.rising(def.floor + def.perWorker*float64(s.workers)) {
		s.verdicts[c] = fmt.Sprintf("GROWS%s: %+.3g over the samples tested (%+.3g/h, Mann-Kendall p %.2g)", when, t.growth, perHour, t.p)
		s.failures = append(s.failures, def.name+" keeps growing")
	}
}

// print writes the series, sample by sample, and the verdicts.
func (s *soakReport) print(w io.Writer) {
	fmt.Fprintf(w, "soak: %d present users for %s after a warm-up, sampled every %s; for the run vibepass.settings.feed_history = %s (default 1 day),\n",
		s.present, s.duration, s.sample, s.feedHistory)
	fmt.Fprintf(w, "  pass_retention = %s (default 30 days), pass_length = %s: the passes table settles %s into the run\n",
		s.passRetention, s.passLength, s.settled())
	fmt.Fprintf(w, "growth test over the second half of each series: Mann-Kendall p < %g (one-sided) and a Theil-Sen slope that adds more than %.0f%% of the median (and the series' floor)\n\n",
		trendAlpha, trendShare*100)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "t\t")
	for _, c := range soakColumns {
		fmt.Fprintf(tw, "%s\t", c.name)
	}
	fmt.Fprintln(tw)
	for i, r := range s.rows {
		fmt.Fprintf(tw, "%s\t", s.at[i])
		for _, v := range r {
			fmt.Fprintf(tw, "%s\t", formatSample(v))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for c, def := range soakColumns {
		fmt.Fprintf(tw, "%s\t%s\n", def.name, s.verdicts[c])
	}
	tw.Flush()
	if len(s.rows) > 0 {
		s.printBounds(w)
	}
	verdict := "passed"
	if f := s.failed(); f != "" {
		verdict = "FAILED: " + f
	}
	fmt.Fprintf(w, "soak %s\n", verdict)
}

// printBounds states what keeps the presence log and the passes bounded, with this
// run's rates carried to the product's defaults.
func (s *soakReport) printBounds(w io.Writer) {
	last := s.rows[len(s.rows)-1]
	arrivals := float64(s.present) * s.rates.arrive * s.compress
	fmt.Fprintf(w, "\nbounds: the presence log keeps the changes of the last feed_history: %.0f rows at %s here. A pass that ends leaves one row (its\n", last[colLogRows], s.feedHistory)
	fmt.Fprintf(w, "  join and renewals go), so at the default 1 day and this load (%.1f new passes/s) it would hold about %.0f rows, and %.0f at %d present users.\n",
		arrivals, arrivals*86400+last[colLivePasses], s.rates.arrive*goalPresent*86400+goalPresent*(1+s.rates.ghosts), goalPresent)
	fmt.Fprintf(w, "  passes: an ended pass stays in public.sessions for vibepass.settings.pass_retention, then the tick deletes it: %.0f rows at\n", last[colSessionsRows])
	fmt.Fprintf(w, "  %s here. At this load %.0f new rows a day, %.0f at the default 30 days; at %d present users %.0f a day.\n",
		s.passRetention, arrivals*86400, arrivals*86400*30, goalPresent, s.rates.arrive*goalPresent*86400)
}

// formatSample prints a sample with a few significant digits.
func formatSample(v float64) string {
	switch {
	case math.Abs(v) >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

// write saves the series as soak.csv and a plot of each as soak.svg in dir.
func (s *soakReport) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "soak.csv"))
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	header := []string{"seconds"}
	for _, c := range soakColumns {
		header = append(header, c.name)
	}
	_ = cw.Write(header)
	for i, r := range s.rows {
		rec := []string{strconv.Itoa(int(s.at[i].Seconds()))}
		for _, v := range r {
			rec = append(rec, strconv.FormatFloat(v, 'g', 6, 64))
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "soak.svg"), s.svg(), 0o644)
}

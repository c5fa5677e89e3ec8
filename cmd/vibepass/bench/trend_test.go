package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestExactKendallP checks the exact distribution against hand counts: of the 5! orders
// of five values only the sorted one has S = 10, and of the 3! orders of three, S >= 1 holds
// for the three with at most one inversion.
func TestExactKendallP(t *testing.T) {
	for _, c := range []struct {
		n, s int
		want float64
	}{{5, 10, 1.0 / 120}, {3, 1, 3.0 / 6}, {3, 3, 1.0 / 6}, {4, -6, 1}} {
		if got := exactKendallP(c.n, c.s); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("n=%d, S>=%d: p %g, want %g", c.n, c.s, got, c.want)
		}
	}
}

// TestFindTrend tells a steady rise from a flat, noisy series and from a small drift.
func TestFindTrend(t *testing.T) {
	var ts, rising, flat, drift []float64
	for i := range 30 {
		x := float64(i * 10)
		wobble := float64((i*7919)%13) - 6 // deterministic noise in [-6, 6]
		ts = append(ts, x)
		rising = append(rising, 100+2*x+wobble) // +2 per second: +580 over the run
		flat = append(flat, 100+wobble)
		drift = append(drift, 1000+0.01*x+wobble/100) // rises every time, by 0.3 % over the run
	}
	if tr := findTrend(ts, rising); !tr.rising(1) || math.Abs(tr.slope-2) > 0.1 {
		t.Errorf("a steady rise: %+v, want rising at a slope near 2", tr)
	}
	if tr := findTrend(ts, flat); tr.rising(1) {
		t.Errorf("a flat series with noise: %+v, want not rising", tr)
	}
	if tr := findTrend(ts, drift); tr.p >= trendAlpha || tr.rising(1) {
		t.Errorf("a small drift: %+v, want significant but too small to count", tr)
	}
	// Ties (a constant series, a counter that moves rarely) use the normal approximation.
	constant := make([]float64, len(ts))
	if tr := findTrend(ts, constant); tr.p < 0.5 || tr.rising(0) {
		t.Errorf("a constant series: %+v", tr)
	}
}

// TestSoakJudgeFindsAGrowingSeries checks the soak's verdicts on made-up samples: a proxy
// whose goroutines climb fails, naming the series; the same run with them flat passes; and
// the passes table growing is reported, not failed, in a run too short for it to settle.
func TestSoakJudgeFindsAGrowingSeries(t *testing.T) {
	build := func(leak bool) *soakReport {
		s := &soakReport{present: 100, workers: 8, duration: time.Minute, sample: time.Second, passLength: 2 * time.Minute, passRetention: time.Hour, vacuumThreshold: 50, vacuumScale: 0.2, vacuumNaptime: 60}
		for i := range 20 {
			var r [numCols]float64
			r[colRSS], r[colGoroutines], r[colFDs], r[colBackends], r[colSubscribers] = 40, 60, 40, 12, 1
			r[colLogRows], r[colLogMB], r[colLivePasses] = 500, 1, 130
			r[colSessionsRows], r[colSessionsMB] = float64(1000+50*i), float64(1+i)
			if leak {
				r[colGoroutines] += float64(10 * i)
			}
			s.at = append(s.at, time.Duration(i+1)*time.Second)
			s.rows = append(s.rows, r)
		}
		s.judge()
		return s
	}
	if s := build(true); !strings.Contains(s.failed(), "goroutines keeps growing") || !strings.HasPrefix(s.verdicts[colGoroutines], "GROWS") {
		t.Errorf("goroutines +10 a sample: failures %q, verdict %q", s.failed(), s.verdicts[colGoroutines])
	}
	s := build(false)
	if s.failed() != "" {
		t.Errorf("every series flat but the passes: failed with %q", s.failed())
	}
	if !strings.HasPrefix(s.verdicts[colSessionsRows], "grows until pass_retention, not judged") {
		t.Errorf("sessions rows, in a run shorter than pass_retention: %q", s.verdicts[colSessionsRows])
	}
	short := &soakReport{rows: make([][numCols]float64, 6), at: make([]time.Duration, 6)}
	if short.judge(); !strings.Contains(short.failed(), "too few to find a trend") {
		t.Errorf("6 samples: %q, want too few", short.failed())
	}
}

// TestSoakJudgesThePassesOnceSettled checks that the passes table is judged over the
// samples after pass_length + pass_retention: growth there fails, growth before it does
// not.
func TestSoakJudgesThePassesOnceSettled(t *testing.T) {
	build := func(growsAfterSettling bool) *soakReport {
		s := &soakReport{workers: 8, sample: time.Minute, passLength: 6 * time.Minute, passRetention: time.Hour,
			vacuumThreshold: 50, vacuumScale: 0.2, vacuumNaptime: 60}
		for i := range 100 {
			at := time.Duration(i+1) * time.Minute
			var r [numCols]float64
			r[colRSS], r[colGoroutines], r[colFDs], r[colBackends], r[colSubscribers] = 40, 60, 40, 12, 1
			r[colLogRows], r[colLogMB], r[colLivePasses] = 500, 1, 130
			rows := 1000 * min(at, s.settled()).Minutes()
			if growsAfterSettling {
				rows = 1000 * at.Minutes()
			}
			r[colSessionsRows], r[colSessionsMB] = rows+float64(i%3), rows/8000
			s.at = append(s.at, at)
			s.rows = append(s.rows, r)
		}
		s.judge()
		return s
	}
	if s := build(false); s.failed() != "" || !strings.HasPrefix(s.verdicts[colSessionsRows], "flat after it settled at 1h6m0s") {
		t.Errorf("passes growing until 1h6m, flat after: failed %q, verdict %q", s.failed(), s.verdicts[colSessionsRows])
	}
	if s := build(true); !strings.Contains(s.failed(), "sessions rows keeps growing") || !strings.Contains(s.failed(), "sessions MB keeps growing") {
		t.Errorf("passes growing past pass_retention: failed %q", s.failed())
	}
}

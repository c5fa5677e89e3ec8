package bench

import (
	"math"
	"testing"
	"time"
)

// TestFeedMatcherPairsCallsWithEvents checks each way a call and its event meet: in
// order, the event first, a leave that stands for a check-in whose join the log dropped,
// and an event that never comes.
func TestFeedMatcherPairsCallsWithEvents(t *testing.T) {
	var got []time.Duration
	f := feedMatcher{pending: map[string][]pendingCall{}, early: map[string][]bool{}, onMatch: func(d time.Duration) { got = append(got, d) }}
	t0 := time.Now()

	f.expect("a", false, t0)
	f.arrived("a", false, t0.Add(300*time.Millisecond))
	f.arrived("b", false, t0) // before b's 200 was noted
	f.expect("b", false, t0.Add(time.Millisecond))
	// c checks in and out within one poll: the feed hands out only the leave.
	f.expect("c", false, t0)
	f.expect("c", true, t0.Add(100*time.Millisecond))
	f.arrived("c", true, t0.Add(600*time.Millisecond))
	if want := []time.Duration{300 * time.Millisecond, 0, 500 * time.Millisecond}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("latencies %v, want %v", got, want)
	}
	if n, err := f.sweep(t0.Add(time.Hour)); n != 0 {
		t.Errorf("%d calls left unmatched (%v), want none", n, err)
	}

	f.expect("d", false, t0)
	if n, _ := f.sweep(t0.Add(-time.Second)); n != 0 {
		t.Errorf("a call younger than the sweep counted missing")
	}
	if n, err := f.sweep(t0.Add(time.Second)); n != 1 || err == nil {
		t.Errorf("a call whose event never came: %d missing (%v), want 1", n, err)
	}
}

// TestMixRatesArithmetic checks the model's rates against the formulas in docs/performance.md
// for the defaults.
func TestMixRatesArithmetic(t *testing.T) {
	r := DefaultMix.rates()
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > want*1e-3 {
			t.Errorf("%s: %g, want %g", name, got, want)
		}
	}
	q := math.Exp(-55.0 / 30)
	near("renewals per session", r.renewals, q/(1-q))
	near("status asks per hour", r.status*3600, 60/(15*(1-math.Exp(-10.0/15))))
	near("check-ins per hour", (r.arrive+r.renew)*3600, 2*(1+q/(1-q)))
	near("checkouts per hour", r.checkout*3600, 2*0.75)
	near("live passes of those gone, per present user", r.ghosts, 0.25*(60-(30-55*q/(1-q)))/30)
	near("requests per present user per second", r.total(), 12.1/3600)
}

// TestBulkJoinsStartAtTheSteadyState checks that users made present at once renew and ask
// their status at the model's steady rates from the first minute: a target is measured
// after a short warm-up, long before a whole status interval or renewal cycle has passed.
func TestBulkJoinsStartAtTheSteadyState(t *testing.T) {
	m := DefaultMix
	r := m.rates()
	g := &mixGen{m: m}
	const draws = 200_000
	window := 5 * time.Minute
	renewing, asking := 0, 0
	for range draws {
		// A renewal happens if the user is still here: their time left is exponential too.
		if next := time.Duration(m.stationaryPass(false)) - m.RenewMargin; next < window && next < time.Duration(exp(m.Session)) {
			renewing++
		}
		if time.Duration(residual(g.statusGap, int64(m.StatusEvery))) < window {
			asking++
		}
	}
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > want*0.05 {
			t.Errorf("%s in the first %s: %.4f of the users, want %.4f", name, window, got, want)
		}
	}
	near("renewals", float64(renewing)/draws, r.renew*window.Seconds())
	// The status asks: the first comes within the window for this share of the users.
	near("status asks", float64(asking)/draws, 1-integralResidualTail(m, window))
}

// integralResidualTail returns P(residual > w) for the status intervals min(T, Exp(F)):
// the integral from w to T of P(X > x) dx over E[X], with P(X > x) = exp(-x/F) below T.
func integralResidualTail(m MixConfig, w time.Duration) float64 {
	f, tt := m.FocusEvery.Seconds(), m.StatusEvery.Seconds()
	return f * (math.Exp(-w.Seconds()/f) - math.Exp(-tt/f)) / (f * (1 - math.Exp(-tt/f)))
}

package bench

import (
	"fmt"
	"io"
	"math"
	"time"
)

// MixConfig is the traffic of `vibepass bench --mix`: what each present user's page does
// (as the JS client of issue 23 does it), and how the search and the soak run.
type MixConfig struct {
	// Session is the mean time a user stays; session lengths are exponential.
	Session time.Duration
	// StatusEvery is the page's timer: it asks GET /api/session at most this long after
	// its last ask.
	StatusEvery time.Duration
	// FocusEvery is the mean time between visibility or focus events (a Poisson process),
	// each of which asks GET /api/session at once and restarts the timer.
	FocusEvery time.Duration
	// PassLength is vibepass.settings.pass_length.
	PassLength time.Duration
	// RenewMargin: a present page checks in again when less than this remains of its pass.
	RenewMargin time.Duration
	// NoCheckout is the fraction of sessions that end without a checkout (no pagehide, or
	// its request lost): the pass runs out on its own.
	NoCheckout float64
	// SummaryEvery and ListEvery are the model's reads: the summary, and the whole list
	// with If-None-Match.
	SummaryEvery, ListEvery time.Duration
	// Compress runs every user's clock this many times faster: pass, session, timer and
	// focus intervals divided by it, so each simulated user makes Compress times the
	// requests of a real one. 1 is real time.
	Compress float64
	// Start is the search's first target of present users.
	Start int
	// Precision ends the bisection once the failing target is within 1+Precision of the
	// passing one.
	Precision float64
	// Warmup is how long each target runs before it is measured (Config.Duration).
	Warmup time.Duration
	// Workers is how many requests the load generator has in flight at most.
	Workers int

	// Soak, when positive, runs the mix this long at one target instead of searching.
	Soak time.Duration
	// Present is the soak's target; 0 searches first and soaks at At times the capacity.
	Present int
	// At is the fraction of the capacity the soak runs at when Present is 0.
	At float64
	// Sample is the soak's sampling interval.
	Sample time.Duration
	// SoakOut, if set, is a directory that receives soak.csv and soak.svg.
	SoakOut string
	// FeedHistory, if positive, is vibepass.settings.feed_history during the soak.
	FeedHistory time.Duration
}

// DefaultMix is the traffic model `bench --mix` uses unless told otherwise.
var DefaultMix = MixConfig{
	Session:      30 * time.Minute,
	StatusEvery:  10 * time.Minute,
	FocusEvery:   15 * time.Minute,
	PassLength:   time.Hour,
	RenewMargin:  5 * time.Minute,
	NoCheckout:   0.25,
	SummaryEvery: time.Second,
	ListEvery:    time.Minute,
	Compress:     1,
	Start:        10_000,
	Precision:    0.1,
	Warmup:       15 * time.Second,
	Workers:      256,
	At:           0.5,
	Sample:       10 * time.Second,
}

// Validate says what is wrong with the model, if anything.
func (m MixConfig) Validate() error {
	switch {
	case m.Session <= 0 || m.StatusEvery <= 0 || m.FocusEvery <= 0 || m.PassLength <= 0 || m.SummaryEvery <= 0 || m.ListEvery <= 0:
		return fmt.Errorf("--session, --status-every, --focus-every, --pass, --summary-every and --list-every must be positive")
	case m.RenewMargin <= 0 || m.RenewMargin >= m.PassLength:
		return fmt.Errorf("--renew-margin must be positive and shorter than --pass")
	case m.NoCheckout < 0 || m.NoCheckout > 1:
		return fmt.Errorf("--no-checkout is a fraction between 0 and 1")
	case m.Compress < 1:
		return fmt.Errorf("--compress must be at least 1")
	case m.Start < 1 || m.Workers < 1 || m.Precision <= 0 || m.Warmup < 0:
		return fmt.Errorf("--start and --workers must be at least 1, --precision positive, --warmup not negative")
	case m.Soak > 0 && m.Present == 0 && (m.At <= 0 || m.At > 1):
		return fmt.Errorf("--at is a fraction of the capacity, above 0 and at most 1")
	case m.Soak > 0 && m.Sample <= 0:
		return fmt.Errorf("--sample must be positive")
	}
	return nil
}

// scaled returns d on the simulated users' clock.
func (m MixConfig) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / m.Compress)
}

// mixRates is what one present user asks for, per second of real time.
type mixRates struct {
	arrive, renew, checkout, status float64
	// renewals is the mean number of renewals per session.
	renewals float64
	// ghosts is how many passes of users who left without checking out are still live,
	// per present user.
	ghosts float64
	// statusGap is the mean time between two status asks.
	statusGap time.Duration
}

// total returns the requests per second of one present user.
func (r mixRates) total() float64 { return r.arrive + r.renew + r.checkout + r.status }

// rates works out the per-user rates from the model. With session lengths D exponential of
// mean S and a renewal every C = pass - margin of presence, a session holds floor(D/C)
// renewals: E = q/(1-q) with q = exp(-C/S). The status asks come at min(timer,
// Exp(focus)) after each other: mean F(1 - exp(-T/F)). A pass left without checkout runs
// for pass - (D mod C) more, whose mean is pass - (S - C·E); Little's law makes the live
// passes of such users arrivals × NoCheckout × that.
func (m MixConfig) rates() mixRates {
	s := m.Session.Seconds()
	c := (m.PassLength - m.RenewMargin).Seconds()
	q := math.Exp(-c / s)
	renewals := q / (1 - q)
	f := m.FocusEvery.Seconds()
	gap := f * (1 - math.Exp(-m.StatusEvery.Seconds()/f))
	remaining := m.PassLength.Seconds() - (s - c*renewals)
	return mixRates{
		arrive:    1 / s,
		renew:     renewals / s,
		checkout:  (1 - m.NoCheckout) / s,
		status:    1 / gap,
		renewals:  renewals,
		ghosts:    m.NoCheckout * remaining / s,
		statusGap: time.Duration(gap * float64(time.Second)),
	}
}

// describe writes the model and the arithmetic from one user's rates to requests per
// second, at present users and at the goal.
func (m MixConfig) describe(w io.Writer, present int) {
	r := m.rates()
	fmt.Fprintf(w, "traffic model (per present user): sessions exponential, mean %s; check-in on arrival; GET /api/session at most every %s and on\n",
		m.Session, m.StatusEvery)
	fmt.Fprintf(w, "  visibility/focus (Poisson, mean every %s): one every %s on average; renewal when under %s of the %s pass is left;\n",
		m.FocusEvery, r.statusGap.Round(time.Second), m.RenewMargin, m.PassLength)
	fmt.Fprintf(w, "  checkout on leaving, except %.0f%% who let the pass run out (%.2f such live passes per present user).\n", m.NoCheckout*100, r.ghosts)
	fmt.Fprintf(w, "  model: one event-feed follower, the summary every %s, the whole list every %s with If-None-Match.\n", m.SummaryEvery, m.ListEvery)
	if m.Compress != 1 {
		fmt.Fprintf(w, "  time compressed %gx: every user interval divided by %g, so each simulated user makes %g users' requests;\n", m.Compress, m.Compress, m.Compress)
		fmt.Fprintln(w, "  the model's list and summary read the simulated users only, so they cost less than for as many real users.")
	}
	fmt.Fprintf(w, "per present user per hour: %.2f check-ins (1 arrival + %.2f renewals per session of %s), %.2f checkouts, %.2f status = %.2f requests (%.5f/s)\n",
		(r.arrive+r.renew)*3600, r.renewals, m.Session, r.checkout*3600, r.status*3600, r.total()*3600, r.total())
	for _, n := range []int{present, goalPresent} {
		if n <= 0 {
			continue
		}
		real := float64(n)
		label := fmt.Sprintf("%d present users", n)
		if n == present && m.Compress != 1 {
			real *= m.Compress
			label = fmt.Sprintf("%d simulated present users (%.0f real)", n, real)
		}
		fmt.Fprintf(w, "  x %s = %.0f req/s: check-in %.0f, checkout %.0f, status %.0f\n",
			label, r.total()*real, (r.arrive+r.renew)*real, r.checkout*real, r.status*real)
	}
}

// goalPresent is issue 24's goal for one 2-core machine.
const goalPresent = 1_000_000

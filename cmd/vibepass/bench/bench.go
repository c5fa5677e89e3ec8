// Package bench measures the vibepass proxy against Postgres itself: check-in and
// session status through the proxy against the same transaction sent straight to the
// database, and the model's list through the proxy against a bare row fetch and
// json_agg, with the CPU each process spent. `vibepass bench` runs it; the proxy it
// measures is `vibepass serve`, started as a child process of its own so that its
// CPU time and resident set are its own.
package bench

import (
	"time"
)

// Config is what one benchmark run measures and at what scale.
type Config struct {
	// Binary is the vibepass executable whose `serve` is measured.
	Binary string
	// Users is how many bench users are loaded; all are checked in for the active-users figure.
	Users int
	// PassesPerUser is how many finished passes are loaded per user (history the queries must skip).
	PassesPerUser int
	// Concurrency is how many clients drive the check-in and status figures.
	Concurrency int
	// Duration is the measured time per check-in and status figure, per side.
	Duration time.Duration
	// Rounds is how many active-users reads each side makes per client count.
	Rounds int
	// ProxyProfile is the file for the proxy's CPU profile, "" for none.
	ProxyProfile string
	// Mix is the traffic and the search of `bench --mix`, nil for the other figures.
	Mix *MixConfig
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

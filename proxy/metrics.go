package proxy

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass/presence"
	"github.com/vibepass/vibepass/proxy/metrics"
)

// instrument gives the server its metrics: every store call in deps timed (the wrappers
// replace them in s.deps), and what is read at scrape time (the streams, and what the
// upstream and the verifier can report).
func (s *Server) instrument(deps Deps) {
	m := metrics.New(limiterUser, limiterModelKey, limiterFailedAuth, presence.LimiterListStreams, presence.LimiterFeed, presence.LimiterFeedKey)
	s.metrics = m
	s.deps.Passes, s.deps.Presence, s.deps.Readiness = m.Passes(deps.Passes), m.Presence(deps.Presence), m.Readiness(deps.Readiness)
	if deps.Views != nil {
		s.deps.Views = m.Views(deps.Views)
	}
	m.Streams(s.ModelStreams, func() int { return s.presence.Subscribers() })
	if deps.Pools != nil {
		m.Pools(deps.Pools)
	}
	if deps.LivePasses != nil {
		m.LivePasses(deps.LivePasses, deps.Clock, s.cfg.Timeouts.Ready)
	}
	if deps.Verifier != nil {
		m.Verifier(deps.Verifier)
	}
}

// MetricsHandler serves the server's metrics in Prometheus's text format, for a
// listener of their own (serve's metrics.listen).
func (s *Server) MetricsHandler() http.Handler { return s.metrics.Handler() }

// observeRequest counts an answered request and its latency.
func (s *Server) observeRequest(c *fiber.Ctx, start time.Time) {
	// Routes match exactly (no parameters, strict, case-sensitive), so a request
	// that reached one has its path; otherwise c.Route() is the last middleware's.
	route := metrics.RouteOther
	if r := c.Route(); r.Path == c.Path() && len(r.Handlers) > 0 { // the guard's answers have no route
		route = r.Path
	}
	s.metrics.ObserveRequest(route, c.Method(), c.Response().StatusCode(), time.Since(start))
}

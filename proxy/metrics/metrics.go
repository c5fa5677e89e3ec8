// Package metrics is the server's Prometheus metrics: requests, store calls timed one by
// one, refusals, and what the upstream and the token verifier report at scrape time. It
// knows no HTTP framework: the server hands it labels and durations.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth"
)

// JWKSReporter is a verifier that reports the state of its JWKS (auth.Verifier does).
type JWKSReporter interface {
	// JWKSState returns the key set's state, and false when no JWKS is configured.
	JWKSState(ctx context.Context) (auth.JWKSState, bool)
}

// TokenCacheReporter is a verifier that reports its cache of verified tokens
// (auth.Verifier does).
type TokenCacheReporter interface {
	// CacheStats returns the cache's counts, and false when the cache is off.
	CacheStats() (auth.CacheStats, bool)
}

// livePassesTTL is how long a live-pass count is reused: a scrape every few seconds
// from several Prometheus servers must not turn into a count query each.
const livePassesTTL = 5 * time.Second

// RouteOther labels requests that matched no route: unknown paths, CORS preflights
// and what the framing guard refused. One label keeps a scan of random paths from
// making a series per path.
const RouteOther = "other"

// Metrics are one server's metrics, on a registry of their own: servers in one process
// (tests run many) never share or collide.
type Metrics struct {
	registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	upstreamLatency *prometheus.HistogramVec
	upstreamErrors  *prometheus.CounterVec
	rejections      *prometheus.CounterVec
}

// New registers the server's metrics and the Go runtime and process collectors. limiters
// name every limit whose refusals Rejections counts.
func New(limiters ...string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vibepass_http_requests_total", Help: "HTTP requests answered, by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vibepass_http_request_duration_seconds",
			Help: "Time to answer a request, until the handler returned (a model stream's body may still be flowing).",
			// From a cached error (~50 µs) to the upstream timeout (5 s).
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vibepass_upstream_duration_seconds",
			Help:    "Time of a store call (Postgres or PostgREST), by operation; active_users until its last row.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"op"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vibepass_upstream_errors_total", Help: "Store calls that failed, by operation and kind (the error code).",
		}, []string{"op", "kind"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vibepass_rate_limit_rejections_total",
			Help: "Requests refused by a limit: user, model_key, failed_auth (429); model_streams, feed_subscribers, feed_key_subscribers (503).",
		}, []string{"limiter"}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.upstreamLatency, m.upstreamErrors, m.rejections,
	)
	for _, l := range limiters {
		m.rejections.WithLabelValues(l) // present at 0 from the start, so rate() sees the first one
	}
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// ObserveRequest counts a request answered with status on route (RouteOther when it
// matched none) and its latency.
func (m *Metrics) ObserveRequest(route, method string, status int, latency time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(latency.Seconds())
}

// methodOther labels a request whose method HTTP does not define: a client may send any
// token as a method, and a label per token would grow the series without limit.
const methodOther = "other"

// methodLabel returns method when it is one of HTTP's own (RFC 9110, and PATCH), else methodOther.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodConnect, http.MethodOptions, http.MethodTrace, http.MethodPatch:
		return method
	}
	return methodOther
}

// Rejections is the counter of the requests limiter refused.
func (m *Metrics) Rejections(limiter string) prometheus.Counter {
	return m.rejections.WithLabelValues(limiter)
}

// Streams shows the model streams open (holding a slot) and the event feed's subscribers
// attached, read at scrape time.
func (m *Metrics) Streams(modelStreams, subscribers func() int) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vibepass_model_streams", Help: "Model streams open (holding a slot), of limits.model_streams.",
		}, func() float64 { return float64(modelStreams()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vibepass_event_subscribers", Help: "Event feed (/api/model/events) subscribers attached to this proxy.",
		}, func() float64 { return float64(subscribers()) }),
	)
}

// Pools shows the upstream's connection pools, read at scrape time.
func (m *Metrics) Pools(p vibepass.PoolReporter) {
	m.registry.MustRegister(poolCollector{p})
}

// LivePasses shows the live passes, counted with c (timed as a store call) at most once
// per livePassesTTL of clock, each count bounded by timeout.
func (m *Metrics) LivePasses(c vibepass.PassCounter, clock vibepass.Clock, timeout time.Duration) {
	m.registry.MustRegister(&livePassCollector{counter: m.passCounter(c), clock: clock, timeout: timeout})
}

// Verifier shows what v reports: its JWKS when one is configured, its cache of verified
// tokens when it is on.
func (m *Metrics) Verifier(v interface {
	JWKSReporter
	TokenCacheReporter
}) {
	if _, on := v.CacheStats(); on {
		m.registry.MustRegister(tokenCacheCollector{v})
	}
	if _, configured := v.JWKSState(context.Background()); configured {
		m.registry.MustRegister(jwksCollector{v})
	}
}

// observeUpstream records one store call that started at start and ended with err.
func (m *Metrics) observeUpstream(op string, start time.Time, err error) {
	m.upstreamLatency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.upstreamErrors.WithLabelValues(op, errorKind(err)).Inc()
	}
}

// errorKind is a failed store call's kind: its error code, or "canceled" when the client
// left or the server is stopping (not the upstream's fault).
func errorKind(err error) string {
	var verr *vibepass.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &verr):
		return verr.Code
	case errors.Is(err, context.DeadlineExceeded):
		return vibepass.ETIMEOUT
	}
	return vibepass.EINTERNAL
}

// timing makes the latency series of ops, at 0 from the start: a series a scrape made
// (the live-pass count's) would otherwise appear between two scrapes.
func (m *Metrics) timing(ops ...string) {
	for _, op := range ops {
		m.upstreamLatency.WithLabelValues(op)
	}
}

// The store wrappers below time every call and count its failures. Each implements its
// interface method by method, not by embedding it, so that a method added to an
// interface does not compile here until it is timed too.

// timedPasses is a vibepass.PassStore whose calls m times.
type timedPasses struct {
	next vibepass.PassStore
	m    *Metrics
}

// Passes wraps next in m's timings.
func (m *Metrics) Passes(next vibepass.PassStore) vibepass.PassStore {
	m.timing("checkin", "session_status", "checkout")
	return timedPasses{next, m}
}

// Checkin implements vibepass.PassStore.
func (s timedPasses) Checkin(ctx context.Context, c vibepass.Caller) (vibepass.Checkin, error) {
	start := time.Now()
	out, err := s.next.Checkin(ctx, c)
	s.m.observeUpstream("checkin", start, err)
	return out, err
}

// SessionStatus implements vibepass.PassStore.
func (s timedPasses) SessionStatus(ctx context.Context, c vibepass.Caller) (*vibepass.Pass, error) {
	start := time.Now()
	out, err := s.next.SessionStatus(ctx, c)
	s.m.observeUpstream("session_status", start, err)
	return out, err
}

// Checkout implements vibepass.PassStore.
func (s timedPasses) Checkout(ctx context.Context, c vibepass.Caller) (vibepass.Checkout, error) {
	start := time.Now()
	out, err := s.next.Checkout(ctx, c)
	s.m.observeUpstream("checkout", start, err)
	return out, err
}

// timedPresence is a vibepass.PresenceStore whose calls m times.
type timedPresence struct {
	next vibepass.PresenceStore
	m    *Metrics
}

// Presence wraps next in m's timings.
func (m *Metrics) Presence(next vibepass.PresenceStore) vibepass.PresenceStore {
	m.timing("active_users", "presence_tick", "presence_changes", "presence_summary", "presence_history")
	return timedPresence{next, m}
}

// ActiveUsers implements vibepass.PresenceStore; it is timed until its last row.
func (s timedPresence) ActiveUsers(ctx context.Context, emit func(vibepass.ActiveUser) error) error {
	start := time.Now()
	err := s.next.ActiveUsers(ctx, emit)
	s.m.observeUpstream("active_users", start, err)
	return err
}

// PresenceTick implements vibepass.PresenceStore.
func (s timedPresence) PresenceTick(ctx context.Context) (vibepass.FeedHead, error) {
	start := time.Now()
	out, err := s.next.PresenceTick(ctx)
	s.m.observeUpstream("presence_tick", start, err)
	return out, err
}

// PresenceChanges implements vibepass.PresenceStore.
func (s timedPresence) PresenceChanges(ctx context.Context, after int64, limit int) ([]vibepass.Change, error) {
	start := time.Now()
	out, err := s.next.PresenceChanges(ctx, after, limit)
	s.m.observeUpstream("presence_changes", start, err)
	return out, err
}

// PresenceSummary implements vibepass.PresenceStore.
func (s timedPresence) PresenceSummary(ctx context.Context) (vibepass.Summary, error) {
	start := time.Now()
	out, err := s.next.PresenceSummary(ctx)
	s.m.observeUpstream("presence_summary", start, err)
	return out, err
}

// PresenceHistory implements vibepass.PresenceStore.
func (s timedPresence) PresenceHistory(ctx context.Context) ([]vibepass.PresencePoint, error) {
	start := time.Now()
	out, err := s.next.PresenceHistory(ctx)
	s.m.observeUpstream("presence_history", start, err)
	return out, err
}

// timedPinger is a vibepass.Pinger whose calls m times.
type timedPinger struct {
	next vibepass.Pinger
	m    *Metrics
}

// Readiness wraps next in m's timings.
func (m *Metrics) Readiness(next vibepass.Pinger) vibepass.Pinger {
	m.timing("ping")
	return timedPinger{next, m}
}

// Ping implements vibepass.Pinger.
func (s timedPinger) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.next.Ping(ctx)
	s.m.observeUpstream("ping", start, err)
	return err
}

// timedViewer is a vibepass.ActiveUserViewer whose calls m times.
type timedViewer struct {
	next vibepass.ActiveUserViewer
	m    *Metrics
}

// Views wraps next in m's timings.
func (m *Metrics) Views(next vibepass.ActiveUserViewer) vibepass.ActiveUserViewer {
	return timedViewer{next, m}
}

// ActiveUserViews implements vibepass.ActiveUserViewer; it is timed until its last row,
// under the same operation as ActiveUsers: it is the same read.
func (s timedViewer) ActiveUserViews(ctx context.Context, emit func(*vibepass.ActiveUserView) error) error {
	start := time.Now()
	err := s.next.ActiveUserViews(ctx, emit)
	s.m.observeUpstream("active_users", start, err)
	return err
}

// timedPassCounter is a vibepass.PassCounter whose calls m times.
type timedPassCounter struct {
	next vibepass.PassCounter
	m    *Metrics
}

// passCounter wraps next in m's timings.
func (m *Metrics) passCounter(next vibepass.PassCounter) vibepass.PassCounter {
	m.timing("live_passes")
	return timedPassCounter{next, m}
}

// LivePasses implements vibepass.PassCounter.
func (s timedPassCounter) LivePasses(ctx context.Context) (int, error) {
	start := time.Now()
	n, err := s.next.LivePasses(ctx)
	s.m.observeUpstream("live_passes", start, err)
	return n, err
}

var (
	poolConnsDesc = prometheus.NewDesc("vibepass_pool_connections",
		"Database connections of the direct upstream's pools, by pool and state (in_use, idle).", []string{"pool", "state"}, nil)
	poolMaxDesc = prometheus.NewDesc("vibepass_pool_max_connections",
		"Size of each pool.", []string{"pool"}, nil)
	poolWaitsDesc = prometheus.NewDesc("vibepass_pool_waits_total",
		"Acquires that had to wait for a connection, by pool.", []string{"pool"}, nil)
	poolWaitDesc = prometheus.NewDesc("vibepass_pool_wait_seconds_total",
		"Time spent waiting for a connection, by pool.", []string{"pool"}, nil)
)

// poolCollector reads the pools' statistics at scrape time.
type poolCollector struct{ p vibepass.PoolReporter }

// Describe implements prometheus.Collector.
func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConnsDesc
	ch <- poolMaxDesc
	ch <- poolWaitsDesc
	ch <- poolWaitDesc
}

// Collect implements prometheus.Collector.
func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.p.PoolStats() {
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(st.InUse), name, "in_use")
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(st.Idle), name, "idle")
		ch <- prometheus.MustNewConstMetric(poolMaxDesc, prometheus.GaugeValue, float64(st.Max), name)
		ch <- prometheus.MustNewConstMetric(poolWaitsDesc, prometheus.CounterValue, float64(st.Waits), name)
		ch <- prometheus.MustNewConstMetric(poolWaitDesc, prometheus.CounterValue, st.WaitTime.Seconds(), name)
	}
}

var (
	livePassesDesc = prometheus.NewDesc("vibepass_live_passes",
		"Passes live now, counted at most every 5 s.", nil, nil)
	livePassesErrorsDesc = prometheus.NewDesc("vibepass_live_passes_errors_total",
		"Counts of the live passes that failed (the gauge then keeps its last value).", nil, nil)
)

// livePassCollector counts the live passes at scrape time, reusing a count younger
// than livePassesTTL, so scrapes cost the database at most one query per TTL.
type livePassCollector struct {
	counter vibepass.PassCounter
	clock   vibepass.Clock
	timeout time.Duration

	mu       sync.Mutex
	at       time.Time
	count    int
	failures int
}

// Describe implements prometheus.Collector.
func (*livePassCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- livePassesDesc
	ch <- livePassesErrorsDesc
}

// Collect implements prometheus.Collector.
func (c *livePassCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock() // concurrent scrapes wait for one count instead of each running theirs
	defer c.mu.Unlock()
	if now := c.clock(); now.Sub(c.at) >= livePassesTTL {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		n, err := c.counter.LivePasses(ctx)
		cancel()
		if err != nil {
			c.failures++
		} else {
			c.count = n
		}
		c.at = now // a failing database is asked again only after the TTL too
	}
	ch <- prometheus.MustNewConstMetric(livePassesDesc, prometheus.GaugeValue, float64(c.count))
	ch <- prometheus.MustNewConstMetric(livePassesErrorsDesc, prometheus.CounterValue, float64(c.failures))
}

var (
	jwksRefreshDesc = prometheus.NewDesc("vibepass_jwks_last_refresh_timestamp_seconds",
		"When the JWKS was last fetched successfully (Unix time; 0: never).", nil, nil)
	jwksKeysDesc = prometheus.NewDesc("vibepass_jwks_keys",
		"Keys in the JWKS now held.", nil, nil)
	jwksFailuresDesc = prometheus.NewDesc("vibepass_jwks_fetch_failures_total",
		"JWKS fetches that failed (transport error or a status other than 200).", nil, nil)
)

// jwksCollector reads the verifier's JWKS state at scrape time.
type jwksCollector struct{ j JWKSReporter }

// Describe implements prometheus.Collector.
func (jwksCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jwksRefreshDesc
	ch <- jwksKeysDesc
	ch <- jwksFailuresDesc
}

// Collect implements prometheus.Collector.
func (c jwksCollector) Collect(ch chan<- prometheus.Metric) {
	st, _ := c.j.JWKSState(context.Background())
	last := 0.0
	if !st.LastRefresh.IsZero() {
		last = float64(st.LastRefresh.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(jwksRefreshDesc, prometheus.GaugeValue, last)
	ch <- prometheus.MustNewConstMetric(jwksKeysDesc, prometheus.GaugeValue, float64(st.Keys))
	ch <- prometheus.MustNewConstMetric(jwksFailuresDesc, prometheus.CounterValue, float64(st.Failures))
}

var (
	tokenCacheLookupsDesc = prometheus.NewDesc("vibepass_token_cache_lookups_total",
		"Bearer tokens looked up in the cache of verified tokens: hit (no signature check), or miss (verified in full).", []string{"result"}, nil)
	tokenCacheEvictionsDesc = prometheus.NewDesc("vibepass_token_cache_evictions_total",
		"Verified tokens dropped from the cache to make room.", nil, nil)
	tokenCacheEntriesDesc = prometheus.NewDesc("vibepass_token_cache_entries",
		"Verified tokens in the cache now.", nil, nil)
	tokenCacheBytesDesc = prometheus.NewDesc("vibepass_token_cache_bytes",
		"Bytes the cache of verified tokens holds now (its own accounting).", nil, nil)
	tokenCacheLimitDesc = prometheus.NewDesc("vibepass_token_cache_limit_bytes",
		"The most bytes the cache of verified tokens may hold.", nil, nil)
)

// tokenCacheCollector reads the verifier's token cache at scrape time.
type tokenCacheCollector struct{ t TokenCacheReporter }

// Describe implements prometheus.Collector.
func (tokenCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tokenCacheLookupsDesc
	ch <- tokenCacheEvictionsDesc
	ch <- tokenCacheEntriesDesc
	ch <- tokenCacheBytesDesc
	ch <- tokenCacheLimitDesc
}

// Collect implements prometheus.Collector.
func (c tokenCacheCollector) Collect(ch chan<- prometheus.Metric) {
	st, _ := c.t.CacheStats()
	ch <- prometheus.MustNewConstMetric(tokenCacheLookupsDesc, prometheus.CounterValue, float64(st.Hits), "hit")
	ch <- prometheus.MustNewConstMetric(tokenCacheLookupsDesc, prometheus.CounterValue, float64(st.Misses), "miss")
	ch <- prometheus.MustNewConstMetric(tokenCacheEvictionsDesc, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(tokenCacheEntriesDesc, prometheus.GaugeValue, float64(st.Entries))
	ch <- prometheus.MustNewConstMetric(tokenCacheBytesDesc, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(tokenCacheLimitDesc, prometheus.GaugeValue, float64(st.LimitBytes))
}

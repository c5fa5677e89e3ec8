package proxy_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/openapitest"
)

// scrape reads the server's metrics as Prometheus does and parses the text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// value returns the value of the series of name whose labels include labels
// ("name=value" each), or -1 when there is none.
func value(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetrics scrapes /metrics before and after some requests and checks that the
// counters moved: requests by route and status, upstream calls, rate-limit
// rejections, and the live-pass count, which is reused for 5 s.
func TestMetrics(t *testing.T) {
	clock := &manualClock{now: windowStart}
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) { c.RateLimit.UserPerMinute = 2 }, withClock(clock))
	metrics := httptest.NewServer(ts.Server.MetricsHandler()) // as serve's metrics.listen serves it
	t.Cleanup(metrics.Close)

	before := scrape(t, metrics.URL)
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "vibepass_model_streams", "vibepass_event_subscribers"} {
		if value(before, name) < 0 {
			t.Errorf("no %s", name)
		}
	}
	for _, pool := range []string{"users", "model", "feed"} {
		if value(before, "vibepass_pool_max_connections", "pool="+pool) < 1 || value(before, "vibepass_pool_connections", "pool="+pool, "state=idle") < 0 ||
			value(before, "vibepass_pool_waits_total", "pool="+pool) < 0 || value(before, "vibepass_pool_wait_seconds_total", "pool="+pool) < 0 {
			t.Errorf("pool %s statistics missing", pool)
		}
	}
	if value(before, "vibepass_jwks_keys") >= 0 {
		t.Error("JWKS metrics without a JWKS URL")
	}
	live := value(before, "vibepass_live_passes")

	tok := bearer(mint(t, musicFan))
	do(t, "POST", ts.URL+"/api/checkin", nil, tok)
	do(t, "GET", ts.URL+"/api/session", nil, tok)
	do(t, "GET", ts.URL+"/api/session", nil, tok) // the third of a limit of 2: 429
	do(t, "GET", ts.URL+"/api/session", nil)      // no token: 401
	do(t, "GET", ts.URL+"/no/such/path", nil)

	after := scrape(t, metrics.URL)
	moved := func(name string, want float64, labels ...string) {
		t.Helper()
		b := max(value(before, name, labels...), 0)
		if got := value(after, name, labels...) - b; got != want {
			t.Errorf("%s%v moved by %v, want %v", name, labels, got, want)
		}
	}
	moved("vibepass_http_requests_total", 1, "route=/api/checkin", "method=POST", "status=200")
	moved("vibepass_http_requests_total", 1, "route=/api/session", "method=GET", "status=200")
	moved("vibepass_http_requests_total", 1, "route=/api/session", "method=GET", "status=429")
	moved("vibepass_http_requests_total", 1, "route=/api/session", "method=GET", "status=401")
	moved("vibepass_http_requests_total", 1, "route=other", "method=GET", "status=404")
	moved("vibepass_http_request_duration_seconds", 3, "route=/api/session", "method=GET")
	moved("vibepass_upstream_duration_seconds", 1, "op=checkin")
	moved("vibepass_upstream_duration_seconds", 1, "op=session_status")
	moved("vibepass_rate_limit_rejections_total", 1, "limiter=user")
	moved("vibepass_rate_limit_rejections_total", 0, "limiter=failed_auth")
	// One token, sent three times: verified in full once, then answered from the cache
	// (the 429 too: the limit is per user, so the token is verified first). The request
	// without a token looks nothing up.
	moved("vibepass_token_cache_lookups_total", 1, "result=miss")
	moved("vibepass_token_cache_lookups_total", 2, "result=hit")
	moved("vibepass_token_cache_entries", 1)
	moved("vibepass_token_cache_evictions_total", 0)
	if got, limit := value(after, "vibepass_token_cache_bytes"), value(after, "vibepass_token_cache_limit_bytes"); got < float64(len(tok)) || got > limit {
		t.Errorf("token cache holds %v bytes of %v, want at least the token's %d", got, limit, len(tok))
	}
	if got := value(after, "vibepass_live_passes"); got != live {
		t.Errorf("live passes = %v within 5 s of the first count %v, want the cached count", got, live)
	}
	clock.Advance(5 * time.Second)
	if got := value(scrape(t, metrics.URL), "vibepass_live_passes"); got != live+1 {
		t.Errorf("live passes = %v after the cache expired, want %v", got, live+1)
	}
}

// storeOps names the upstream operation each store method is timed under in
// vibepass_upstream_duration_seconds: the list read as values or as views is one operation.
var storeOps = map[string]string{
	"Checkin": "checkin", "SessionStatus": "session_status", "Checkout": "checkout",
	"ActiveUsers": "active_users", "ActiveUserViews": "active_users",
	"PresenceTick": "presence_tick", "PresenceChanges": "presence_changes",
	"PresenceSummary": "presence_summary", "PresenceHistory": "presence_history",
	"Ping": "ping", "LivePasses": "live_passes",
}

// TestMetricsTimeEveryStoreCall makes every store call on both upstreams, through the
// endpoints, the feed, /readyz and a scrape, then finds a timing of each in /metrics.
// Every method of the interfaces the server calls the upstream through has its operation
// here, so a new one cannot go untimed without failing this test.
func TestMetricsTimeEveryStoreCall(t *testing.T) {
	for _, iface := range []reflect.Type{
		reflect.TypeFor[vibepass.PassStore](), reflect.TypeFor[vibepass.PresenceStore](), reflect.TypeFor[vibepass.Pinger](),
		reflect.TypeFor[vibepass.ActiveUserViewer](), reflect.TypeFor[vibepass.PassCounter](),
	} {
		for i := range iface.NumMethod() {
			if name := iface.Method(i).Name; storeOps[name] == "" {
				t.Errorf("%s.%s has no operation in storeOps", iface, name)
			}
		}
	}
	for _, kind := range upstreamKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, kind, nil, fastFeed)
			metrics := httptest.NewServer(ts.Server.MetricsHandler())
			t.Cleanup(metrics.Close)
			events := openEventsWithComments(t, ts.URL+"/api/model/events")
			awaitHeartbeat(t, events) // attached: the hub's next poll reads the check-in's change
			tok := bearer(mint(t, musicFan))
			for _, r := range []struct{ method, path, header string }{
				{"POST", "/api/checkin", tok}, {"GET", "/api/session", tok},
				{"GET", "/api/model/active-users", apiKey(modelKey)}, {"GET", "/api/model/summary", apiKey(modelKey)},
				{"GET", "/api/model/history", apiKey(modelKey)}, {"POST", "/api/checkout", tok}, {"GET", "/readyz", ""},
			} {
				if got := do(t, r.method, ts.URL+r.path, nil, r.header); got.Status != http.StatusOK {
					t.Fatalf("%s %s = %d %s", r.method, r.path, got.Status, got.Raw)
				}
			}
			if e := nextEvent(t, events); e.event != "join" && e.event != "leave" { // read by presence_changes
				t.Fatalf("event %+v, want the check-in's join or the checkout's leave", e)
			}
			scrape(t, metrics.URL) // counts the live passes where the upstream can
			families := scrape(t, metrics.URL)
			for method, op := range storeOps {
				if method == "LivePasses" && kind != upstreamPostgres {
					continue // only the direct upstream counts them
				}
				if n := value(families, "vibepass_upstream_duration_seconds", "op="+op); n < 1 {
					t.Errorf("%s: vibepass_upstream_duration_seconds{op=%q} has %v samples, want some", method, op, n)
				}
			}
		})
	}
}

// TestOpenAPIDocument checks that the document is valid OpenAPI 3, that the server
// serves it as embedded, and that it covers the spec's endpoints and credentials.
func TestOpenAPIDocument(t *testing.T) {
	doc, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/checkin", "/api/session", "/api/checkout", "/api/model/active-users", "/healthz", "/readyz", "/openapi.json"} {
		if doc.Paths.Find(path) == nil {
			t.Errorf("openapi.json has no %s", path)
		}
	}
	for _, scheme := range []string{"bearerAuth", "apiKeyAuth"} {
		if doc.Components.SecuritySchemes[scheme] == nil {
			t.Errorf("openapi.json has no security scheme %s", scheme)
		}
	}
	ts := startServer(t, upstreamPostgres, nil, nil)
	r := do(t, "GET", ts.URL+"/openapi.json", nil)
	if r.Status != http.StatusOK || !bytes.Equal(r.Raw, proxy.OpenAPI()) || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /openapi.json = %d %s, want the embedded document", r.Status, r.Header.Get("Content-Type"))
	}
}

// seriesCount counts every series /metrics shows.
func seriesCount(families map[string]*dto.MetricFamily) int {
	n := 0
	for _, f := range families {
		n += len(f.GetMetric())
	}
	return n
}

// TestMetricsLabelsAreClosed: no request can add a series. Thousands of requests with
// methods HTTP does not define and paths no route has, none of them signed in, leave the
// number of series where one such request put it: their labels are "other".
func TestMetricsLabelsAreClosed(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) { c.RateLimit.FailedAuthPerMinute = 1 << 20 })
	metrics := httptest.NewServer(ts.Server.MetricsHandler())
	t.Cleanup(metrics.Close)
	send := func(method, path string) {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("FOO0", "/api/session")
	send("GET", "/nothing-0")
	send("POST", "/nothing-0")
	before := scrape(t, metrics.URL)
	if value(before, "vibepass_http_requests_total", "method=other", "status=501") != 1 {
		t.Fatalf("an unknown method is not counted as method=other")
	}
	for i := 1; i <= 2000; i++ {
		send(fmt.Sprintf("M%dX%s", i, strings.Repeat("Y", i%64)), "/api/session")
		send("GET", fmt.Sprintf("/nothing-%d", i))
		send("POST", fmt.Sprintf("/api/nothing-%d?x=%d", i, i))
	}
	after := scrape(t, metrics.URL)
	if b, a := seriesCount(before), seriesCount(after); a != b {
		t.Fatalf("/metrics has %d series after 6,000 requests with new methods and paths, %d before", a, b)
	}
	if got := value(after, "vibepass_http_requests_total", "method=other", "status=501"); got != 2001 {
		t.Fatalf("method=other 501s = %v, want 2001", got)
	}
}

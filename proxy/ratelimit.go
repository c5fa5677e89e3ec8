package proxy

import (
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/metrics"
)

// The rate limits, as the RateLimit headers and vibepass_rate_limit_rejections_total name them.
const (
	limiterUser       = "user"        // rate_limit.user_per_minute
	limiterModelKey   = "model_key"   // rate_limit.model_key_per_minute
	limiterFailedAuth = "failed_auth" // rate_limit.failed_auth_per_minute
)

// rateWindow is the length of every rate-limit window.
const rateWindow = time.Minute

// maxFailingClients caps how many client IPs the failed-authentication limit
// tracks in one window. Its keys are the only ones a stranger chooses (a host with
// an IPv6 /48 has many /64s), so without a cap they could grow memory at will.
// Past the cap a new address's failures are answered 429 at once: valid callers
// never reach this limit, so they are not affected.
const maxFailingClients = 100_000

// fixedWindow allows limit requests per key in fixed windows aligned to the clock
// (xx:xx:00 to xx:xx:59 for one minute). When a window ends the whole count map is
// dropped, so memory holds only the keys seen in the current window. One mutex is
// enough: the critical section is a map update.
//
// It replaces Fiber's limiter middleware, which writes its X-RateLimit-* headers
// after the handler ran, so an outer limiter overwrote an inner one's.
type fixedWindow[K comparable] struct {
	limit   int
	maxKeys int // 0: no cap
	clock   vibepass.Clock
	// item is the quoted name in RateLimit and RateLimit-Policy; limitText and
	// policy are the constant header values, built once.
	item, limitText, policy string
	// rejected counts the requests this limit refused.
	rejected prometheus.Counter

	mu     sync.Mutex
	window int64 // the current window's number: Unix time / rateWindow
	counts map[K]int
}

// newFixedWindow returns a limiter called name (letters and underscores: it is
// written as a quoted string) in the RateLimit header fields and in the rejections
// metric of m.
func newFixedWindow[K comparable](m *metrics.Metrics, name string, limit, maxKeys int, clock vibepass.Clock) *fixedWindow[K] {
	return &fixedWindow[K]{
		limit: limit, maxKeys: maxKeys, clock: clock, rejected: m.Rejections(name),
		item:      `"` + name + `"`,
		limitText: strconv.Itoa(limit),
		policy:    `"` + name + `";q=` + strconv.Itoa(limit) + ";w=" + strconv.Itoa(int(rateWindow/time.Second)),
		counts:    map[K]int{},
	}
}

// take counts one request for key if the limit allows it, and says how many
// remain and when the window ends.
func (l *fixedWindow[K]) take(key K) (remaining int, reset time.Duration, ok bool) {
	now := l.clock().UnixNano()
	window := now / int64(rateWindow)
	reset = time.Duration((window+1)*int64(rateWindow) - now)
	l.mu.Lock()
	defer l.mu.Unlock()
	if window != l.window {
		l.window, l.counts = window, map[K]int{}
	}
	n, seen := l.counts[key]
	if n >= l.limit || (!seen && l.maxKeys > 0 && len(l.counts) >= l.maxKeys) {
		return 0, reset, false
	}
	l.counts[key] = n + 1
	return l.limit - n - 1, reset, true
}

// admit counts the request against key and reports this limit in the response
// headers, both the common X-RateLimit-* ones and the IETF draft's RateLimit and
// RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers). Over the limit it
// returns ErrRateLimited (429) with Retry-After.
func (l *fixedWindow[K]) admit(c *fiber.Ctx, key K) error {
	remaining, reset, ok := l.take(key)
	secs := strconv.Itoa(int((reset + time.Second - 1) / time.Second)) // rounded up: never 0
	c.Set("X-RateLimit-Limit", l.limitText)
	c.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	c.Set("X-RateLimit-Reset", secs)
	c.Set("RateLimit-Policy", l.policy)
	c.Set("RateLimit", l.item+";r="+strconv.Itoa(remaining)+";t="+secs)
	if !ok {
		l.rejected.Inc()
		c.Set(fiber.HeaderRetryAfter, secs)
		return vibepass.ErrRateLimited
	}
	return nil
}

// failureKey is the key a failed authentication is counted under: the address, or
// for IPv6 its /64, the block one host or home network is usually given, so
// walking through its addresses does not reset the count.
func failureKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}

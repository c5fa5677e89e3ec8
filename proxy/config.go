package proxy

import (
	"time"

	"github.com/vibepass/vibepass/presence"
)

// Config is what the HTTP server needs to know. cmd/vibepass/config reads it from
// config.toml's [cors], [timeouts], [rate_limit], [limits], [page], [client_ip] and
// [feed] sections (the toml tags name the keys) and validates it before New sees it.
type Config struct {
	CORS      CORSConfig          `toml:"cors"`
	Timeouts  TimeoutsConfig      `toml:"timeouts"`
	RateLimit RateLimitConfig     `toml:"rate_limit"`
	Limits    LimitsConfig        `toml:"limits"`
	Page      PageConfig          `toml:"page"`
	ClientIP  ClientIPConfig      `toml:"client_ip"`
	Feed      presence.FeedConfig `toml:"feed"`
}

// CORSConfig lists the browser origins allowed to call the API.
type CORSConfig struct {
	// Origins are exact origins like https://app.example.com, or the single entry "*".
	Origins []string `toml:"origins"`
}

// TimeoutsConfig bounds how long the server waits.
type TimeoutsConfig struct {
	// Upstream bounds one call to the store (for the model stream: until its first rows).
	Upstream time.Duration `toml:"upstream"`
	// Ready bounds the /readyz ping.
	Ready time.Duration `toml:"ready"`
	// Read bounds reading a request.
	Read time.Duration `toml:"read"`
	// Write bounds writing a response; it also caps a model stream.
	Write time.Duration `toml:"write"`
	// Idle bounds a kept-alive connection with no request.
	Idle time.Duration `toml:"idle"`
	// Shutdown bounds the wait for in-flight requests after SIGTERM.
	Shutdown time.Duration `toml:"shutdown"`
}

// RateLimitConfig holds requests-per-minute limits (fixed one-minute windows). A
// request counts against exactly one of them: its caller's when its credential is
// valid, its IP's failures when not.
type RateLimitConfig struct {
	// UserPerMinute limits each signed-in user on the user endpoints.
	UserPerMinute int `toml:"user_per_minute"`
	// FailedAuthPerMinute limits the failed authentications (missing or bad token, missing
	// or wrong model key) from each client IP, on every API endpoint; past it they
	// are answered 429. Requests with a valid credential never count here.
	FailedAuthPerMinute int `toml:"failed_auth_per_minute"`
	// ModelKeyPerMinute limits each model API key on the model endpoint.
	ModelKeyPerMinute int `toml:"model_key_per_minute"`
}

// LimitsConfig bounds request sizes and the model streams running at once.
type LimitsConfig struct {
	// BodyBytes is the largest request body accepted.
	BodyBytes int `toml:"body_bytes"`
	// HeaderBytes is the largest request header block accepted (Fiber's ReadBufferSize).
	HeaderBytes int `toml:"header_bytes"`
	// ModelStreams is how many model streams may run at once; one more gets 503 with
	// Retry-After at once. The direct upstream gives model reads a pool of this size.
	ModelStreams int `toml:"model_streams"`
}

// PageConfig switches the built-in demo page.
type PageConfig struct {
	// Enabled serves the demo page.
	Enabled bool `toml:"enabled"`
}

// ClientIPConfig says where the client's IP (for the per-IP rate limit) comes from
// when the server sits behind a load balancer or CDN.
type ClientIPConfig struct {
	// Header is a header the trusted proxies set or append the client's IP to, e.g.
	// X-Forwarded-For or X-Real-IP; "" uses the connection's address. It is read
	// from the right: the first address that is not a trusted proxy is the client.
	Header string `toml:"header"`
	// TrustedProxies are the IPs or CIDRs whose Header is believed; others' is ignored.
	TrustedProxies []string `toml:"trusted_proxies"`
}

// DefaultConfig returns the production defaults, the one place they are written: New
// takes a validated Config as it is.
func DefaultConfig() Config {
	return Config{
		Timeouts: TimeoutsConfig{
			Upstream: 5 * time.Second,
			Ready:    2 * time.Second,
			Read:     10 * time.Second,
			Write:    60 * time.Second,
			Idle:     120 * time.Second,
			Shutdown: 20 * time.Second,
		},
		RateLimit: RateLimitConfig{UserPerMinute: 60, FailedAuthPerMinute: 60, ModelKeyPerMinute: 120},
		Limits:    LimitsConfig{BodyBytes: 16 << 10, HeaderBytes: 32 << 10, ModelStreams: 2},
		// The feed: a change reaches followers within about a second; a heartbeat every 15 s
		// outlasts common proxies' 30-60 s idle timeouts; 4,096 events (about 1 MB) of
		// backlog ride out a burst without holding memory unbounded; 1,000 streams are the
		// issue's measured goal (under 50 MB of proxy RSS when idle).
		Feed: presence.FeedConfig{Poll: 500 * time.Millisecond, Heartbeat: 15 * time.Second, Buffer: 4096, Subscribers: 1000, SubscribersPerKey: 100},
	}
}

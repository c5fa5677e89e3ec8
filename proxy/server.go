package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/presence"
	"github.com/vibepass/vibepass/proxy/metrics"
	"github.com/vibepass/vibepass/proxy/page"
)

// TokenVerifier verifies a user's bearer token (auth.Verifier implements it).
type TokenVerifier interface {
	// Verify returns the caller a token speaks for, or an EUNAUTHORIZED error.
	Verify(ctx context.Context, rawToken string) (vibepass.Caller, error)
	// Ready reports whether tokens can be verified now (an EUNAVAILABLE error while
	// the JWKS has not been fetched yet); /readyz asks it.
	Ready() error
	// What /metrics shows of the verifier.
	metrics.JWKSReporter
	metrics.TokenCacheReporter
}

// KeyChecker checks a presented model API key (auth.APIKeys implements it).
type KeyChecker interface {
	Check(presented string) error
}

// Deps are what the server calls out to.
type Deps struct {
	// Passes, Presence and Readiness are the upstream (a vibepass.Store is all three), by
	// who calls: the user endpoints; the model's endpoints and the feed; /readyz.
	Passes    vibepass.PassStore
	Presence  vibepass.PresenceStore
	Readiness vibepass.Pinger
	// Views, Pools and LivePasses are what the upstream can do besides, each nil when it
	// cannot: read the model list as views (faster), report its connection pools and
	// count the live passes (both for /metrics). The direct upstream does all three.
	Views      vibepass.ActiveUserViewer
	Pools      vibepass.PoolReporter
	LivePasses vibepass.PassCounter
	Verifier   TokenVerifier
	APIKeys    KeyChecker
	// Logger receives the access and error logs; nil means JSON on stderr at info level.
	Logger *slog.Logger
	// Clock stamps the model response and times the rate-limit windows; nil means
	// the system clock.
	Clock vibepass.Clock
}

// Server is the vibepass HTTP server.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	app  *fiber.App
	// trusted is client_ip.trusted_proxies, parsed.
	trusted []netip.Prefix
	// The rate limits: per user, per model key, and failed authentications per IP.
	users     *fixedWindow[string]
	modelKeys *fixedWindow[[8]byte]
	failures  *fixedWindow[netip.Addr]
	// metrics are this server's own; see instrument.
	metrics *metrics.Metrics
	// presence serves the model's endpoints: the list, the feed, the summary and the history.
	presence *presence.Service
}

// New builds the server and its routes over a validated cfg; it does not listen yet.
func New(cfg Config, deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if deps.Clock == nil {
		deps.Clock = vibepass.SystemClock
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger}
	// cfg is validated; if an entry were bad anyway, nil trusts no proxy (fail closed).
	s.trusted, _ = ParseTrustedProxies(cfg.ClientIP.TrustedProxies)
	s.instrument(deps)
	s.users = newFixedWindow[string](s.metrics, limiterUser, cfg.RateLimit.UserPerMinute, 0, deps.Clock)
	s.modelKeys = newFixedWindow[[8]byte](s.metrics, limiterModelKey, cfg.RateLimit.ModelKeyPerMinute, 0, deps.Clock)
	s.failures = newFixedWindow[netip.Addr](s.metrics, limiterFailedAuth, cfg.RateLimit.FailedAuthPerMinute, maxFailingClients, deps.Clock)
	s.presence = presence.New(s.deps.Presence, s.deps.Views, presence.Options{
		Feed: cfg.Feed, ListStreams: cfg.Limits.ModelStreams, Upstream: cfg.Timeouts.Upstream, Write: cfg.Timeouts.Write,
		Clock: deps.Clock, Logger: deps.Logger,
	})
	s.app = fiber.New(fiber.Config{
		// Strings from the ctx are copies, so nothing kept (limiter keys, the caller's
		// token) points into fasthttp's reused buffers.
		Immutable: true,
		// ReadBufferSize is also the largest header block: Supabase tokens with a lot of
		// user metadata are several KB.
		ReadBufferSize: cfg.Limits.HeaderBytes,
		BodyLimit:      cfg.Limits.BodyBytes,
		ReadTimeout:    cfg.Timeouts.Read,
		WriteTimeout:   cfg.Timeouts.Write,
		IdleTimeout:    cfg.Timeouts.Idle,
		ErrorHandler:   s.handleError,
		// No ProxyHeader: c.IP() would take the leftmost valid X-Forwarded-For entry,
		// which the client writes; s.clientIP reads client_ip.header instead.
		DisableStartupMessage: true,
		AppName:               "vibepass",
		// /API/Session and /api/session/ are not /api/session: a path rule in front of
		// the proxy (a WAF, a load balancer) must see the same routes we do.
		CaseSensitive: true,
		StrictRouting: true,
	})
	s.app.Server().Handler = s.guard(s.app.Server().Handler)
	s.routes()
	return s
}

// App returns the Fiber app, for tests and for mounting more routes.
func (s *Server) App() *fiber.App { return s.app }

// ModelStreams returns how many model streams hold a slot now: from admission until
// their store read is over.
func (s *Server) ModelStreams() int { return s.presence.ListStreams() }

// routes installs the middleware chain and the endpoints.
func (s *Server) routes() {
	app := s.app
	app.Use(s.tagRequest)
	app.Use(s.accessLog)
	app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: s.logPanic}))
	if len(s.cfg.CORS.Origins) > 0 { // with no origins Fiber's cors would allow "*"
		// Date is exposed because clients/js counts a pass down on the server's clock, read from it.
		app.Use(cors.New(cors.Config{
			AllowOrigins:  strings.Join(s.cfg.CORS.Origins, ","),
			AllowMethods:  "GET,POST,OPTIONS",
			AllowHeaders:  "Authorization,Content-Type,X-API-Key,X-Request-ID",
			ExposeHeaders: "X-Request-ID,Retry-After,X-RateLimit-Limit,X-RateLimit-Remaining,X-RateLimit-Reset,RateLimit,RateLimit-Policy,Date",
			MaxAge:        600,
		}))
	}

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/openapi.json", s.openAPIDocument)
	if s.cfg.Page.Enabled {
		page.Register(app)
	}

	app.Use("/api", privateAnswers)
	// Each checks the credential, then applies the one rate limit that fits: the
	// caller's own when it is valid, the IP's failed-authentication limit when not.
	app.Post("/api/checkin", s.authenticate, s.checkin)
	app.Get("/api/session", s.authenticate, s.session)
	app.Post("/api/checkout", s.authenticate, s.checkout)
	app.Get("/api/model/active-users", s.checkAPIKey, s.activeUsers)
	app.Get("/api/model/summary", s.checkAPIKey, s.summary)
	app.Get("/api/model/history", s.checkAPIKey, s.history)
	app.Get("/api/model/events", s.checkAPIKey, s.events)
}

// privateAnswers tells every cache between the proxy and a client that an /api answer is
// for its caller alone: no-store (the list, which must keep its ETag, relaxes that to
// private, no-cache), varying with both credentials. A shared cache treats Authorization
// specially but not X-API-Key, and a micro-cache in front would otherwise hand one caller's
// pass, or the model's list, to a request with no credential at all.
func privateAnswers(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Vary(fiber.HeaderAuthorization, apiKeyHeader)
	return c.Next()
}

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits, until ctx ends, for in-flight
// requests to finish. Model streams still running then are cut: Fiber does not close
// their connections, and their store reads would otherwise run on until
// timeouts.write, holding database connections that closing the pool waits for.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.presence.CancelReads()
	s.presence.EndFollowers()
	return s.app.ShutdownWithContext(ctx)
}

// Run serves on ln until ctx ends (e.g. on SIGTERM), then shuts down gracefully
// within timeouts.shutdown. ready, if not nil, is told the address once listening.
// Requests still running when the grace period ends (a model stream to a slow
// reader) are cut and logged: that is the shutdown working as configured, not an
// error. Only a failure to serve is.
func (s *Server) Run(ctx context.Context, ln net.Listener, ready func(addr string)) error {
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", s.cfg.Timeouts.Shutdown.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeouts.Shutdown)
	defer cancel()
	switch err := s.Shutdown(shutdownCtx); {
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("grace period over, cutting the requests still running", "grace", s.cfg.Timeouts.Shutdown.String())
	case err != nil:
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// upstreamContext bounds one store call by timeouts.upstream.
func (s *Server) upstreamContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), s.cfg.Timeouts.Upstream)
}

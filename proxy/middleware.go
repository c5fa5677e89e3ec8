package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth"
)

// Keys of the values middleware leaves in c.Locals.
const (
	localRequestID = "vibepass.request_id"
	localCaller    = "vibepass.caller"
	localKeyID     = "vibepass.key_id" // a hash of the model key: safe to keep and log
)

// accessLog logs one line per request. It turns a returned error into the response
// itself, so the line carries the final status. Only method, path, status, timing,
// request ID and user ID are logged: never headers, tokens or keys.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	attrs := []slog.Attr{
		slog.String("method", c.Method()),
		slog.String("path", c.Path()),
		slog.Int("status", c.Response().StatusCode()),
		slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("request_id", requestID(c)),
	}
	if id := caller(c).UserID; id != "" {
		attrs = append(attrs, slog.String("user_id", id))
	}
	s.log.LogAttrs(c.UserContext(), slog.LevelInfo, "request", attrs...)
	return nil
}

// logPanic records a recovered panic with its stack; the recover middleware then
// hands it on as an error (500).
func (s *Server) logPanic(c *fiber.Ctx, v any) {
	s.log.Error("panic", "panic", fmt.Sprint(v), "request_id", requestID(c), "path", c.Path())
}

// requestID returns the request's ID (set by the requestid middleware).
func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// caller returns the verified caller, or the zero Caller before authenticate ran.
func caller(c *fiber.Ctx) vibepass.Caller {
	v, _ := c.Locals(localCaller).(vibepass.Caller)
	return v
}

// authenticate verifies the bearer token before anything goes upstream.
func (s *Server) authenticate(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c) // a JWKS refresh must not stall the request
	defer cancel()
	// No token or another scheme gives "", which the verifier reports as a missing token.
	who, err := s.deps.Verifier.Verify(ctx, auth.BearerToken(c.Get(fiber.HeaderAuthorization)))
	if err != nil {
		return err
	}
	c.Locals(localCaller, who)
	return c.Next()
}

// checkAPIKey admits the model with a configured X-API-Key (constant time in
// APIKeys) and remembers a hash of it for the per-key rate limit.
func (s *Server) checkAPIKey(c *fiber.Ctx) error {
	key := c.Get("X-API-Key")
	if err := s.deps.APIKeys.Check(key); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(key))
	c.Locals(localKeyID, hex.EncodeToString(sum[:8]))
	return c.Next()
}

// limiter allows perMinute requests per key (fixed one-minute windows); over that
// the error handler answers 429 with Retry-After.
func (s *Server) limiter(perMinute int, key func(*fiber.Ctx) string) fiber.Handler {
	return limiter.New(limiter.Config{
		Max:          perMinute,
		Expiration:   time.Minute,
		KeyGenerator: key,
		LimitReached: func(*fiber.Ctx) error {
			return vibepass.ErrRateLimited
		},
	})
}

package proxy

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth"
)

// Keys of the values middleware leaves in c.Locals.
const (
	localRequestID = "vibepass.request_id"
	localCaller    = "vibepass.caller"
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
	s.logRequest(c, start)
	return nil
}

// logRequest writes the access log line of a request answered since start.
func (s *Server) logRequest(c *fiber.Ctx, start time.Time) {
	s.observeRequest(c, start)
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
}

// logPanic records a recovered panic with its stack; the recover middleware then
// hands it on as an error (500).
func (s *Server) logPanic(c *fiber.Ctx, v any) {
	s.log.Error("panic", "panic", fmt.Sprint(v), "request_id", requestID(c), "path", c.Path())
}

// requestID returns the request's ID (set by tagRequest).
func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// caller returns the verified caller, or the zero Caller before authenticate ran.
func caller(c *fiber.Ctx) vibepass.Caller {
	v, _ := c.Locals(localCaller).(vibepass.Caller)
	return v
}

// authenticate verifies the bearer token before anything goes upstream, then
// counts the request against the caller's own per-user limit.
func (s *Server) authenticate(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c) // a JWKS refresh must not stall the request
	defer cancel()
	// No token or another scheme gives "", which the verifier reports as a missing token.
	who, err := s.deps.Verifier.Verify(ctx, auth.BearerToken(c.Get(fiber.HeaderAuthorization)))
	if err != nil {
		return s.refused(c, err)
	}
	c.Locals(localCaller, who)
	if err := s.users.admit(c, who.UserID); err != nil {
		return err
	}
	return c.Next()
}

// apiKeyHeader carries the model's API key.
const apiKeyHeader = "X-API-Key"

// modelKeyLocal is the Locals key of the admitted model key's hash, which the feed's
// per-key cap counts under.
const modelKeyLocal = "vibepass.modelKey"

// checkAPIKey admits the model with a configured X-API-Key (constant time in
// APIKeys), then counts the request against that key's limit, kept under a
// hash of the key so the key itself is not held.
func (s *Server) checkAPIKey(c *fiber.Ctx) error {
	key := c.Get(apiKeyHeader)
	if err := s.deps.APIKeys.Check(key); err != nil {
		return s.refused(c, err)
	}
	sum := sha256.Sum256([]byte(key))
	c.Locals(modelKeyLocal, [8]byte(sum[:8]))
	if err := s.modelKeys.admit(c, [8]byte(sum[:8])); err != nil {
		return err
	}
	return c.Next()
}

// refused counts a refused credential (401, 403) against the client's IP and
// returns err, or ErrRateLimited once that IP is past rate_limit.failed_auth_per_minute.
// Only failures count, so a valid caller is never refused because others at its
// IP (one NAT, one office) failed; see docs/decisions.md. An error that is not
// the caller's doing, such as a JWKS that cannot be fetched, is not counted.
func (s *Server) refused(c *fiber.Ctx, err error) error {
	if code := vibepass.ErrorCode(err); code != vibepass.EUNAUTHORIZED && code != vibepass.EFORBIDDEN {
		return err
	}
	if lerr := s.failures.admit(c, failureKey(s.clientIP(c))); lerr != nil {
		return lerr
	}
	return err
}

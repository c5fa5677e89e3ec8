package proxy

import (
	"context"
	"errors"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass"
)

// statusOf is the one mapping from vibepass error codes to HTTP status.
var statusOf = map[string]int{
	vibepass.EINVALID:      fiber.StatusBadRequest,
	vibepass.EUNAUTHORIZED: fiber.StatusUnauthorized,
	vibepass.EFORBIDDEN:    fiber.StatusForbidden,
	vibepass.ENOTFOUND:     fiber.StatusNotFound,
	vibepass.EMETHOD:       fiber.StatusMethodNotAllowed,
	vibepass.EREQTIMEOUT:   fiber.StatusRequestTimeout,
	vibepass.ECONFLICT:     fiber.StatusConflict,
	vibepass.ETOOLARGE:     fiber.StatusRequestEntityTooLarge,
	vibepass.ERATELIMIT:    fiber.StatusTooManyRequests,
	vibepass.EINTERNAL:     fiber.StatusInternalServerError,
	vibepass.ENOTIMPL:      fiber.StatusNotImplemented,
	vibepass.EUNAVAILABLE:  fiber.StatusServiceUnavailable,
	vibepass.ETIMEOUT:      fiber.StatusGatewayTimeout,
}

// errorBody is the spec's error shape.
type errorBody struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
}

// handleError is Fiber's error handler: every error a handler, a middleware or
// Fiber itself returns ends here and leaves as {"success": false, "error": "..."}.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	verr := asVibepassError(err)
	status, ok := statusOf[verr.Code]
	if !ok {
		status = fiber.StatusInternalServerError
	}
	if status >= 500 && verr.Code != vibepass.ENOTIMPL { // a 501 is the client's doing
		// The cause may be a driver or transport error: logged for the operator (it
		// never holds a token or key), replaced by a generic message for the client.
		s.log.LogAttrs(c.UserContext(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(c)), slog.String("path", c.Path()),
			slog.String("code", verr.Code), slog.String("error", err.Error()))
	}
	return c.Status(status).JSON(errorBody{Error: verr.Message})
}

// asVibepassError classifies any error as a *vibepass.Error with a client-safe message.
func asVibepassError(err error) *vibepass.Error {
	var verr *vibepass.Error
	var ferr *fiber.Error
	switch {
	case errors.As(err, &verr):
		return verr
	case errors.As(err, &ferr):
		return fromFiberError(ferr)
	case errors.Is(err, context.DeadlineExceeded):
		return vibepass.ErrTimeout
	}
	return vibepass.ErrInternal
}

// fromFiberError names Fiber's own errors (routing, limits, malformed requests).
func fromFiberError(e *fiber.Error) *vibepass.Error {
	switch e.Code {
	case fiber.StatusNotFound:
		return vibepass.Errorf(vibepass.ENOTFOUND, "Not found")
	case fiber.StatusMethodNotAllowed:
		return vibepass.Errorf(vibepass.EMETHOD, "Method not allowed")
	case fiber.StatusRequestTimeout: // fasthttp's read of the request hit timeouts.read
		return vibepass.Errorf(vibepass.EREQTIMEOUT, "Request timeout")
	case fiber.StatusRequestEntityTooLarge:
		return vibepass.Errorf(vibepass.ETOOLARGE, "Request body too large")
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return vibepass.Errorf(vibepass.ETOOLARGE, "Request headers too large")
	case fiber.StatusTooManyRequests:
		return vibepass.ErrRateLimited
	}
	if e.Code >= 400 && e.Code < 500 {
		return vibepass.Errorf(vibepass.EINVALID, "Bad request")
	}
	return vibepass.ErrInternal
}

package proxy

import (
	"context"
	"errors"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass"
)

// httpError is how one vibepass error code is answered.
type httpError struct {
	status int
	// code is the body's "code" for errors without a Reason: the public name, part
	// of the API (docs/api.md, openapi.json), so it stays when the Go constant changes.
	code string
}

// httpErrors is the one mapping from vibepass error codes to HTTP status and code.
var httpErrors = map[string]httpError{
	vibepass.EINVALID:      {fiber.StatusBadRequest, "invalid_request"},
	vibepass.EUNAUTHORIZED: {fiber.StatusUnauthorized, "unauthorized"},
	vibepass.EFORBIDDEN:    {fiber.StatusForbidden, "forbidden"},
	vibepass.ENOTFOUND:     {fiber.StatusNotFound, "not_found"},
	vibepass.EMETHOD:       {fiber.StatusMethodNotAllowed, "method_not_allowed"},
	vibepass.EREQTIMEOUT:   {fiber.StatusRequestTimeout, "request_timeout"},
	vibepass.ECONFLICT:     {fiber.StatusConflict, "conflict"},
	vibepass.ETOOLARGE:     {fiber.StatusRequestEntityTooLarge, "too_large"},
	vibepass.ERATELIMIT:    {fiber.StatusTooManyRequests, "rate_limited"},
	vibepass.EINTERNAL:     {fiber.StatusInternalServerError, "internal_error"},
	vibepass.ENOTIMPL:      {fiber.StatusNotImplemented, "not_implemented"},
	vibepass.EUNAVAILABLE:  {fiber.StatusServiceUnavailable, "unavailable"},
	vibepass.ETIMEOUT:      {fiber.StatusGatewayTimeout, "upstream_timeout"},
}

// errorBody is the spec's error shape, plus a machine-readable code: the spec's
// clients read success and error and ignore the rest.
type errorBody struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
	Code    string `json:"code"`
}

// challenge is the WWW-Authenticate value of a 401 (RFC 9110 §11.6.1 requires one).
// RFC 6750 §3.1: a request without a token gets the bare scheme, one whose token
// failed gets error="invalid_token". The model's X-API-Key has no registered
// scheme; ApiKey names the header to send.
func challenge(reason string) string {
	switch reason {
	case vibepass.RMISSINGTOKEN:
		return "Bearer"
	case vibepass.RMISSINGAPIKEY:
		return `ApiKey header="X-API-Key"`
	}
	return `Bearer error="invalid_token"`
}

// handleError is Fiber's error handler: every error a handler, a middleware or
// Fiber itself returns ends here and leaves as {"success": false, "error": "..."}.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	verr := asVibepassError(err)
	h, ok := httpErrors[verr.Code]
	if !ok {
		h = httpErrors[vibepass.EINTERNAL]
	}
	status, code := h.status, h.code
	if verr.Reason != "" {
		code = verr.Reason
	}
	if status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, challenge(verr.Reason))
	}
	if status >= 500 && verr.Code != vibepass.ENOTIMPL { // a 501 is the client's doing
		// The cause may be a driver or transport error: logged for the operator (it
		// never holds a token or key), replaced by a generic message for the client.
		s.log.LogAttrs(c.UserContext(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(c)), slog.String("path", c.Path()),
			slog.String("code", verr.Code), slog.String("error", err.Error()))
	}
	return c.Status(status).JSON(errorBody{Error: verr.Message, Code: code})
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

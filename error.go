package vibepass

import (
	"errors"
	"fmt"
)

// Error codes; the proxy maps each to one HTTP status in one place.
const (
	EINVALID      = "invalid"      // 400: the request is malformed
	EUNAUTHORIZED = "unauthorized" // 401: no or bad credentials
	EFORBIDDEN    = "forbidden"    // 403: credentials valid but not allowed
	ENOTFOUND     = "not_found"    // 404: no such route
	EMETHOD       = "method"       // 405: route exists, method does not
	EREQTIMEOUT   = "slow_request" // 408: the request did not arrive within timeouts.read
	ECONFLICT     = "conflict"     // 409: the request collided with another change; retry
	ETOOLARGE     = "too_large"    // 413: body or headers over the limit
	ERATELIMIT    = "rate_limited" // 429: too many requests
	EINTERNAL     = "internal"     // 500: a bug or an unexpected answer
	ENOTIMPL      = "unsupported"  // 501: a method the server does not know at all
	EUNAVAILABLE  = "unavailable"  // 503: the database cannot be reached: nothing was done
	ETIMEOUT      = "timeout"      // 504: the database did not answer in time: the call may have been done
)

// Reasons: finer machine-readable causes than the codes, for the errors a client
// handles differently (renew the token, fix the key). The proxy shows an error's
// Reason, or its Code's public name, as "code" in the error body.
const (
	RMISSINGTOKEN  = "missing_token"     // 401: no bearer token
	RINVALIDTOKEN  = "invalid_token"     // 401: the token is malformed, unsigned, for another audience...
	RTOKENEXPIRED  = "token_expired"     // 401: the token's exp has passed; refresh it
	RMISSINGAPIKEY = "missing_api_key"   // 401: no X-API-Key
	RINVALIDAPIKEY = "invalid_api_key"   // 403: an X-API-Key that matches no configured key
	RKEYSLOADING   = "keys_unavailable"  // 503: the JWKS has not been fetched yet
	RNOTMIGRATED   = "schema_missing"    // 503: the database lacks the vibepass functions
	RMODELBUSY     = "model_busy"        // 503: limits.model_streams model reads run already
	RSESSIONENDED  = "session_not_found" // 401: the token's Supabase Auth session ended (signed out); sign in again
	RANONREFUSED   = "anonymous_refused" // 403: vibepass.settings.anonymous_users refuses anonymous users' check-ins
	RFEEDBUSY      = "feed_busy"         // 503: feed.subscribers event streams are open, or feed.subscribers_per_key for this key
)

// The errors more than one layer reports, each with its one message.
var (
	// ErrUnavailable: the database (or PostgREST) cannot be reached.
	ErrUnavailable = &Error{Code: EUNAVAILABLE, Message: "Database unavailable"}
	// ErrNotMigrated: the database answers but lacks the vibepass functions.
	ErrNotMigrated = &Error{Code: EUNAVAILABLE, Message: "Database schema missing: apply the migrations", Reason: RNOTMIGRATED}
	// ErrTimeout: the database (or PostgREST) did not answer in time.
	ErrTimeout = &Error{Code: ETIMEOUT, Message: "Database timed out"}
	// ErrAnswerLost: the connection to the database broke after the call was sent, so
	// the call may have been done. Like ErrTimeout, the outcome is unknown: a client
	// asks again (the user calls are idempotent) rather than assume nothing changed,
	// which ErrUnavailable alone promises.
	ErrAnswerLost = &Error{Code: ETIMEOUT, Message: "Database connection lost before it answered"}
	// ErrPermissionDenied: the database refused the caller (SQLSTATE 42501, HTTP 403).
	ErrPermissionDenied = &Error{Code: EFORBIDDEN, Message: "Permission denied"}
	// ErrTokenExpired: the access token's exp has passed.
	ErrTokenExpired = &Error{Code: EUNAUTHORIZED, Message: "Token expired", Reason: RTOKENEXPIRED}
	// ErrRateLimited: a rate limit was hit.
	ErrRateLimited = &Error{Code: ERATELIMIT, Message: "Too many requests, try again later"}
	// ErrInternal: a bug or an unexpected answer; the cause is logged, never shown.
	ErrInternal = &Error{Code: EINTERNAL, Message: "Internal error"}
)

// Error is an error whose Message is safe to show to the client as is.
type Error struct {
	Code    string
	Message string
	// Reason, when set, is a finer cause than Code for clients to act on (RTOKENEXPIRED...).
	Reason string
}

// Error implements the error interface.
func (e *Error) Error() string { return fmt.Sprintf("vibepass: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or EINTERNAL when err is not an *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err; other errors get a generic one.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ErrInternal.Message
}

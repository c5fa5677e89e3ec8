package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// The client's own codes, for failures that got no error answer from the server.
const (
	// CodeConnection: no answer, because the server could not be reached or the
	// connection broke before the answer was complete.
	CodeConnection = "connection_error"
	// CodeTimeout: no answer within the client's timeout or the context's deadline.
	CodeTimeout = "timeout"
	// CodeCanceled: the caller's context was canceled.
	CodeCanceled = "canceled"
	// CodeBadResponse: the server answered something that is not the documented JSON.
	CodeBadResponse = "bad_response"
	// CodeTokenSource: the TokenSource failed to give a token.
	CodeTokenSource = "token_source"
)

// kind is a class of *Error that errors.Is recognizes.
type kind struct{ name string }

func (k *kind) Error() string { return "vibepass: " + k.name }

// Kinds of failure, for errors.Is(err, client.ErrAuth) and the like.
var (
	// ErrAuth matches a 401 or 403: a missing, expired or refused token or API key.
	ErrAuth error = &kind{"not authorized"}
	// ErrBadRequest matches a 400 (including 400 invalid cursor).
	ErrBadRequest error = &kind{"bad request"}
	// ErrRateLimited matches a 429; RetryAfter says how long to wait.
	ErrRateLimited error = &kind{"rate limited"}
	// ErrUnavailable matches a 503 or 504: the database is down or slow, or too many reads or streams are open.
	ErrUnavailable error = &kind{"unavailable"}
	// ErrConnection matches a failure with no answer: cannot connect, or the connection broke.
	ErrConnection error = &kind{"cannot connect"}
	// ErrTimeout matches a failure with no answer in time (the client's timeout or the context's deadline).
	ErrTimeout error = &kind{"timeout"}
	// ErrBadResponse matches an answer that is not the API's documented JSON.
	ErrBadResponse error = &kind{"bad response"}
)

// Error is every failure the client reports: an error answer of the server (Status
// set, Code the body's "code") or a failure with no answer (Status 0, Code one of the
// client's own codes, Err the cause).
type Error struct {
	// Status is the HTTP status, or 0 when no answer came.
	Status int
	// Code is the server's machine-readable code (token_expired, invalid_api_key, ...) or the client's own (CodeConnection, ...).
	Code string
	// Message is the server's "error" text, or what went wrong.
	Message string
	// RetryAfter is the Retry-After header's wait, or 0 when there was none.
	RetryAfter time.Duration
	// Err is the underlying cause of a failure with no answer, or nil.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("vibepass: HTTP %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("vibepass: %s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause, so errors.Is(err, context.Canceled) works.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether e is of the kind target (ErrAuth, ErrTimeout, ...).
func (e *Error) Is(target error) bool {
	switch target {
	case ErrAuth:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout
	case ErrConnection:
		return e.Status == 0 && e.Code == CodeConnection
	case ErrTimeout:
		return e.Status == 0 && e.Code == CodeTimeout
	case ErrBadResponse:
		return e.Code == CodeBadResponse
	}
	return false
}

// Temporary reports whether asking again later may succeed: no answer (other than a
// cancel), 408, 409, 429 or a 5xx. A refused token or key, or a bad request, will not.
func (e *Error) Temporary() bool {
	switch {
	case e.Status == 0:
		return e.Code == CodeConnection || e.Code == CodeTimeout
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusConflict, e.Status == http.StatusTooManyRequests:
		return true
	}
	return e.Status >= 500
}

// errorFromResponse is the error for a non-2xx answer with the API's error body.
func errorFromResponse(status int, header http.Header, body []byte) *Error {
	e := &Error{Status: status, Message: fmt.Sprintf("HTTP %d with a body that is not the API's JSON", status)}
	var data struct {
		Error *string `json:"error"`
		Code  *string `json:"code"`
	}
	if json.Unmarshal(body, &data) == nil {
		if data.Error != nil {
			e.Message = *data.Error
		}
		if data.Code != nil {
			e.Code = *data.Code
		}
	}
	e.RetryAfter = retryAfter(header.Get("Retry-After"))
	return e
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// badResponse is the error for an answer that is not the documented JSON.
func badResponse(status int, format string, args ...any) *Error {
	return &Error{Status: status, Code: CodeBadResponse, Message: fmt.Sprintf(format, args...)}
}

// transportError is the error for err, met while asking url with ctx (the caller's).
func transportError(ctx context.Context, err error, url string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return &Error{Code: CodeTimeout, Message: fmt.Sprintf("no answer from %s before the context's deadline", url), Err: ctxErr}
		}
		return &Error{Code: CodeCanceled, Message: "canceled", Err: ctxErr}
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return &Error{Code: CodeTimeout, Message: fmt.Sprintf("vibepass at %s did not answer in time", url), Err: err}
	}
	var dnsErr *net.DNSError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) {
		return &Error{Code: CodeConnection, Message: fmt.Sprintf("cannot connect to vibepass at %s: is the server running?", url), Err: err}
	}
	return &Error{Code: CodeConnection, Message: fmt.Sprintf("connection to %s failed: %v", url, err), Err: err}
}

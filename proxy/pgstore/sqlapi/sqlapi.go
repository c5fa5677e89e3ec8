// Package sqlapi holds what both upstreams share about the vibepass SQL API: the JSON
// its functions return and what their SQLSTATE codes mean to a client. The direct
// upstream (pgstore) and the PostgREST upstream (rest) decode the same bytes with
// the same code, which is half of why both give the same answers.
package sqlapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vibepass/vibepass"
)

// NotSignedIn is the message the functions raise (SQLSTATE 42501) when no user is set.
const NotSignedIn = "not signed in"

// DecodeCheckin decodes what public.checkin() returns.
func DecodeCheckin(raw []byte) (vibepass.Checkin, error) {
	var c vibepass.Checkin
	if err := decode(raw, &c); err != nil {
		return vibepass.Checkin{}, err
	}
	if c.SessionID == "" || c.ExpiresAt.IsZero() {
		return vibepass.Checkin{}, fmt.Errorf("sqlapi: checkin returned %.200q", raw)
	}
	c.ExpiresAt = c.ExpiresAt.UTC()
	return c, nil
}

// DecodePass decodes what public.session_status() returns: nil for JSON null (no live pass).
func DecodePass(raw []byte) (*vibepass.Pass, error) {
	if isNull(raw) {
		return nil, nil
	}
	var p vibepass.Pass
	if err := decode(raw, &p); err != nil {
		return nil, err
	}
	if p.SessionID == "" || p.ExpiresAt.IsZero() || p.CheckedInAt.IsZero() {
		return nil, fmt.Errorf("sqlapi: session_status returned %.200q", raw)
	}
	p.CheckedInAt, p.ExpiresAt = p.CheckedInAt.UTC(), p.ExpiresAt.UTC()
	return &p, nil
}

// DecodeCheckout decodes what public.checkout() returns: JSON null means no pass was live.
func DecodeCheckout(raw []byte) (vibepass.Checkout, error) {
	if isNull(raw) {
		return vibepass.Checkout{}, nil
	}
	var ended struct {
		SessionID string `json:"session_id"`
	}
	if err := decode(raw, &ended); err != nil {
		return vibepass.Checkout{}, err
	}
	if ended.SessionID == "" {
		return vibepass.Checkout{}, fmt.Errorf("sqlapi: checkout returned %.200q", raw)
	}
	return vibepass.Checkout{Ended: true, SessionID: ended.SessionID}, nil
}

// isNull reports whether a function returned SQL NULL: no bytes from pgx, "null" from PostgREST.
func isNull(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func decode(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("sqlapi: decoding %.200q: %w", raw, err)
	}
	return nil
}

// Unavailable is the client-facing error for a database that cannot be reached.
func Unavailable() *vibepass.Error {
	return vibepass.Errorf(vibepass.EUNAVAILABLE, "Database unavailable")
}

// TimedOut is the client-facing error for a database that did not answer in time.
func TimedOut() *vibepass.Error {
	return vibepass.Errorf(vibepass.ETIMEOUT, "Database timed out")
}

// Error maps a SQLSTATE code and message raised by Postgres to a client-facing error,
// or nil when the code means a bug (the caller then reports an internal error).
// Only P0001 messages reach the client as written: the functions raise them for users.
func Error(sqlstate, message string) *vibepass.Error {
	switch {
	case sqlstate == "42501" && message == NotSignedIn:
		return vibepass.Errorf(vibepass.EUNAUTHORIZED, "Not signed in")
	case sqlstate == "42501":
		return vibepass.Errorf(vibepass.EFORBIDDEN, "Permission denied")
	case sqlstate == "P0001":
		return vibepass.Errorf(vibepass.EINVALID, "%s", message)
	case sqlstate == "23505":
		// The one-live-pass index: two check-ins of one user raced; the next one succeeds.
		return vibepass.Errorf(vibepass.EINVALID, "Conflicting request, try again")
	case strings.HasPrefix(sqlstate, "23"), strings.HasPrefix(sqlstate, "22"):
		return vibepass.Errorf(vibepass.EINVALID, "Invalid data")
	case sqlstate == "57014": // query_canceled: statement_timeout or a cancel request
		return TimedOut()
	case strings.HasPrefix(sqlstate, "08"), // connection exception
		strings.HasPrefix(sqlstate, "57P"), // admin shutdown, crash shutdown, cannot connect now
		strings.HasPrefix(sqlstate, "53"),  // insufficient resources, too many connections
		strings.HasPrefix(sqlstate, "40"):  // serialization failure, deadlock: retryable
		return Unavailable()
	}
	return nil
}

// ContextError maps an error caused by ctx ending to a client-facing error, or nil.
// A canceled request (the client left) reports as timed out: nobody reads the answer.
func ContextError(ctx context.Context, err error) *vibepass.Error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return TimedOut()
	}
	return nil
}

// Wrap returns an error that is e for errors.As (so vibepass.ErrorCode and ErrorMessage
// see e) and still carries cause for the log.
func Wrap(e *vibepass.Error, cause error) error {
	return fmt.Errorf("%w: %w", e, cause)
}

package proxy

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass"
)

// Messages fixed by the spec.
const (
	msgNoSession  = "No active session"
	msgCheckedOut = "Checked out successfully"
)

type messageResponse struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

// checkin handles POST /api/checkin: makes or renews the caller's pass.
func (s *Server) checkin(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	in, err := s.deps.Passes.Checkin(ctx, caller(c))
	if err != nil {
		return err
	}
	return sendJSON(c, appendCheckin(make([]byte, 0, responseCap), in))
}

// session handles GET /api/session: the caller's live pass, if any.
func (s *Server) session(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	pass, err := s.deps.Passes.SessionStatus(ctx, caller(c))
	if err != nil {
		return err
	}
	return sendJSON(c, appendSession(make([]byte, 0, responseCap), pass))
}

// checkout handles POST /api/checkout. It is idempotent: with no live pass it still
// succeeds, saying "No active session", so a client may retry it safely.
func (s *Server) checkout(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	out, err := s.deps.Passes.Checkout(ctx, caller(c))
	if err != nil {
		return err
	}
	if !out.Ended {
		return c.JSON(messageResponse{Success: true, Message: msgNoSession})
	}
	return c.JSON(messageResponse{Success: true, Message: msgCheckedOut})
}

// responseCap is room for a check-in or status answer (about 170 bytes).
const responseCap = 256

// sendJSON answers with body, JSON already, as c.JSON would with what it encodes.
func sendJSON(c *fiber.Ctx, body []byte) error {
	c.Response().SetBodyRaw(body)
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return nil
}

// appendCheckin appends the check-in answer for in. Like appendActiveUser, it writes
// byte for byte what encoding/json writes for the spec's shape (tested), without its
// reflection: the user endpoints answer thousands of times a second.
func appendCheckin(b []byte, in vibepass.Checkin) []byte {
	b = append(b, `{"success":true,"message":`...)
	// The database decides the length, so the message names the one it gave.
	b = appendJSONString(b, CheckinMessage(in.ExpiresInMinutes))
	b = append(b, `,"data":{"session_id":`...)
	b = appendJSONString(b, in.SessionID)
	b = appendTimeMember(b, "expires_at", in.ExpiresAt)
	return appendMinutesMember(b, "expires_in_minutes", in.ExpiresInMinutes)
}

// appendSession appends the session status answer for pass (nil: no live pass), as
// appendCheckin does.
func appendSession(b []byte, pass *vibepass.Pass) []byte {
	if pass == nil {
		b = append(b, `{"success":true,"active":false,"message":`...)
		return append(appendJSONString(b, msgNoSession), '}')
	}
	b = append(b, `{"success":true,"active":true,"data":{"session_id":`...)
	b = appendJSONString(b, pass.SessionID)
	b = appendTimeMember(b, "checked_in_at", pass.CheckedInAt)
	b = appendTimeMember(b, "expires_at", pass.ExpiresAt)
	return appendMinutesMember(b, "minutes_remaining", pass.MinutesRemaining)
}

// appendTimeMember appends `,"name":"<t>"`, t as the API shows times.
func appendTimeMember(b []byte, name string, t time.Time) []byte {
	b = append(append(append(b, `,"`...), name...), `":"`...)
	return append(appendTimestamp(b, t), '"')
}

// appendMinutesMember appends the answer's last member, `,"name":<minutes>`, and closes
// its data object and the answer.
func appendMinutesMember(b []byte, name string, minutes int) []byte {
	b = append(append(append(b, `,"`...), name...), `":`...)
	return append(strconv.AppendInt(b, int64(minutes), 10), "}}"...)
}

// healthz answers while the process serves.
func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(messageResponse{Success: true, Message: "ok"})
}

// readyz answers 200 when the upstream answers a ping within timeouts.ready, holds
// the vibepass functions, and the verifier has its keys, else 503.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.Timeouts.Ready)
	defer cancel()
	if err := s.deps.Readiness.Ping(ctx); err != nil {
		s.log.Warn("readiness ping failed", "request_id", requestID(c), "error", err.Error())
		if errors.Is(err, vibepass.ErrNotMigrated) {
			return vibepass.ErrNotMigrated // the operator's fix differs: say which
		}
		return vibepass.ErrUnavailable
	}
	if err := s.deps.Verifier.Ready(); err != nil {
		return err // EUNAVAILABLE: the JWKS has not been fetched yet
	}
	return c.JSON(messageResponse{Success: true, Message: "ready"})
}

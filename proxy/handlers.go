package proxy

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/apijson"
)

// msgCheckedOut is the spec's message for a checkout that ended a pass.
const msgCheckedOut = "Checked out successfully"

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
	return sendJSON(c, apijson.AppendCheckin(make([]byte, 0, apijson.ResponseCap), in))
}

// session handles GET /api/session: the caller's live pass, if any.
func (s *Server) session(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	pass, err := s.deps.Passes.SessionStatus(ctx, caller(c))
	if err != nil {
		return err
	}
	return sendJSON(c, apijson.AppendSession(make([]byte, 0, apijson.ResponseCap), pass))
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
		return c.JSON(messageResponse{Success: true, Message: apijson.NoSession})
	}
	return c.JSON(messageResponse{Success: true, Message: msgCheckedOut})
}

// sendJSON answers with body, JSON already, as c.JSON would with what it encodes.
func sendJSON(c *fiber.Ctx, body []byte) error {
	c.Response().SetBodyRaw(body)
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return nil
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

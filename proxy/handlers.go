package proxy

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass"
)

// Messages fixed by the spec.
const (
	msgNoSession  = "No active session"
	msgCheckedOut = "Checked out successfully"
)

type checkinData struct {
	SessionID        string    `json:"session_id"`
	ExpiresAt        timestamp `json:"expires_at"`
	ExpiresInMinutes int       `json:"expires_in_minutes"`
}

type checkinResponse struct {
	Success bool        `json:"success"`
	Message string      `json:"message"`
	Data    checkinData `json:"data"`
}

type passData struct {
	SessionID        string    `json:"session_id"`
	CheckedInAt      timestamp `json:"checked_in_at"`
	ExpiresAt        timestamp `json:"expires_at"`
	MinutesRemaining int       `json:"minutes_remaining"`
}

type sessionResponse struct {
	Success bool      `json:"success"`
	Active  bool      `json:"active"`
	Message string    `json:"message,omitempty"`
	Data    *passData `json:"data,omitempty"`
}

type messageResponse struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

// checkin handles POST /api/checkin: makes or renews the caller's pass.
func (s *Server) checkin(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	in, err := s.deps.Store.Checkin(ctx, caller(c))
	if err != nil {
		return err
	}
	// The database decides the length, so the message names the one it gave.
	return c.JSON(checkinResponse{Success: true, Message: CheckinMessage(in.ExpiresInMinutes), Data: checkinData{
		SessionID: in.SessionID, ExpiresAt: timestamp(in.ExpiresAt), ExpiresInMinutes: in.ExpiresInMinutes,
	}})
}

// session handles GET /api/session: the caller's live pass, if any.
func (s *Server) session(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	pass, err := s.deps.Store.SessionStatus(ctx, caller(c))
	if err != nil {
		return err
	}
	if pass == nil {
		return c.JSON(sessionResponse{Success: true, Active: false, Message: msgNoSession})
	}
	return c.JSON(sessionResponse{Success: true, Active: true, Data: &passData{
		SessionID: pass.SessionID, CheckedInAt: timestamp(pass.CheckedInAt),
		ExpiresAt: timestamp(pass.ExpiresAt), MinutesRemaining: pass.MinutesRemaining,
	}})
}

// checkout handles POST /api/checkout. It is idempotent: with no live pass it still
// succeeds, saying "No active session", so a client may retry it safely.
func (s *Server) checkout(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	out, err := s.deps.Store.Checkout(ctx, caller(c))
	if err != nil {
		return err
	}
	if !out.Ended {
		return c.JSON(messageResponse{Success: true, Message: msgNoSession})
	}
	return c.JSON(messageResponse{Success: true, Message: msgCheckedOut})
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
	if err := s.deps.Store.Ping(ctx); err != nil {
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

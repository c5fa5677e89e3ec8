package proxy

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// openAPI is the API's OpenAPI 3.0 description, written by hand. Every response
// the HTTP tests receive is checked against it, so it cannot drift from the code.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API's OpenAPI document (JSON); callers must not modify it.
func OpenAPI() []byte { return openAPI }

// openAPIDocument handles GET /openapi.json.
func (s *Server) openAPIDocument(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(openAPI)
}

// MountMetrics serves GET /metrics with the API, on the main address: dev does,
// while serve gives the metrics a listener of their own (see docs/decisions.md).
func (s *Server) MountMetrics() {
	s.app.Get("/metrics", adaptor.HTTPHandler(s.MetricsHandler()))
}

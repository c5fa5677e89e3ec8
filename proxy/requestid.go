package proxy

import (
	"crypto/rand"

	"github.com/gofiber/fiber/v2"
)

// maxRequestIDLen bounds a client's X-Request-ID: a UUID or a tracing id fits.
const maxRequestIDLen = 64

// tagRequest is the first middleware: it gives the request its ID (see assignRequestID).
func (s *Server) tagRequest(c *fiber.Ctx) error {
	assignRequestID(c)
	return c.Next()
}

// assignRequestID keeps the client's X-Request-ID when it is short and safe to echo
// and log, and otherwise makes a random one (a counter would tell how busy the
// server is and let one request's ID predict the next); the response carries it.
func assignRequestID(c *fiber.Ctx) {
	id := c.Get(fiber.HeaderXRequestID)
	if !safeRequestID(id) {
		id = rand.Text() // 26 base32 characters, 128 random bits
	}
	c.Set(fiber.HeaderXRequestID, id)
	c.Locals(localRequestID, id)
}

// safeRequestID reports whether id is 1 to maxRequestIDLen of [A-Za-z0-9._-]:
// nothing that could forge a log line, break a header or fill a disk.
func safeRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

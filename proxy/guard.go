package proxy

import (
	"bytes"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/vibepass/vibepass"
)

// The guard's answers. Framing errors say no more than fasthttp's own 400s do.
var (
	errAmbiguousFraming = vibepass.Errorf(vibepass.EINVALID, "Bad request")
	errUnknownMethod    = vibepass.Errorf(vibepass.ENOTIMPL, "Method not implemented")
)

// crlf ends every line of a header block.
var crlf = []byte("\r\n")

// guard wraps Fiber's request handler. It refuses, in the spec's shape, what must
// not reach a route: a header block that another HTTP parser in front of us could
// frame differently (request smuggling), and a method Fiber does not know (Fiber
// would answer that itself, in plain text, before any middleware runs).
func (s *Server) guard(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(fc *fasthttp.RequestCtx) {
		err := framingError(fc.Request.Header.RawHeaders())
		if err != nil {
			// RFC 9112 §6.3: answer 400 and close, since where this request ends
			// and the next begins is in doubt.
			fc.SetConnectionClose()
		} else if !knownMethod(fc.Method()) {
			err = errUnknownMethod
		} else {
			next(fc)
			return
		}
		start := time.Now()
		c := s.app.AcquireCtx(fc)
		defer s.app.ReleaseCtx(c)
		assignRequestID(c)
		_ = s.handleError(c, err) // an errorBody always encodes
		s.logRequest(c, start)
	}
}

// knownMethod reports whether Fiber routes method (it answers others itself).
func knownMethod(method []byte) bool {
	for _, m := range fiber.DefaultMethods {
		if string(method) == m {
			return true
		}
	}
	return false
}

// framingError checks the header block as it came off the wire, for what fasthttp
// accepts but a stricter or laxer parser could read as a different message length.
// fasthttp itself refuses duplicate Content-Length, unknown transfer codings, CR in
// names and space before the colon; it accepts the cases below, which RFC 9112
// allows a server to refuse (and RFC 9112 §6.3 requires for a request whose
// Transfer-Encoding does not end in chunked):
//   - lines ending in a bare LF (§2.2), so every parser finds the same end of block;
//   - obs-fold continuation lines (§5.2);
//   - a field name that is not a token, e.g. with a space inside (RFC 9110 §5.1);
//   - Transfer-Encoding other than exactly "chunked" (fasthttp drops "identity");
//   - Content-Length together with Transfer-Encoding (§6.1; fasthttp uses chunked).
func framingError(raw []byte) error {
	var contentLength, transferEncoding bool
	for len(raw) > 0 {
		line, rest, ok := bytes.Cut(raw, crlf)
		if !ok || bytes.ContainsAny(line, "\r\n") {
			return errAmbiguousFraming
		}
		raw = rest
		if len(line) == 0 { // the blank line that ends the block
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !isToken(name) { // a leading space or tab (obs-fold) is not a token either
			return errAmbiguousFraming
		}
		switch {
		case bytes.EqualFold(name, []byte(fasthttp.HeaderContentLength)):
			contentLength = true
		case bytes.EqualFold(name, []byte(fasthttp.HeaderTransferEncoding)):
			transferEncoding = true
			if !bytes.EqualFold(bytes.Trim(value, " \t"), []byte("chunked")) {
				return errAmbiguousFraming
			}
		}
	}
	if contentLength && transferEncoding {
		return errAmbiguousFraming
	}
	return nil
}

// isToken reports whether b is an RFC 9110 token, which a field name must be.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

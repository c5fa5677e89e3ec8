package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vibepass/vibepass/proxy"
)

// rawConn is a client connection that writes bytes as given, for requests net/http
// would never send.
type rawConn struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialRaw connects to the test server at base (http://host:port); every read and
// write must finish within 30 s, so a server that neither answers nor closes fails
// the test instead of hanging it.
func dialRaw(t *testing.T, base string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &rawConn{conn: conn, r: bufio.NewReader(conn)}
}

// send writes raw to the connection.
func (c *rawConn) send(t *testing.T, raw string) {
	t.Helper()
	if _, err := io.WriteString(c.conn, raw); err != nil {
		t.Fatal(err)
	}
}

// answer reads the next response on the connection, the answer to a method path
// request (what readResponse checks it against the OpenAPI document for).
func (c *rawConn) answer(t *testing.T, method, path string) response {
	t.Helper()
	req, _ := http.NewRequest(method, "http://raw"+path, nil)
	resp, err := http.ReadResponse(c.r, req)
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	return readResponse(t, resp)
}

// wantClosed checks that the server closed the connection after its answers,
// without answering anything more on it.
func (c *rawConn) wantClosed(t *testing.T) {
	t.Helper()
	rest, err := io.ReadAll(c.r)
	switch {
	case len(rest) > 0:
		t.Errorf("the server answered again on the connection (a smuggled request was served):\n%s", rest)
	case err != nil:
		t.Errorf("the connection was left open: %v", err)
	}
}

// smuggled is a request hidden in the body of the one before it, if that one's
// length is read as 43 bytes; it must never be answered.
const smuggled = "GET /healthz?SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"

// TestAmbiguousFramingRefused sends requests whose length another HTTP parser (a
// proxy in front) could read differently, each followed by a smuggled request:
// each gets a 400 in the spec's shape, the connection is closed, and the smuggled
// request is never answered.
func TestAmbiguousFramingRefused(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, nil)
	const post = "POST /api/checkout HTTP/1.1\r\nHost: x\r\n"
	if len(smuggled) != 43 {
		t.Fatalf("the smuggled request is %d bytes, want the 43 the cases declare", len(smuggled))
	}
	for _, tc := range []struct{ name, raw string }{
		{"duplicate Content-Length", post + "Content-Length: 43\r\nContent-Length: 0\r\n\r\n" + smuggled},
		{"duplicate equal Content-Length", post + "Content-Length: 43\r\nContent-Length: 43\r\n\r\n" + smuggled},
		{"Content-Length list", post + "Content-Length: 43, 43\r\n\r\n" + smuggled},
		{"Content-Length and chunked", post + "Content-Length: 43\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"Content-Length and xchunked", post + "Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled},
		{"identity", post + "Transfer-Encoding: identity\r\n\r\n" + smuggled},
		{"two Transfer-Encoding fields", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"space before the colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"folded Transfer-Encoding", post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"space inside a field name", post + "Content Length: 43\r\n\r\n" + smuggled},
		{"CR in a field name", post + "Content-Length: 0\r\nContent\rLength: 43\r\n\r\n" + smuggled},
		{"LF-only lines", "POST /api/checkout HTTP/1.1\nHost: x\nContent-Length: 0\n\n" + smuggled},
		{"a bare LF inside the block", post + "X-Note: a\nContent-Length: 43\r\n\r\n" + smuggled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.URL)
			c.send(t, tc.raw)
			wantError(t, c.answer(t, "POST", "/api/checkout"), http.StatusBadRequest, "Bad request")
			c.wantClosed(t)
		})
	}

	// Plain framing, chunked included (any case, tab before the value), still works
	// and pipelines: the guard refuses only what is ambiguous.
	c := dialRaw(t, ts.URL)
	c.send(t, post+"Transfer-Encoding:\tChunked\r\n\r\n0\r\n\r\n"+smuggled)
	wantError(t, c.answer(t, "POST", "/api/checkout"), http.StatusUnauthorized, "Missing bearer token")
	if r := c.answer(t, "GET", "/healthz"); r.Status != 200 {
		t.Errorf("the request after a chunked one = %d %s", r.Status, r.Raw)
	}
	c.send(t, post+"Content-Length: 2\r\n\r\n{}"+smuggled)
	wantError(t, c.answer(t, "POST", "/api/checkout"), http.StatusUnauthorized, "Missing bearer token")
	if r := c.answer(t, "GET", "/healthz"); r.Status != 200 {
		t.Errorf("the request after one with a body = %d %s", r.Status, r.Raw)
	}
}

// TestProtocolErrorsInSpecShape checks the answers Fiber and fasthttp used to give in
// plain text: an unknown method, an HTTP/2 preface, a request that never finishes.
func TestProtocolErrorsInSpecShape(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) { c.Timeouts.Read = time.Second })

	c := dialRaw(t, ts.URL)
	c.send(t, "FOO /api/session HTTP/1.1\r\nHost: x\r\n\r\n")
	r := c.answer(t, "FOO", "/api/session")
	wantError(t, r, http.StatusNotImplemented, "Method not implemented")
	if r.Header.Get("X-Request-ID") == "" {
		t.Error("the 501 has no X-Request-ID")
	}
	if !strings.Contains(ts.Logs.String(), `"method":"FOO","path":"/api/session","status":501`) {
		t.Errorf("no access log line for the unknown method:\n%s", ts.Logs)
	}

	c = dialRaw(t, ts.URL)
	c.send(t, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	wantError(t, c.answer(t, "PRI", "/"), http.StatusBadRequest, "Bad request")
	c.wantClosed(t)

	// The header block never ends: after timeouts.read the answer is 408.
	c = dialRaw(t, ts.URL)
	c.send(t, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	wantError(t, c.answer(t, "GET", "/healthz"), http.StatusRequestTimeout, "Request timeout")
	c.wantClosed(t)
}

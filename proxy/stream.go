package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass"
)

// rowBatchSize is how many rows travel together from the store to the writer:
// large enough to keep channel hand-offs cheap, small enough to bound memory.
const rowBatchSize = 256

// rowBatch is one hand-off from the store reader to the response writer. The
// last one has end set and carries the store's result.
type rowBatch struct {
	rows []vibepass.ActiveUser
	end  bool
	err  error
}

// appendActiveUser appends u as the spec's row object. It writes what encoding/json
// would write for the same fields, byte for byte (tested), at a fraction of the cost:
// a 100k-row list spent over half of the proxy's CPU in json.Marshal.
func appendActiveUser(b []byte, u vibepass.ActiveUser) ([]byte, error) {
	b = append(b, `{"user_id":`...)
	b = appendJSONString(b, u.UserID)
	b = append(b, `,"display_name":`...)
	b = appendJSONString(b, u.DisplayName)
	b = append(b, `,"checked_in_at":"`...)
	b = appendTimestamp(b, u.CheckedInAt)
	b = append(b, `","expires_at":"`...)
	b = appendTimestamp(b, u.ExpiresAt)
	b = append(b, `","preferences":`...)
	b, err := appendPreferences(b, u.Preferences)
	return append(b, '}'), err
}

// appendJSONString appends s as a JSON string. Printable ASCII with nothing to escape
// (ids, most names) is copied; anything else goes through encoding/json, so escapes,
// HTML-safe characters and invalid UTF-8 come out exactly as it writes them.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendPreferences appends p as JSON numbers that always read back as floats: the
// spec promises "5 floats", and Python's json makes 1 an int but 1.0 a float.
func appendPreferences(b []byte, p []float64) ([]byte, error) {
	b = append(b, '[')
	for i, f := range p {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, fmt.Errorf("preference %d is %v, not a JSON number", i, f)
		}
		b = appendPreference(b, f)
	}
	return append(b, ']'), nil
}

// appendPreference appends f in the shortest form that reads back as the same float64,
// as encoding/json chooses it: exponent form below 1e-6 and from 1e21 (in 'f' form a
// subnormal such as 5e-324 takes 326 characters), plain decimals with ".0" on whole
// numbers between. An exponent already reads as a float. -0 comes out as 0.0: the
// database holds preferences in [0, 1], where the sign of a zero means nothing, and a
// "-0.0" would only surprise a reader that formats or divides by it.
func appendPreference(b []byte, f float64) []byte {
	if f == 0 { // and -0
		return append(b, "0.0"...)
	}
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// encoding/json's clean-up: e-07 becomes e-7.
		if n := len(b); b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	if bytes.IndexByte(b[n:], '.') < 0 {
		b = append(b, '.', '0')
	}
	return b
}

// errStreamCut reports rows that stopped before the store finished (timeout or cancel).
var errStreamCut = errors.New("active users stream cut before the store finished")

// errModelBusy answers a model request while limits.model_streams streams run.
var errModelBusy = &vibepass.Error{Code: vibepass.EUNAVAILABLE, Message: "Too many model reads at once, try again shortly", Reason: vibepass.RMODELBUSY}

// modelBusyRetryAfter is the Retry-After of errModelBusy, in seconds: a client that
// keeps up reads 100k rows in under half a second (docs/performance.md).
const modelBusyRetryAfter = "1"

// activeUsers handles GET /api/model/active-users. It streams
// {"success":true,"timestamp":...,"data":[rows...],"count":N} as rows arrive, so
// the list is never held in memory. The status is committed only once the store has
// produced its first rows (or finished), so a database that is down still gets a
// proper error response; an error after that cuts the body short, which leaves
// invalid JSON (and a broken gzip stream) that no client can take for a full list.
// At most limits.model_streams run at once: a client that reads slowly keeps its
// stream, and its store read, for up to timeouts.write, so more are refused at once
// with 503 and Retry-After rather than queued.
func (s *Server) activeUsers(c *fiber.Ctx) error {
	// The head first: passes that ran out get logged, so the ETag moves with them, and a
	// 304 costs the database a few rows instead of the list.
	tickCtx, cancelTick := s.upstreamContext(c)
	head, err := s.deps.Store.PresenceTick(tickCtx)
	cancelTick()
	if err != nil {
		return err
	}
	etag := feedETag(head.Cursor)
	c.Set(fiber.HeaderETag, etag)
	if match := c.Get(fiber.HeaderIfNoneMatch); match != "" && etagMatches(match, etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	select {
	case s.modelSlots <- struct{}{}: // given back by readActiveUsers once the read is over
	default:
		s.metrics.rejections.WithLabelValues("model_streams").Inc()
		c.Set(fiber.HeaderRetryAfter, modelBusyRetryAfter)
		return errModelBusy
	}
	// The read may outlive this handler: it ends when the stream does, at the write
	// timeout, which caps the response anyway, or when a shutdown's grace period ends.
	ctx, cancel := context.WithTimeout(s.streams, s.cfg.Timeouts.Write)
	batches := make(chan rowBatch, 2)
	go s.readActiveUsers(ctx, batches)

	first, err := awaitFirstBatch(batches, s.cfg.Timeouts.Upstream)
	if err != nil {
		cancel()
		return err
	}

	// AcceptsEncodings takes a missing header as "anything": gzip only when asked for.
	gz := c.Get(fiber.HeaderAcceptEncoding) != "" && c.AcceptsEncodings("gzip") == "gzip"
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Vary(fiber.HeaderAcceptEncoding)
	if gz {
		c.Set(fiber.HeaderContentEncoding, "gzip")
	}
	if c.Method() == fiber.MethodHead { // headers only: a body stream would leak onto the connection
		cancel()
		return nil
	}
	stamp := timestamp(s.deps.Clock())
	log := s.log.With("request_id", requestID(c)) // the ctx must not be touched in the writer
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		n, err := writeActiveUsers(w, gz, stamp, head.Cursor, first, batches)
		if err != nil {
			log.Error("active users stream failed", "rows_sent", n, "error", err.Error())
			return
		}
		log.Debug("active users streamed", "count", n)
	})
	return nil
}

// readActiveUsers runs the store's read, handing rows on in batches. It stops when
// ctx ends, so an abandoned stream frees its database connection, and then gives
// back the stream's slot.
func (s *Server) readActiveUsers(ctx context.Context, out chan<- rowBatch) {
	defer func() { <-s.modelSlots }()
	defer close(out)
	send := func(b rowBatch) error {
		select {
		case out <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	batch := make([]vibepass.ActiveUser, 0, rowBatchSize)
	err := s.deps.Store.ActiveUsers(ctx, func(u vibepass.ActiveUser) error {
		batch = append(batch, u)
		if len(batch) < rowBatchSize {
			return nil
		}
		full := batch
		batch = make([]vibepass.ActiveUser, 0, rowBatchSize)
		return send(rowBatch{rows: full})
	})
	_ = send(rowBatch{rows: batch, end: true, err: err}) // fails only when ctx ended: the reader is gone
}

// awaitFirstBatch waits up to timeout for the store's first rows or its result.
func awaitFirstBatch(batches <-chan rowBatch, timeout time.Duration) (rowBatch, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case b, ok := <-batches:
		if !ok {
			return rowBatch{}, errStreamCut
		}
		if b.err != nil {
			return rowBatch{}, b.err
		}
		return b, nil
	case <-timer.C:
		return rowBatch{}, vibepass.ErrTimeout
	}
}

// writeActiveUsers writes the response body from first and then batches, gzipped
// when gz is set, and returns how many rows it wrote. The JSON is closed (with the
// count, known only now) only when the store finished without error.
func writeActiveUsers(w *bufio.Writer, gz bool, stamp timestamp, cursor int64, first rowBatch, batches <-chan rowBatch) (int, error) {
	var out io.Writer = w
	var zw *gzip.Writer
	if gz {
		zw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed) // the level is valid: no error
		out = zw
	}
	head, _ := stamp.MarshalText()
	buf := append([]byte(`{"success":true,"timestamp":"`), head...)
	buf = append(buf, `","data":[`...)
	if _, err := out.Write(buf); err != nil {
		return 0, err
	}
	count := 0
	// One write per batch: Fiber's stream writer turns every flush of its small buffer
	// into a chunk and a system call, so rows are gathered here first.
	var chunk []byte
	for b, ok := first, true; ; b, ok = <-batches {
		if !ok {
			return count, errStreamCut
		}
		chunk = chunk[:0]
		for _, u := range b.rows {
			if count > 0 {
				chunk = append(chunk, ',')
			}
			var err error
			if chunk, err = appendActiveUser(chunk, u); err != nil {
				return count, err
			}
			count++
		}
		if _, err := out.Write(chunk); err != nil { // a client that left shows up here
			return count, err
		}
		if b.end {
			if b.err != nil {
				return count, b.err
			}
			break
		}
	}
	if _, err := out.Write([]byte(`],"count":` + strconv.Itoa(count) + `,"cursor":"` + formatCursor(cursor) + `"}`)); err != nil {
		return count, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return count, err
		}
	}
	return count, w.Flush()
}

package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/apijson"
	"github.com/vibepass/vibepass/proxy/metrics"
)

// listChunkSize is how many bytes of encoded rows travel together from the store
// reader to the response body, and so the size of each write to the client: fasthttp
// frames each as one HTTP chunk with a system call or three, where its stream writer
// cut the body into 4 KB chunks and a system call each.
const listChunkSize = 64 << 10

// listBuffers is how many chunk buffers a stream uses, whatever the list's size: one
// being filled, two queued, one being written.
const listBuffers = 4

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
	head, err := s.deps.Presence.PresenceTick(tickCtx)
	cancelTick()
	if err != nil {
		return err
	}
	etag := feedETag(head.Cursor)
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderCacheControl, "private, no-cache") // a client's own cache may keep it, and must ask with the ETag
	if match := c.Get(fiber.HeaderIfNoneMatch); match != "" && etagMatches(match, etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	select {
	case s.modelSlots <- struct{}{}: // given back by readActiveUsers once the read is over
	default:
		s.metrics.Rejections(metrics.LimiterModelStreams).Inc()
		c.Set(fiber.HeaderRetryAfter, modelBusyRetryAfter)
		return errModelBusy
	}
	// The read may outlive this handler: it ends when the stream does, at the write
	// timeout, which caps the response anyway, or when a shutdown's grace period ends.
	ctx, cancel := context.WithTimeout(s.streams, s.cfg.Timeouts.Write)
	chunks := make(chan listChunk, 2)
	free := make(chan []byte, listBuffers)
	go s.readActiveUsers(ctx, chunks, free, s.deps.Clock(), head.Cursor)

	first, err := awaitFirstChunk(chunks, s.cfg.Timeouts.Upstream)
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
	body := &listBody{first: &first, chunks: chunks, free: free, cancel: cancel,
		log: s.log.With("request_id", requestID(c))} // the ctx must not be touched in the body
	if gz {
		body.gz, _ = gzip.NewWriterLevel(&body.zipped, gzip.BestSpeed) // the level is valid: no error
	}
	c.Context().SetBodyStream(body, -1)
	return nil
}

// listChunk is one hand-off from the store reader to the response body: the encoded
// rows (the head before the first, the tail after the last), how many rows were
// encoded so far, and whether this is the end. The last one carries the read's error.
type listChunk struct {
	data []byte
	rows int
	end  bool
	err  error
}

// readActiveUsers runs the store's read into out, as encodeList. It stops when ctx
// ends, so an abandoned stream frees its database connection, and then gives back the
// stream's slot.
func (s *Server) readActiveUsers(ctx context.Context, out chan<- listChunk, free <-chan []byte, stamp time.Time, cursor int64) {
	defer func() { <-s.modelSlots }()
	encodeList(ctx, out, free, stamp, cursor, func(view func(*vibepass.ActiveUserView) error, value func(vibepass.ActiveUser) error) error {
		if s.deps.Views != nil {
			return s.deps.Views.ActiveUserViews(ctx, view)
		}
		return s.deps.Presence.ActiveUsers(ctx, value)
	})
}

// encodeList encodes the body of the list that read hands to one of its two emits, in
// chunks of about listChunkSize sent to out (closed at the end), in listBuffers buffers
// at most, which come back through free (of that capacity) once written. The JSON is
// closed (with the count, known only now) only when read finished without error.
func encodeList(ctx context.Context, out chan<- listChunk, free <-chan []byte, stamp time.Time, cursor int64,
	read func(view func(*vibepass.ActiveUserView) error, value func(vibepass.ActiveUser) error) error) {
	defer close(out)
	send := func(c listChunk) error {
		select {
		case out <- c:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	made := 1
	// spare returns a written buffer, or a new one while fewer than listBuffers exist.
	spare := func() ([]byte, error) {
		select {
		case b := <-free:
			return b[:0], nil
		default:
		}
		if made < listBuffers {
			made++
			return make([]byte, 0, listChunkSize+listChunkSize/8), nil
		}
		select {
		case b := <-free:
			return b[:0], nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	buf := apijson.AppendListHead(make([]byte, 0, listChunkSize+listChunkSize/8), stamp)
	count := 0
	// added ends a row: the chunk goes once it is full.
	added := func(err error) error {
		if err != nil {
			return err
		}
		if count++; len(buf) < listChunkSize {
			return nil
		}
		if err := send(listChunk{data: buf, rows: count}); err != nil {
			return err
		}
		buf, err = spare()
		return err
	}
	comma := func() {
		if count > 0 {
			buf = append(buf, ',')
		}
	}
	err := read(func(v *vibepass.ActiveUserView) (err error) {
		comma()
		buf, err = apijson.AppendActiveUserView(buf, v)
		return added(err)
	}, func(u vibepass.ActiveUser) (err error) {
		comma()
		buf, err = apijson.AppendActiveUser(buf, u)
		return added(err)
	})
	if err == nil {
		buf = apijson.AppendListTail(buf, count, formatCursor(cursor))
	}
	_ = send(listChunk{data: buf, rows: count, end: true, err: err}) // fails only when ctx ended: the reader is gone
}

// awaitFirstChunk waits up to timeout for the store's first rows or its result.
func awaitFirstChunk(chunks <-chan listChunk, timeout time.Duration) (listChunk, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case c, ok := <-chunks:
		if !ok {
			return listChunk{}, errStreamCut
		}
		if c.err != nil {
			return listChunk{}, c.err
		}
		return c, nil
	case <-timer.C:
		return listChunk{}, vibepass.ErrTimeout
	}
}

// listBody is the list's response body as fasthttp reads it: the chunks of
// readActiveUsers, gzipped when gz is set. fasthttp calls its WriteTo, which hands it
// each chunk in one write (its stream writer's pipe cut them into 4 KB chunks, each
// one HTTP chunk and a system call); Read serves any other reader. An error after the
// first chunk cuts the body short, which leaves invalid JSON (and a broken gzip
// stream) that no client can take for a full list. Close, which fasthttp calls once
// the response is done with, ends the store's read if it still runs.
type listBody struct {
	first  *listChunk // not yet taken
	chunks <-chan listChunk
	free   chan<- []byte // buffers written, for the reader to fill again (room for all)
	cancel context.CancelFunc
	log    *slog.Logger
	gz     *gzip.Writer // nil for a plain body
	zipped bytes.Buffer // gz's output of the current chunk
	sent   []byte       // the buffer of the chunk last handed out, to give back
	unread []byte       // what Read has not handed out of the current chunk
	rows   int          // rows in the chunks taken
	done   bool         // the last chunk was taken
	err    error        // why the body ended short
}

// next returns the body's next bytes, valid until the next call, or io.EOF after the
// last. A failure is logged once, here, and returned from then on.
func (b *listBody) next() ([]byte, error) {
	if b.sent != nil {
		b.free <- b.sent
		b.sent = nil
	}
	if b.err != nil {
		return nil, b.err
	}
	if b.done {
		return nil, io.EOF
	}
	var c listChunk
	if b.first != nil {
		c, b.first = *b.first, nil
	} else if got, ok := <-b.chunks; ok {
		c = got
	} else {
		c = listChunk{rows: b.rows, end: true, err: errStreamCut}
	}
	b.rows = c.rows
	if c.err != nil {
		return nil, b.fail(c.err)
	}
	b.done = c.end
	if b.done {
		b.log.Debug("active users streamed", "count", b.rows)
	}
	b.sent = c.data
	if b.gz == nil {
		return c.data, nil
	}
	b.zipped.Reset()
	_, err := b.gz.Write(c.data) // into memory: no error
	if err == nil && b.done {
		err = b.gz.Close()
	}
	return b.zipped.Bytes(), err
}

// fail logs err as the end of the stream and returns it.
func (b *listBody) fail(err error) error {
	b.err = err
	b.log.Error("active users stream failed", "rows_sent", b.rows, "error", err.Error())
	return err
}

// WriteTo writes the rest of the body to w, one write per chunk.
func (b *listBody) WriteTo(w io.Writer) (int64, error) {
	var n int64
	p := b.unread
	b.unread = nil
	for {
		if len(p) > 0 {
			m, err := w.Write(p) // a client that left shows up here
			n += int64(m)
			if err != nil {
				return n, b.fail(err)
			}
		}
		var err error
		if p, err = b.next(); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
	}
}

// SupportsBodyWriteTo tells fasthttp that WriteTo writes what Read would read.
func (b *listBody) SupportsBodyWriteTo() bool { return true }

// Read reads the body.
func (b *listBody) Read(p []byte) (int, error) {
	for len(b.unread) == 0 {
		var err error
		if b.unread, err = b.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.unread)
	b.unread = b.unread[n:]
	return n, nil
}

// Close ends the store's read, if it still runs.
func (b *listBody) Close() error {
	b.cancel()
	return nil
}

package presence

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/apijson"
)

// OpenList starts reading the model list, as of the feed's cursor (Head's), and returns
// its body, {"success":true,"timestamp":...,"data":[rows...],"count":N,"cursor":...},
// gzipped when gz is set, once the store has produced its first rows (or finished): so a
// database that is down still gets a proper error answer. The rows stream as they
// arrive, so the list is never held in memory; log receives how the stream ended. At
// most ListStreams lists stream at once: a client that reads slowly keeps its stream,
// and its store read, for up to Write, so more are refused at once with a *Busy rather
// than queued.
func (s *Service) OpenList(cursor int64, gz bool, log *slog.Logger) (*ListBody, error) {
	select {
	case s.listSlots <- struct{}{}: // given back by readList once the read is over
	default:
		return nil, errListBusy
	}
	// The read may outlive the request's handler: it ends when the stream does, at the
	// write timeout, which caps the response anyway, or when CancelReads is called.
	ctx, cancel := context.WithTimeout(s.reads, s.opts.Write)
	chunks := make(chan listChunk, 2)
	free := make(chan []byte, listBuffers)
	go s.readList(ctx, chunks, free, s.opts.Clock(), cursor)
	first, err := awaitFirstChunk(chunks, s.opts.Upstream)
	if err != nil {
		cancel()
		return nil, err
	}
	body := &ListBody{first: &first, chunks: chunks, free: free, cancel: cancel, log: log}
	if gz {
		body.gz, _ = gzip.NewWriterLevel(&body.zipped, gzip.BestSpeed) // the level is valid: no error
	}
	return body, nil
}

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

// listChunk is one hand-off from the store reader to the response body: the encoded
// rows (the head before the first, the tail after the last), how many rows were
// encoded so far, and whether this is the end. The last one carries the read's error.
type listChunk struct {
	data []byte
	rows int
	end  bool
	err  error
}

// readList runs the store's read into out, as encodeList: as views when the store can
// hand them on, else as values. It stops when ctx ends, so an abandoned stream frees its
// database connection, and then gives back the stream's slot.
func (s *Service) readList(ctx context.Context, out chan<- listChunk, free <-chan []byte, stamp time.Time, cursor int64) {
	defer func() { <-s.listSlots }()
	encodeList(ctx, out, free, stamp, cursor, func(view func(*vibepass.ActiveUserView) error, value func(vibepass.ActiveUser) error) error {
		if s.views != nil {
			return s.views.ActiveUserViews(ctx, view)
		}
		return s.store.ActiveUsers(ctx, value)
	})
}

// encodeList encodes the body of the list that read hands to one of its two emits, in
// chunks of about listChunkSize sent to out (closed at the end), in listBuffers buffers
// at most, which come back through free (of that capacity) once written. The JSON is
// closed (with the count, known only now) only when read finished without error.
func encodeList(ctx context.Context, out chan<- listChunk, free <-chan []byte, stamp time.Time, cursor int64,
	read func(view func(*vibepass.ActiveUserView) error, value func(vibepass.ActiveUser) error) error) {
	defer close(out)
	e := &listEncoder{ctx: ctx, out: out, free: free, made: 1, buf: apijson.AppendListHead(newChunkBuffer(), stamp)}
	err := read(e.view, e.value)
	if err == nil {
		e.buf = apijson.AppendListTail(e.buf, e.count, FormatCursor(cursor))
	}
	_ = e.send(listChunk{data: e.buf, rows: e.count, end: true, err: err}) // fails only when ctx ended: the reader is gone
}

// listEncoder is encodeList's state: the chunk being filled and the buffers in play.
type listEncoder struct {
	ctx   context.Context
	out   chan<- listChunk
	free  <-chan []byte
	made  int    // buffers made so far, at most listBuffers
	buf   []byte // the chunk being filled
	count int    // rows encoded so far
}

// newChunkBuffer is room for a chunk and the row that fills it past listChunkSize.
func newChunkBuffer() []byte { return make([]byte, 0, listChunkSize+listChunkSize/8) }

// view encodes a row the store handed on as a view.
func (e *listEncoder) view(v *vibepass.ActiveUserView) (err error) {
	e.comma()
	e.buf, err = apijson.AppendActiveUserView(e.buf, v)
	return e.added(err)
}

// value encodes a row the store handed on as a value.
func (e *listEncoder) value(u vibepass.ActiveUser) (err error) {
	e.comma()
	e.buf, err = apijson.AppendActiveUser(e.buf, u)
	return e.added(err)
}

// comma separates the next row from the one before it.
func (e *listEncoder) comma() {
	if e.count > 0 {
		e.buf = append(e.buf, ',')
	}
}

// added ends a row encoded with err: the chunk goes once it is full.
func (e *listEncoder) added(err error) error {
	if err != nil {
		return err
	}
	if e.count++; len(e.buf) < listChunkSize {
		return nil
	}
	if err := e.send(listChunk{data: e.buf, rows: e.count}); err != nil {
		return err
	}
	e.buf, err = e.spare()
	return err
}

// send hands c to the response body, unless ctx ends first.
func (e *listEncoder) send(c listChunk) error {
	select {
	case e.out <- c:
		return nil
	case <-e.ctx.Done():
		return e.ctx.Err()
	}
}

// spare returns a written buffer, or a new one while fewer than listBuffers exist, else
// waits for one to be written.
func (e *listEncoder) spare() ([]byte, error) {
	select {
	case b := <-e.free:
		return b[:0], nil
	default:
	}
	if e.made < listBuffers {
		e.made++
		return newChunkBuffer(), nil
	}
	select {
	case b := <-e.free:
		return b[:0], nil
	case <-e.ctx.Done():
		return nil, e.ctx.Err()
	}
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

// ListBody is the list's response body: the chunks of readList, gzipped when gz is set.
// fasthttp calls its WriteTo, which hands it each chunk in one write (its stream
// writer's pipe cut them into 4 KB chunks, each one HTTP chunk and a system call); Read
// serves any other reader. An error after the first chunk cuts the body short, which
// leaves invalid JSON (and a broken gzip stream) that no client can take for a full
// list. Close, which fasthttp calls once the response is done with, ends the store's
// read if it still runs.
type ListBody struct {
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
func (b *ListBody) next() ([]byte, error) {
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
func (b *ListBody) fail(err error) error {
	b.err = err
	b.log.Error("active users stream failed", "rows_sent", b.rows, "error", err.Error())
	return err
}

// WriteTo writes the rest of the body to w, one write per chunk.
func (b *ListBody) WriteTo(w io.Writer) (int64, error) {
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
func (b *ListBody) SupportsBodyWriteTo() bool { return true }

// Read reads the body.
func (b *ListBody) Read(p []byte) (int, error) {
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
func (b *ListBody) Close() error {
	b.cancel()
	return nil
}

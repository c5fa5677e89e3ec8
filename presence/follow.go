package presence

import (
	"context"
	"io"
	"time"
)

// BufferedWriter is where a follower's events go: the response body, flushed to the
// client after each batch of events.
type BufferedWriter interface {
	io.Writer
	Flush() error
}

// WriteDeadliner is the client's connection, for the deadline of each write.
type WriteDeadliner interface {
	SetWriteDeadline(t time.Time) error
}

// Follower is one admitted event stream. It holds its slot until Run returns, or Close
// when it will not run.
type Follower struct {
	s       *Service
	from    int64
	release func()
}

// Follow admits an event stream of the model key whose hash is key, to follow the feed
// from cursor from (from now on when from is negative). Beyond feed.subscribers, or the
// key's feed.subscribers_per_key, it refuses with a *Busy at once. ctx bounds the wait
// for the hub's first poll.
func (s *Service) Follow(ctx context.Context, key [8]byte, from int64) (*Follower, error) {
	release, err := s.feedSlots.acquire(key)
	if err != nil {
		return nil, err
	}
	head, err := s.hub.state(ctx)
	if err != nil {
		release()
		return nil, err
	}
	if from < 0 {
		from = head.Cursor
	}
	return &Follower{s: s, from: from, release: release}, nil
}

// Close gives the slot back of a follower that will not run (a HEAD request).
func (f *Follower) Close() { f.release() }

// Run writes the feed as Server-Sent Events to w, each write bounded by the write
// timeout on conn: it catches up from the store in pages, then follows the hub's
// fan-out, so while attached it costs the database nothing of its own. A cursor older
// than the history kept gets one `reset` event; a follower that falls feed.buffer events
// behind gets `dropped`. It returns when the client leaves, the server ends the followers,
// or after such a final event, and gives the slot back.
func (f *Follower) Run(w BufferedWriter, conn WriteDeadliner) error {
	defer f.release()
	return f.s.follow(&sseStream{w: w, conn: conn, writeTimeout: f.s.opts.Write}, f.from, f.release)
}

// sseStream writes events, each write bounded by the write timeout rather than the
// stream's whole life: the HTTP server sets one deadline for the response, which would
// cut every stream after timeouts.write.
type sseStream struct {
	w            BufferedWriter
	conn         WriteDeadliner
	writeTimeout time.Duration
	cursor       int64 // the id of the last event written
}

// write sends p and flushes it; an error means the client has gone.
func (st *sseStream) write(p []byte) error {
	_ = st.conn.SetWriteDeadline(time.Now().Add(st.writeTimeout))
	if _, err := st.w.Write(p); err != nil {
		return err
	}
	return st.w.Flush()
}

// writeFrames sends frames with one flush and moves the cursor past them.
func (st *sseStream) writeFrames(frames []frame) error {
	if len(frames) == 0 {
		return nil
	}
	_ = st.conn.SetWriteDeadline(time.Now().Add(st.writeTimeout))
	for _, f := range frames {
		if _, err := st.w.Write(f.data); err != nil {
			return err
		}
		st.cursor = f.cursor
	}
	return st.w.Flush()
}

// resetReason is a reset event's reason: the changes after the cursor are gone.
const resetReason = "cursor outside the history kept: list again"

// final writes a last event (reset, dropped) whose data names the cursor to use next.
func (st *sseStream) final(event, cursor, reason string) error {
	return st.write([]byte("event: " + event + "\ndata: {\"cursor\":\"" + cursor + "\",\"reason\":\"" + reason + "\"}\n\n"))
}

// follow catches st up from cursor from and then streams the hub's events until the
// client leaves, the server shuts down, or the hub drops it.
// release gives the stream's slot back; the hub calls it as soon as it drops the stream.
func (s *Service) follow(st *sseStream, from int64, release func()) error {
	st.cursor = from
	if err := st.write([]byte(": presence feed from " + FormatCursor(from) + "\n\n")); err != nil {
		return err
	}
	var sub *subscriber
	for sub == nil {
		ctx, cancel := context.WithTimeout(s.reads, s.opts.Upstream)
		head, err := s.hub.state(ctx)
		if err == nil && st.cursor < head.Floor || err == nil && st.cursor > head.Cursor && !s.cursorKnown(ctx, st.cursor) {
			cancel()
			return st.final("reset", FormatCursor(head.Cursor), resetReason)
		}
		var ok bool
		if err == nil {
			sub, ok = s.hub.attach(st.cursor, release)
		}
		if err == nil && !ok {
			err = s.catchUp(ctx, st)
		}
		cancel()
		if err != nil {
			return err
		}
	}
	defer s.hub.detach(sub)
	heartbeat := time.NewTicker(s.opts.Feed.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-sub.ready:
			if err := st.writeFrames(s.hub.take(sub)); err != nil {
				return err
			}
		case <-sub.dropped:
			// The hub gave the slot back when it dropped the stream: a client that never
			// reads would otherwise hold it until the writes below time out.
			// Send what was queued before the drop: the client resumes after it.
			if err := st.writeFrames(s.hub.take(sub)); err != nil {
				return err
			}
			return st.final("dropped", FormatCursor(st.cursor), "too far behind: reconnect with Last-Event-ID")
		case <-sub.reset:
			return st.final("reset", FormatCursor(s.hub.resetTo(sub)), resetReason)
		case <-heartbeat.C:
			if err := st.write([]byte(": heartbeat\n\n")); err != nil {
				return err
			}
		case <-s.ended:
			return nil // shutting down: the client reconnects elsewhere with Last-Event-ID
		}
	}
}

// catchUp writes one page of changes after st.cursor from the store.
func (s *Service) catchUp(ctx context.Context, st *sseStream) error {
	changes, err := s.store.PresenceChanges(ctx, st.cursor, FeedPage)
	if err != nil {
		return err
	}
	var b []byte
	for _, ch := range changes {
		b = appendChangeEvent(b, ch)
	}
	if len(changes) > 0 {
		if err := st.write(b); err != nil {
			return err
		}
		st.cursor = changes[len(changes)-1].Cursor
	}
	return nil
}

// cursorKnown reports whether a cursor ahead of the hub exists in the database: the
// list's cursor may be a poll ahead of the hub. A cursor ahead of the database's head
// came from another database.
func (s *Service) cursorKnown(ctx context.Context, cursor int64) bool {
	head, err := s.store.PresenceTick(ctx)
	return err == nil && cursor <= head.Cursor
}

package proxy

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/apijson"
)

// errBadCursor answers a cursor that is not one this API gave out.
var errBadCursor = vibepass.Errorf(vibepass.EINVALID, "Invalid cursor")

// formatCursor writes a cursor as the API shows it: a string, so clients treat it as opaque.
func formatCursor(c int64) string { return strconv.FormatInt(c, 10) }

// parseCursor reads a cursor the API gave out.
func parseCursor(s string) (int64, error) {
	c, err := strconv.ParseInt(s, 10, 64)
	if err != nil || c < 0 || strconv.FormatInt(c, 10) != s {
		return 0, errBadCursor
	}
	return c, nil
}

// feedETag is the list's weak ETag for the feed's head: the list changes only with a
// change in the feed (passes that run out are logged by the tick that reads the head).
// Weak because the body's timestamp differs between two reads of the same list.
func feedETag(c int64) string { return `W/"` + formatCursor(c) + `"` }

// etagMatches reports whether an If-None-Match header names etag (weak comparison).
func etagMatches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// summaryResponse is GET /api/model/summary's answer.
type summaryResponse struct {
	Success   bool              `json:"success"`
	Timestamp apijson.Timestamp `json:"timestamp"`
	Count     int64             `json:"count"`
	Mean      []float64         `json:"mean"`
	Cursor    string            `json:"cursor"`
}

// summary handles GET /api/model/summary: the count and mean preferences of the
// people present, computed in the database, after a tick so that passes that ran out
// are gone from both the numbers and the cursor.
func (s *Server) summary(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	stamp := apijson.Timestamp(s.deps.Clock())
	if _, err := s.deps.Presence.PresenceTick(ctx); err != nil {
		return err
	}
	sum, err := s.deps.Presence.PresenceSummary(ctx)
	if err != nil {
		return err
	}
	return c.JSON(summaryResponse{Success: true, Timestamp: stamp, Count: sum.Count, Mean: sum.Mean, Cursor: formatCursor(sum.Cursor)})
}

// historyResponse is GET /api/model/history's answer.
type historyResponse struct {
	Success   bool              `json:"success"`
	Timestamp apijson.Timestamp `json:"timestamp"`
	Minutes   []historyPoint    `json:"minutes"`
}

// historyPoint is how many were present at one moment.
type historyPoint struct {
	At    apijson.Timestamp `json:"at"`
	Count int64             `json:"count"`
}

// historyCache keeps the history's points for the minute they were computed in: the query
// reads an hour of passes, and however many model callers ask, it runs at most once a
// minute per proxy. Callers that ask while it runs wait for that run.
type historyCache struct {
	mu     sync.Mutex // held through a computation
	minute time.Time
	points []vibepass.PresencePoint
}

// get returns the points of minute, computing them with compute unless they are kept.
// A failed computation is not kept.
func (h *historyCache) get(ctx context.Context, minute time.Time, compute func(context.Context) ([]vibepass.PresencePoint, error)) ([]vibepass.PresencePoint, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.points != nil && h.minute.Equal(minute) {
		return h.points, nil
	}
	points, err := compute(ctx)
	if err != nil {
		return nil, err
	}
	h.minute, h.points = minute, points
	return points, nil
}

// history handles GET /api/model/history: how many were present at the end of each
// of the last 60 minutes, computed in the database from the passes' history at most once
// a minute (the last point is when it was computed).
func (s *Server) history(c *fiber.Ctx) error {
	now := s.deps.Clock()
	stamp := apijson.Timestamp(now)
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	points, err := s.historyCache.get(ctx, now.Truncate(time.Minute), s.deps.Presence.PresenceHistory)
	if err != nil {
		return err
	}
	minutes := make([]historyPoint, len(points))
	for i, p := range points {
		minutes[i] = historyPoint{At: apijson.Timestamp(p.At), Count: p.Count}
	}
	return c.JSON(historyResponse{Success: true, Timestamp: stamp, Minutes: minutes})
}

// events handles GET /api/model/events: the presence feed as Server-Sent Events,
// from the cursor in Last-Event-ID or ?cursor= (else from now on). It catches up from
// the store in pages, then follows the hub's fan-out, so while attached it costs the
// database nothing of its own. A cursor older than the history kept gets one
// `reset` event; a subscriber that falls Feed.Buffer events behind gets `dropped`.
// At most feed.subscribers streams are open at once; one more gets 503 at once.
func (s *Server) events(c *fiber.Ctx) error {
	raw := c.Get("Last-Event-ID")
	if raw == "" {
		raw = c.Query("cursor")
	}
	from := int64(-1)
	if raw != "" {
		var err error
		if from, err = parseCursor(raw); err != nil {
			return err
		}
	}
	key, _ := c.Locals(modelKeyLocal).([8]byte)
	release, err := s.feedSlots.acquire(key) // given back when the stream ends, or below
	if err != nil {
		c.Set(fiber.HeaderRetryAfter, feedBusyRetryAfter)
		return err
	}
	streaming := false
	defer func() {
		if !streaming {
			release()
		}
	}()
	ctx, cancel := s.upstreamContext(c)
	head, err := s.feed.state(ctx)
	cancel()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no") // nginx would otherwise hold events back
	if c.Method() == fiber.MethodHead {
		return nil
	}
	streaming = true
	if from < 0 {
		from = head.Cursor
	}
	conn := c.Context().Conn() // only for write deadlines; the ctx is not touched in the writer
	log := s.log.With("request_id", requestID(c))
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release()
		st := &sseStream{w: w, conn: conn, writeTimeout: s.cfg.Timeouts.Write}
		if err := s.follow(st, from, release); err != nil {
			log.Debug("presence stream ended", "error", err.Error())
		}
	})
	return nil
}

// sseStream writes events, each write bounded by the write timeout rather than the
// stream's whole life: fasthttp sets one deadline for the response, which would cut
// every stream after timeouts.write.
type sseStream struct {
	w            *bufio.Writer
	conn         net.Conn
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
func (s *Server) follow(st *sseStream, from int64, release func()) error {
	st.cursor = from
	if err := st.write([]byte(": presence feed from " + formatCursor(from) + "\n\n")); err != nil {
		return err
	}
	var sub *subscriber
	for sub == nil {
		ctx, cancel := context.WithTimeout(s.streams, s.cfg.Timeouts.Upstream)
		head, err := s.feed.state(ctx)
		if err == nil && st.cursor < head.Floor || err == nil && st.cursor > head.Cursor && !s.cursorKnown(ctx, st.cursor) {
			cancel()
			return st.final("reset", formatCursor(head.Cursor), resetReason)
		}
		var ok bool
		if err == nil {
			sub, ok = s.feed.attach(st.cursor, release)
		}
		if err == nil && !ok {
			err = s.catchUp(ctx, st)
		}
		cancel()
		if err != nil {
			return err
		}
	}
	defer s.feed.detach(sub)
	heartbeat := time.NewTicker(s.cfg.Feed.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-sub.ready:
			if err := st.writeFrames(s.feed.take(sub)); err != nil {
				return err
			}
		case <-sub.dropped:
			// The hub gave the slot back when it dropped the stream: a client that never
			// reads would otherwise hold it until the writes below time out.
			// Send what was queued before the drop: the client resumes after it.
			if err := st.writeFrames(s.feed.take(sub)); err != nil {
				return err
			}
			return st.final("dropped", formatCursor(st.cursor), "too far behind: reconnect with Last-Event-ID")
		case <-sub.reset:
			return st.final("reset", formatCursor(s.feed.resetTo(sub)), resetReason)
		case <-heartbeat.C:
			if err := st.write([]byte(": heartbeat\n\n")); err != nil {
				return err
			}
		case <-s.feedDone:
			return nil // shutting down: the client reconnects elsewhere with Last-Event-ID
		}
	}
}

// catchUp writes one page of changes after st.cursor from the store.
func (s *Server) catchUp(ctx context.Context, st *sseStream) error {
	changes, err := s.deps.Presence.PresenceChanges(ctx, st.cursor, FeedPage)
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
func (s *Server) cursorKnown(ctx context.Context, cursor int64) bool {
	head, err := s.deps.Presence.PresenceTick(ctx)
	return err == nil && cursor <= head.Cursor
}

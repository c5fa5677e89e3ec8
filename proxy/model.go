package proxy

import (
	"bufio"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/vibepass/vibepass/apijson"
	"github.com/vibepass/vibepass/presence"
)

// The model's endpoints: each admits, answers and counts; presence decides what is read
// and written.

// activeUsers handles GET /api/model/active-users. It streams the list as rows arrive;
// the status is committed only once the store has produced its first rows (or finished),
// so a database that is down still gets a proper error response; an error after that
// cuts the body short, which leaves invalid JSON (and a broken gzip stream) that no
// client can take for a full list. Beyond limits.model_streams it answers 503 at once.
func (s *Server) activeUsers(c *fiber.Ctx) error {
	// The head first: passes that ran out get logged, so the ETag moves with them, and a
	// 304 costs the database a few rows instead of the list.
	tickCtx, cancelTick := s.upstreamContext(c)
	head, err := s.presence.Head(tickCtx)
	cancelTick()
	if err != nil {
		return err
	}
	etag := presence.ETag(head.Cursor)
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderCacheControl, "private, no-cache") // a client's own cache may keep it, and must ask with the ETag
	if match := c.Get(fiber.HeaderIfNoneMatch); match != "" && presence.ETagMatches(match, etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	// AcceptsEncodings takes a missing header as "anything": gzip only when asked for.
	gz := c.Get(fiber.HeaderAcceptEncoding) != "" && c.AcceptsEncodings("gzip") == "gzip"
	body, err := s.presence.OpenList(head.Cursor, gz, s.log.With("request_id", requestID(c))) // the ctx must not be touched in the body
	if err != nil {
		return s.busy(c, err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Vary(fiber.HeaderAcceptEncoding)
	if gz {
		c.Set(fiber.HeaderContentEncoding, "gzip")
	}
	if c.Method() == fiber.MethodHead { // headers only: a body stream would leak onto the connection
		return body.Close()
	}
	c.Context().SetBodyStream(body, -1)
	return nil
}

// busy answers a refusal for want of room, a full model stream or a full feed, the one
// way: counted under its limiter, 503 with Retry-After. Any other error passes as is.
func (s *Server) busy(c *fiber.Ctx, err error) error {
	var b *presence.Busy
	if errors.As(err, &b) {
		s.metrics.Rejections(b.Limiter).Inc()
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(b.RetryAfter/time.Second)))
	}
	return err
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
// people present, and the cursor they reflect.
func (s *Server) summary(c *fiber.Ctx) error {
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	stamp := apijson.Timestamp(s.deps.Clock())
	sum, err := s.presence.Summary(ctx)
	if err != nil {
		return err
	}
	return c.JSON(summaryResponse{Success: true, Timestamp: stamp, Count: sum.Count, Mean: sum.Mean, Cursor: presence.FormatCursor(sum.Cursor)})
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

// history handles GET /api/model/history: how many were present at the end of each
// of the last 60 minutes, computed at most once a minute.
func (s *Server) history(c *fiber.Ctx) error {
	now := s.deps.Clock()
	ctx, cancel := s.upstreamContext(c)
	defer cancel()
	points, err := s.presence.History(ctx, now)
	if err != nil {
		return err
	}
	minutes := make([]historyPoint, len(points))
	for i, p := range points {
		minutes[i] = historyPoint{At: apijson.Timestamp(p.At), Count: p.Count}
	}
	return c.JSON(historyResponse{Success: true, Timestamp: apijson.Timestamp(now), Minutes: minutes})
}

// events handles GET /api/model/events: the presence feed as Server-Sent Events,
// from the cursor in Last-Event-ID or ?cursor= (else from now on). Beyond
// feed.subscribers, or the key's feed.subscribers_per_key, it answers 503 at once.
func (s *Server) events(c *fiber.Ctx) error {
	raw := c.Get("Last-Event-ID")
	if raw == "" {
		raw = c.Query("cursor")
	}
	from := int64(-1)
	if raw != "" {
		var err error
		if from, err = presence.ParseCursor(raw); err != nil {
			return err
		}
	}
	key, _ := c.Locals(modelKeyLocal).([8]byte)
	ctx, cancel := s.upstreamContext(c)
	follower, err := s.presence.Follow(ctx, key, from)
	cancel()
	if err != nil {
		return s.busy(c, err)
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no") // nginx would otherwise hold events back
	if c.Method() == fiber.MethodHead {
		follower.Close()
		return nil
	}
	conn := c.Context().Conn() // only for write deadlines; the ctx is not touched in the writer
	log := s.log.With("request_id", requestID(c))
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		if err := follower.Run(w, conn); err != nil {
			log.Debug("presence stream ended", "error", err.Error())
		}
	})
	return nil
}

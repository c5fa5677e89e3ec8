package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vibepass/vibepass"
)

// EventList is the Kind of the event a Follower delivers after each list: first, and
// again after the feed's reset.
const EventList = "list"

// The reasons of an EventList event.
const (
	// ReasonStart: the first list.
	ReasonStart = "start"
	// ReasonReset: the feed said the cursor was outside the history kept, so the follower listed again.
	ReasonReset = "reset"
)

// Event is one thing a Follower delivers: a list, or one change of the presence feed.
type Event struct {
	// Kind is EventList, or the change: vibepass.ChangeJoin, ChangeRenew, ChangeUpdate, ChangeLeave or ChangeExpire.
	Kind string
	// Cursor is the feed position after this event (for EventList, the list's cursor).
	Cursor string
	// Reason is ReasonStart or ReasonReset for EventList; empty otherwise.
	Reason string
	// Users is the list, newest check-in first, for EventList; nil otherwise.
	Users []vibepass.ActiveUser
	// UserID is the user a change is about; empty for EventList.
	UserID string
	// User is the row for join, renew and update; for leave and expire, the row the follower held before, or nil if it held none.
	User *vibepass.ActiveUser
	// At is when a leave happened or an expired pass ran out; zero otherwise.
	At time.Time
}

// FollowOption configures a Follower.
type FollowOption func(*followConfig)

type followConfig struct {
	heartbeat  time.Duration
	backoff    time.Duration
	maxBackoff time.Duration
	maxRetries int
	logf       func(format string, args ...any)
}

// WithHeartbeatTimeout sets how long a stream may carry nothing, not even a heartbeat, before it is resumed (default 45 s).
func WithHeartbeatTimeout(d time.Duration) FollowOption {
	return func(c *followConfig) { c.heartbeat = d }
}

// WithBackoff sets the wait after the first failure in a row (default 0.5 s), doubled after each next one up to maxWait (default 30 s).
func WithBackoff(initial, maxWait time.Duration) FollowOption {
	return func(c *followConfig) { c.backoff, c.maxBackoff = initial, maxWait }
}

// WithMaxRetries makes the follower give up after n transient failures in a row (default 0: retry for ever).
func WithMaxRetries(n int) FollowOption { return func(c *followConfig) { c.maxRetries = n } }

// WithLogf sends the follower's notices (a lost connection, a reset, a drop) to logf (default: none).
func WithLogf(logf func(format string, args ...any)) FollowOption {
	return func(c *followConfig) { c.logf = logf }
}

// Follower lists the present users, then follows the presence feed from the list's
// cursor, delivering each change once and in order through Next and keeping Present
// up to date. A stream that breaks, ends, or carries nothing for the heartbeat timeout
// is resumed with Last-Event-ID after the last event, after a backoff that doubles with
// each failure in a row (or a 429's or 503's Retry-After, if longer); the feed's reset
// lists again (an EventList with ReasonReset) and its dropped resumes from the cursor it
// names. It stops when the context given to Follow ends, on Close, or on a failure
// retrying cannot mend (401, 403, 400), which Next then returns.
type Follower struct {
	c      *Client
	cfg    followConfig
	items  chan Event
	done   chan struct{}
	cancel context.CancelFunc
	err    error // set before done is closed

	mu      sync.Mutex
	present map[string]vibepass.ActiveUser
	cursor  string

	streams atomic.Int64
}

// Follow starts a Follower; it runs until ctx ends or Close is called.
func (c *Client) Follow(ctx context.Context, opts ...FollowOption) *Follower {
	cfg := followConfig{heartbeat: 45 * time.Second, backoff: 500 * time.Millisecond, maxBackoff: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &Follower{c: c, cfg: cfg, items: make(chan Event), done: make(chan struct{}), cancel: cancel,
		present: map[string]vibepass.ActiveUser{}}
	go func() {
		defer close(f.done)
		f.err = f.run(ctx)
	}()
	return f
}

// Next returns the next event, once Present reflects it. It returns an error when ctx
// ends (the follower keeps going) or when the follower has stopped: the context given
// to Follow ended or Close was called (context.Canceled or DeadlineExceeded), or a
// failure retrying cannot mend (an *Error).
func (f *Follower) Next(ctx context.Context) (Event, error) {
	select {
	case ev := <-f.items:
		f.apply(&ev)
		return ev, nil
	case <-f.done:
		return Event{}, f.err
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Close stops the follower and waits until it has; Next then returns context.Canceled.
func (f *Follower) Close() {
	f.cancel()
	<-f.done
}

// Present returns everyone present after the last event Next returned, by user id (a copy).
func (f *Follower) Present() map[string]vibepass.ActiveUser {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]vibepass.ActiveUser, len(f.present))
	for k, v := range f.present {
		m[k] = cloneUser(v)
	}
	return m
}

// cloneUser copies u with its own Preferences, so no caller can change another's.
func cloneUser(u vibepass.ActiveUser) vibepass.ActiveUser {
	u.Preferences = slices.Clone(u.Preferences)
	return u
}

// Cursor returns the feed position after the last event Next returned.
func (f *Follower) Cursor() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cursor
}

// Streams returns how many event streams the follower has opened (each resume opens one).
func (f *Follower) Streams() int { return int(f.streams.Load()) }

// apply updates Present with ev, and fills a removal's User with the row held before.
func (f *Follower) apply(ev *Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch ev.Kind {
	case EventList:
		clear(f.present)
		for _, u := range ev.Users {
			f.present[u.UserID] = cloneUser(u)
		}
	case vibepass.ChangeLeave, vibepass.ChangeExpire:
		if u, ok := f.present[ev.UserID]; ok {
			ev.User = &u
			delete(f.present, ev.UserID)
		}
	default:
		f.present[ev.UserID] = cloneUser(*ev.User)
	}
	f.cursor = ev.Cursor
}

func (f *Follower) logf(format string, args ...any) {
	if f.cfg.logf != nil {
		f.cfg.logf(format, args...)
	}
}

// send hands ev to Next; false when ctx ended first.
func (f *Follower) send(ctx context.Context, ev Event) bool {
	select {
	case f.items <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// run is the follower's loop; it returns why it stopped.
func (f *Follower) run(ctx context.Context) error {
	failures := 0
	listing := ReasonStart
	cursor := ""
	for ctx.Err() == nil {
		if listing != "" {
			list, err := f.c.ActiveUsers(ctx, "")
			if err != nil {
				failures++
				if err := f.wait(ctx, failures, err, cursor); err != nil {
					return err
				}
				continue
			}
			cursor = list.Cursor
			if !f.send(ctx, Event{Kind: EventList, Cursor: list.Cursor, Reason: listing, Users: list.Users}) {
				break
			}
			listing = ""
			continue
		}
		next, outcome, err := f.stream(ctx, cursor, &failures)
		cursor = next
		switch {
		case ctx.Err() != nil:
		case outcome == ReasonReset:
			listing = ReasonReset
		case outcome == "dropped":
		default:
			if err == nil {
				err = &Error{Code: CodeConnection, Message: "the event stream ended"}
			}
			failures++
			if err := f.wait(ctx, failures, err, cursor); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// wait sleeps before the next attempt, or returns err when retrying cannot help (or
// ctx's error when it ends first).
func (f *Follower) wait(ctx context.Context, failures int, err error, cursor string) error {
	var e *Error
	if !errors.As(err, &e) || !e.Temporary() || (f.cfg.maxRetries > 0 && failures > f.cfg.maxRetries) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	delay := f.cfg.backoff
	for i := 1; i < failures && delay < f.cfg.maxBackoff; i++ {
		delay *= 2
	}
	delay = time.Duration(float64(min(delay, f.cfg.maxBackoff)) * (0.75 + rand.Float64()/4))
	delay = max(delay, e.RetryAfter)
	what := "Connection lost"
	if e.Status != 0 {
		what = fmt.Sprintf("Refused (HTTP %d)", e.Status)
	}
	f.logf("%s (%v): resuming after %q in %s", what, err, cursor, delay.Round(time.Millisecond))
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stream reads one connection to the feed from cursor, sending each event, and
// returns the cursor after the last one sent and how it ended: ReasonReset (list
// again), "dropped" (the returned cursor is the one the feed named), or "" with the
// error that broke it (nil: the stream ended).
func (f *Follower) stream(ctx context.Context, cursor string, failures *int) (string, string, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timedOut atomic.Bool
	watchdog := time.AfterFunc(f.cfg.heartbeat, func() { timedOut.Store(true); cancel() })
	defer watchdog.Stop()

	fail := func(err error) (string, string, error) {
		if timedOut.Load() && ctx.Err() == nil {
			return cursor, "", &Error{Code: CodeTimeout, Message: fmt.Sprintf("nothing from %s's event stream within %s", f.c.base, f.cfg.heartbeat), Err: err}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return cursor, "", &Error{Code: CodeConnection, Message: fmt.Sprintf("the event stream from %s was cut off", f.c.base), Err: err}
		}
		return cursor, "", transportError(ctx, err, f.c.base)
	}

	req, err := http.NewRequestWithContext(sctx, http.MethodGet, f.c.base+"/api/model/events", nil)
	if err != nil {
		return cursor, "", &Error{Code: CodeConnection, Message: err.Error(), Err: err}
	}
	req.Header = f.c.modelHeader("text/event-stream")
	req.Header.Set("Last-Event-ID", cursor)
	f.streams.Add(1)
	resp, err := f.c.http.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return fail(err)
		}
		return cursor, "", errorFromResponse(resp.StatusCode, resp.Header, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return cursor, "", badResponse(resp.StatusCode, "the event stream's Content-Type is %q", ct)
	}
	*failures = 0
	sse := newSSEReader(resp.Body)
	for {
		watchdog.Reset(f.cfg.heartbeat)
		msg, err := sse.next(func() { watchdog.Reset(f.cfg.heartbeat) })
		if err != nil {
			if err == io.EOF && ctx.Err() == nil && !timedOut.Load() {
				return cursor, "", nil
			}
			return fail(err)
		}
		watchdog.Stop() // the time Next takes is not the server's silence
		switch msg.event {
		case "reset", "dropped":
			var data struct {
				Cursor string `json:"cursor"`
				Reason string `json:"reason"`
			}
			if err := json.Unmarshal([]byte(msg.data), &data); err != nil || data.Cursor == "" {
				return cursor, "", badResponse(resp.StatusCode, "%s without a cursor: %q", msg.event, msg.data)
			}
			if msg.event == "reset" {
				f.logf("Reset: the cursor %q is outside the history kept (%s): listing again", cursor, data.Reason)
				return cursor, ReasonReset, nil
			}
			f.logf("Dropped for falling behind: resuming after %q", data.Cursor)
			return data.Cursor, "dropped", nil
		}
		if !msg.hasID {
			continue // nothing this client knows
		}
		ev := Event{Kind: msg.event, Cursor: msg.id}
		switch msg.event {
		case vibepass.ChangeJoin, vibepass.ChangeRenew, vibepass.ChangeUpdate:
			var u vibepass.ActiveUser
			if err := json.Unmarshal([]byte(msg.data), &u); err != nil {
				return cursor, "", badResponse(resp.StatusCode, "%s data: %v: %q", msg.event, err, msg.data)
			}
			if err := checkUser(u); err != nil {
				return cursor, "", badResponse(resp.StatusCode, "%s data: %v", msg.event, err)
			}
			ev.UserID, ev.User = u.UserID, &u
		case vibepass.ChangeLeave, vibepass.ChangeExpire:
			var data struct {
				UserID string    `json:"user_id"`
				At     time.Time `json:"at"`
			}
			if err := json.Unmarshal([]byte(msg.data), &data); err != nil || data.UserID == "" {
				return cursor, "", badResponse(resp.StatusCode, "%s without a user_id: %q", msg.event, msg.data)
			}
			ev.UserID, ev.At = data.UserID, data.At
		default:
			cursor = msg.id // an event this client does not know yet
			continue
		}
		if !f.send(ctx, ev) {
			return cursor, "", ctx.Err()
		}
		cursor = msg.id
	}
}

// sseMessage is one Server-Sent Event.
type sseMessage struct {
	id, event, data string
	hasID           bool
}

// sseReader parses a text/event-stream.
type sseReader struct{ r *bufio.Reader }

func newSSEReader(r io.Reader) *sseReader { return &sseReader{r: bufio.NewReader(r)} }

// next returns the next event (comments such as ": heartbeat" skipped, calling
// onLine for each line read); io.EOF when the stream ends cleanly between events.
func (s *sseReader) next(onLine func()) (sseMessage, error) {
	var msg sseMessage
	var data []string
	seen := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && (line != "" || seen) {
				return msg, io.ErrUnexpectedEOF // an event cut off part way
			}
			return msg, err
		}
		if onLine != nil {
			onLine()
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if seen {
				if msg.event == "" {
					msg.event = "message"
				}
				msg.data = strings.Join(data, "\n")
				return msg, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			msg.id, msg.hasID, seen = value, true, true
		case "event":
			msg.event, seen = value, true
		case "data":
			data, seen = append(data, value), true
		}
	}
}

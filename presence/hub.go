package presence

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/apijson"
)

// frame is one change encoded as an SSE event, with the cursor it leaves the reader at.
type frame struct {
	cursor int64
	data   []byte
}

// subscriber is one /api/model/events stream attached to the hub. Its queue holds
// only the frames not yet taken, so an idle stream costs a few hundred bytes however
// large feed.buffer is (a channel of that capacity cost 128 KiB each).
type subscriber struct {
	after   int64         // frames at or below this cursor were already queued (hub.mu)
	queue   []frame       // frames not yet taken (hub.mu); past feed.buffer the hub drops it
	ready   chan struct{} // holds a signal while the queue may be non-empty
	dropped chan struct{} // closed when the hub drops it for falling behind
	// reset is closed when changes it had not been handed were trimmed from the history
	// before the hub could read them; resetCursor is then the head to list from (hub.mu).
	reset       chan struct{}
	resetCursor int64
	// release gives the stream's slot back; the hub calls it when it drops the stream,
	// whose writer may be stuck in a write to a client that does not read.
	release func()
}

// take returns the queued frames and empties the queue.
func (h *hub) take(s *subscriber) []frame {
	h.mu.Lock()
	defer h.mu.Unlock()
	frames := s.queue
	s.queue = nil
	return frames
}

// hub fans the presence feed out to every subscriber of this proxy: while any is
// attached, one goroutine asks the store for changes once per poll interval, however
// many subscribers there are, and hands each change, encoded once, to all of them.
// Subscribers never touch the database while attached.
type hub struct {
	store    vibepass.PresenceStore
	log      *slog.Logger
	interval time.Duration
	timeout  time.Duration
	buffer   int

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	head    vibepass.FeedHead // everything up to head.Cursor has been handed out
	polled  bool              // head is known (one poll done since the poller started)
	running bool
	wake    chan struct{} // closed when a poll has finished, then replaced
}

// subscribers returns how many event streams are attached now, for the metrics.
func (h *hub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func newHub(store vibepass.PresenceStore, log *slog.Logger, cfg FeedConfig, timeout time.Duration) *hub {
	return &hub{store: store, log: log, interval: cfg.Poll, timeout: timeout, buffer: cfg.Buffer,
		subs: map[*subscriber]struct{}{}, wake: make(chan struct{})}
}

// state returns the head after at least one poll, starting the poller if needed.
func (h *hub) state(ctx context.Context) (vibepass.FeedHead, error) {
	for {
		h.mu.Lock()
		if h.polled {
			head := h.head
			h.mu.Unlock()
			return head, nil
		}
		h.start()
		wake := h.wake
		h.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return vibepass.FeedHead{}, vibepass.ErrTimeout
		}
	}
}

// start runs the poller unless it runs; h.mu is held.
func (h *hub) start() {
	if !h.running {
		h.running = true
		go h.run()
	}
}

// attach adds a subscriber that has sent everything up to after, if the hub has not
// handed out anything past it yet; otherwise it reports false and the caller catches
// up from the store first.
func (h *hub) attach(after int64, release func()) (*subscriber, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.polled || after < h.head.Cursor {
		return nil, false
	}
	s := &subscriber{after: after, ready: make(chan struct{}, 1), dropped: make(chan struct{}), reset: make(chan struct{}), release: release}
	h.subs[s] = struct{}{}
	h.start()
	return s, true
}

// detach removes s; the poller stops with the last subscriber.
func (h *hub) detach(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// run polls until no subscriber is left an interval after a poll: the interval gives a
// stream that waited for the first poll the time to attach.
func (h *hub) run() {
	ticker := time.NewTicker(h.interval)
	defer ticker.Stop()
	for {
		h.poll()
		<-ticker.C
		h.mu.Lock()
		if len(h.subs) == 0 {
			h.running, h.polled = false, false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
	}
}

// poll asks the store for the head and every change after the last one handed out,
// page by page, and hands them out. A failed poll is logged and retried next interval.
func (h *hub) poll() {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	defer func() {
		h.mu.Lock()
		close(h.wake)
		h.wake = make(chan struct{})
		h.mu.Unlock()
	}()
	head, err := h.store.PresenceTick(ctx)
	if err != nil {
		h.log.Warn("presence feed poll failed", "error", err.Error())
		return
	}
	h.mu.Lock()
	after := h.head.Cursor
	if !h.polled {
		after = head.Cursor // a fresh start hands out only what comes next
	}
	if after < head.Floor {
		// The history was trimmed past what the hub has handed out (a feed_history shorter
		// than the time since): whoever still needs those changes must list again.
		h.resetBehind(head)
	}
	h.mu.Unlock()
	for after < head.Cursor {
		changes, err := h.store.PresenceChanges(ctx, after, FeedPage)
		if err != nil {
			h.log.Warn("presence feed poll failed", "error", err.Error())
			return
		}
		if len(changes) == 0 {
			break
		}
		h.broadcast(changes)
		after = changes[len(changes)-1].Cursor
	}
	h.mu.Lock()
	h.head = vibepass.FeedHead{Cursor: max(after, head.Cursor), Floor: head.Floor}
	h.polled = true
	h.mu.Unlock()
}

// resetBehind detaches every subscriber that has not been handed changes up to head.Floor,
// telling it to list again from head.Cursor; h.mu is held.
func (h *hub) resetBehind(head vibepass.FeedHead) {
	for s := range h.subs {
		if s.after < head.Floor {
			s.resetCursor = head.Cursor
			close(s.reset)
			delete(h.subs, s)
			s.release()
		}
	}
}

// resetTo returns the cursor a reset subscriber should list from.
func (h *hub) resetTo(s *subscriber) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return s.resetCursor
}

// broadcast hands changes to every subscriber; one whose buffer is full is dropped.
func (h *hub) broadcast(changes []vibepass.Change) {
	frames := make([]frame, len(changes))
	for i, c := range changes {
		frames[i] = frame{cursor: c.Cursor, data: appendChangeEvent(nil, c)}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		queued := len(s.queue)
		for _, f := range frames {
			if f.cursor <= s.after {
				continue
			}
			if len(s.queue) == h.buffer {
				close(s.dropped)
				delete(h.subs, s)
				s.release()
				break
			}
			s.queue = append(s.queue, f)
			s.after = f.cursor
		}
		if len(s.queue) > queued {
			select {
			case s.ready <- struct{}{}:
			default: // already signalled
			}
		}
	}
	h.head.Cursor = changes[len(changes)-1].Cursor
}

// appendChangeEvent appends c as one SSE event: its id is the cursor after it.
func appendChangeEvent(b []byte, c vibepass.Change) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendInt(b, c.Cursor, 10)
	b = append(b, "\nevent: "...)
	b = append(b, c.Kind...)
	b = append(b, "\ndata: "...)
	return append(apijson.AppendChange(b, c), "\n\n"...)
}

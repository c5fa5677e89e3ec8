package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

const (
	// feedSubscribers is how many event streams the many-subscriber figures hold open;
	// the proxy's feed.subscribers is set to it.
	feedSubscribers = 1000
	// feedPoll is the proxy's feed.poll: the default, so the latency is what ships.
	feedPoll = 500 * time.Millisecond
	// maxCheckinGap spaces the feed figure's check-ins, at random, so that they fall
	// anywhere in the poll interval.
	maxCheckinGap = 100 * time.Millisecond
	// eventDataPrefix starts the data line of every event that names a user.
	eventDataPrefix = `data: {"user_id":"`
)

// feedFigure is the presence feed measured at the bench's scale.
type feedFigure struct {
	latency     []feedLatency // with 1, then feedSubscribers subscribers
	idle        idleCost      // feedSubscribers idle streams against none
	poll        loadResult    // change polls (tick and a page read) straight at Postgres
	notModified loadResult    // 304 reads of the model's list through the proxy
	tally
}

// feedLatency is commit-to-delivery latency with some subscribers attached.
type feedLatency struct {
	subscribers int
	events      int             // check-ins made
	latencies   []time.Duration // one per event per subscriber, sorted
}

// percentile returns the p-th percentile latency (0 < p < 100).
func (l feedLatency) percentile(p int) time.Duration {
	return loadResult{latencies: l.latencies}.percentile(p)
}

// idleCost is the proxy's RSS and CPU with idle event streams, against none in the same run.
type idleCost struct {
	subscribers  int
	window       time.Duration // how long the CPU was measured, each side
	rssBase, rss uint64        // VmRSS with none, then with subscribers
	cpuBase, cpu time.Duration // proxy CPU over window with none, then with subscribers
	measured     bool          // the baseline and the loaded side were both taken
}

// perThousand scales what subscribers streams added to 1,000 streams: MB of RSS and
// percent of one core.
func (c idleCost) perThousand() (rssMB, cpuPercent float64) {
	if c.subscribers == 0 || c.window <= 0 {
		return 0, 0
	}
	scale := 1000 / float64(c.subscribers)
	rssMB = (float64(c.rss) - float64(c.rssBase)) / (1 << 20) * scale
	cpuPercent = float64(c.cpu-c.cpuBase) / float64(c.window) * 100 * scale
	return rssMB, cpuPercent
}

// noteErr counts err if it is one.
func (f *feedFigure) noteErr(err error) {
	if err != nil {
		f.addErrors(1, err)
	}
}

// feed measures the presence feed: a 304 against the full list (read by the
// active-users figure), the database's cost of one change poll, the proxy's cost of
// idle streams, and event latency with 1 and feedSubscribers streams.
func (r *benchRun) feed(ctx context.Context) feedFigure {
	var f feedFigure
	if etag, err := r.listETag(ctx); err != nil {
		f.noteErr(err)
	} else {
		f.notModified = r.measuredLoop(ctx, r.notModifiedRead(etag))
	}
	f.poll = r.measuredLoop(ctx, r.changePoll)
	f.addErrors(f.notModified.errs, f.notModified.firstErr)
	f.addErrors(f.poll.errs, f.poll.firstErr)

	subs := &subscriberSet{run: r, client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	defer subs.close()
	f.idle.subscribers = feedSubscribers
	f.idle.window = r.cfg.Duration
	var err error
	f.idle.cpuBase, f.idle.rssBase, err = r.idleProxy(ctx)
	f.noteErr(err)
	for _, n := range []int{1, feedSubscribers} {
		if err := subs.grow(ctx, n); err != nil {
			f.noteErr(err)
			break
		}
		if n == feedSubscribers {
			f.idle.cpu, f.idle.rss, err = r.idleProxy(ctx)
			f.noteErr(err)
			f.idle.measured = err == nil && f.idle.rssBase > 0
		}
		l, err := r.eventLatency(ctx, subs)
		f.noteErr(err)
		f.latency = append(f.latency, l)
	}
	rssMB, cpuPercent := f.idle.perThousand()
	r.cfg.Logf("feed: 304 in %s ms (median), change poll %d µs of Postgres CPU, per 1,000 idle streams %.1f MB RSS and %.2f%% of a core, %d errors",
		ms(f.notModified.percentile(50)), f.poll.cpu.perOp(f.poll.ops).postgres.Microseconds(), rssMB, cpuPercent, f.errs)
	for _, l := range f.latency {
		r.cfg.Logf("feed latency, %d subscribers: p50 %s ms, p99 %s ms over %d events", l.subscribers, ms(l.percentile(50)), ms(l.percentile(99)), l.events)
	}
	return f
}

// measuredLoop runs op in a closed loop of one client for the configured duration,
// with the CPU every party used.
func (r *benchRun) measuredLoop(ctx context.Context, op func(context.Context) error) loadResult {
	var l loadResult
	l.cpu = r.measureCPU(func() { l = closedLoop(ctx, 1, r.cfg.Duration, op) })
	return l
}

// listETag asks for the model's list with If-None-Match: * and returns the ETag of
// the 304 (no list is read).
func (r *benchRun) listETag(ctx context.Context) (string, error) {
	resp, err := r.modelGet(ctx, "/api/model/active-users", "*")
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusNotModified || etag == "" {
		return "", fmt.Errorf("active users with If-None-Match: *: %d, ETag %q", resp.StatusCode, etag)
	}
	return etag, nil
}

// notModifiedRead returns one conditional read of the model's list that must answer 304.
func (r *benchRun) notModifiedRead(etag string) func(context.Context) error {
	return func(ctx context.Context) error {
		resp, err := r.modelGet(ctx, "/api/model/active-users", etag)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			return fmt.Errorf("active users with If-None-Match %s: %d, want 304", etag, resp.StatusCode)
		}
		return nil
	}
}

// modelGet sends a GET with the model key and, unless empty, If-None-Match.
func (r *benchRun) modelGet(ctx context.Context, path, ifNoneMatch string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.proxy.url+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-Key", r.modelKey)
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	return r.client.Do(req)
}

// changePoll is what the proxy's feed poller sends the database each interval, straight
// through pgx: the tick, then a page of the changes after the head (none here).
func (r *benchRun) changePoll(ctx context.Context) error {
	raw, err := sqlapi.CallJSON(ctx, r.pool, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, sqlapi.PresenceTickSQL)
	if err != nil {
		return err
	}
	head, err := sqlapi.DecodeFeedHead(raw)
	if err != nil {
		return err
	}
	_, err = sqlapi.ReadChanges(ctx, r.pool, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, head.Cursor, 1000)
	return err
}

// idleProxy leaves the proxy alone for the configured duration and returns the CPU it
// used meanwhile and its resident set at the end.
func (r *benchRun) idleProxy(ctx context.Context) (time.Duration, uint64, error) {
	cpu := r.measureCPU(func() {
		select {
		case <-time.After(r.cfg.Duration):
		case <-ctx.Done():
		}
	})
	rss, err := r.proxy.rss()
	return cpu.proxy, rss, errors.Join(err, ctx.Err())
}

// eventLatency checks in one user at a time, at random gaps, for the configured
// duration, and times each one's event from the check-in's 200 to its arrival at every
// subscriber. An event that has not reached every subscriber within ten polls and a
// minute is an error.
func (r *benchRun) eventLatency(ctx context.Context, subs *subscriberSet) (feedLatency, error) {
	l := feedLatency{subscribers: len(subs.streams)}
	committed := map[string]time.Time{}
	deadline := time.Now().Add(r.cfg.Duration)
	for time.Now().Before(deadline) && len(committed) < len(r.users)/2 && ctx.Err() == nil {
		select { // a random gap spreads the commits over the poll interval
		case <-time.After(rand.N(maxCheckinGap)):
		case <-ctx.Done():
		}
		u := r.nextUser()
		if err := r.callAs(u, http.MethodPost, "/api/checkin", `"success":true`); err != nil {
			return l, err
		}
		committed[u.id] = time.Now()
	}
	l.events = len(committed)
	wait, cancel := context.WithTimeout(ctx, 10*feedPoll+time.Minute)
	defer cancel()
	for _, s := range subs.streams {
		for id, at := range committed {
			arrived, err := s.arrival(wait, id)
			if err != nil {
				return l, fmt.Errorf("the event of a check-in did not reach a subscriber: %w", err)
			}
			l.latencies = append(l.latencies, max(0, arrived.Sub(at)))
		}
	}
	slices.Sort(l.latencies)
	return l, nil
}

// subscriberSet is the event streams the bench holds open on the proxy, each with
// when the first event naming each user reached it.
type subscriberSet struct {
	run     *benchRun
	client  *http.Client
	streams []*firstArrivals
}

// firstArrivals is one subscriber of the feed figure: when the first event naming each
// user arrived.
type firstArrivals struct {
	stream *eventStream

	mu      sync.Mutex
	arrived map[string]time.Time
	changed chan struct{} // closed when arrived grows or the stream ends, then replaced
}

// grow opens streams until there are n, each one past its opening comment.
func (s *subscriberSet) grow(ctx context.Context, n int) error {
	for len(s.streams) < n {
		f := &firstArrivals{arrived: map[string]time.Time{}, changed: make(chan struct{})}
		st, err := s.run.openEventStream(ctx, s.client, "", f.note, f.ended)
		if err != nil {
			return fmt.Errorf("event stream %d: %w", len(s.streams)+1, err)
		}
		f.stream = st
		s.streams = append(s.streams, f)
	}
	return nil
}

// close ends every stream and waits for their readers.
func (s *subscriberSet) close() {
	for _, f := range s.streams {
		f.stream.close()
	}
	s.client.CloseIdleConnections()
}

// note records the first event naming each user; heartbeats and repeats wake no one.
func (f *firstArrivals) note(ev feedEvent, at time.Time) {
	if ev.userID == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, seen := f.arrived[ev.userID]; !seen {
		f.arrived[ev.userID] = at
		close(f.changed)
		f.changed = make(chan struct{})
	}
}

// ended wakes whoever waits, once the stream has ended.
func (f *firstArrivals) ended() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.changed)
	f.changed = make(chan struct{})
}

// arrival waits for the first event naming user id.
func (f *firstArrivals) arrival(ctx context.Context, id string) (time.Time, error) {
	for {
		f.mu.Lock()
		at, ok := f.arrived[id]
		changed := f.changed
		f.mu.Unlock()
		switch {
		case ok:
			return at, nil
		case f.stream.finished():
			return time.Time{}, fmt.Errorf("stream ended: %w", f.stream.err)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("no event for user %s: %w", id, ctx.Err())
		}
	}
}

// feedEvent is one event of /api/model/events as a follower reads it.
type feedEvent struct {
	id     string // the cursor after it; "" for reset and dropped
	kind   string // join, renew, update, leave, expire, reset, dropped
	userID string // "" for reset and dropped
	data   string
}

// eventStream is one open /api/model/events stream, read by a goroutine of its own.
type eventStream struct {
	body io.Closer
	done chan struct{} // closed when the reader returns
	err  error         // why the stream ended, set before done is closed
}

// openEventStream opens the feed after cursor lastEventID ("" for from now), waits for
// its opening comment, and hands every event to handle, with when it arrived, from a
// goroutine of its own; ended, if not nil, is called once the stream has ended.
func (r *benchRun) openEventStream(ctx context.Context, client *http.Client, lastEventID string, handle func(feedEvent, time.Time), ended func()) (*eventStream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.proxy.url+"/api/model/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-Key", r.modelKey)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /api/model/events: %d", resp.StatusCode)
	}
	lines := bufio.NewReader(resp.Body)
	opening, err := lines.ReadString('\n')
	if err != nil || !strings.HasPrefix(opening, ": presence feed from ") {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /api/model/events began with %q (%v)", opening, err)
	}
	st := &eventStream{body: resp.Body, done: make(chan struct{})}
	go func() {
		st.err = readEvents(lines, handle)
		if ended != nil {
			ended()
		}
		close(st.done)
	}()
	return st, nil
}

// close ends the stream and waits for its reader.
func (st *eventStream) close() {
	st.body.Close()
	<-st.done
}

// finished reports whether the stream has ended.
func (st *eventStream) finished() bool {
	select {
	case <-st.done:
		return true
	default:
		return false
	}
}

// readEvents parses Server-Sent Events until the stream ends, and returns why.
func readEvents(lines *bufio.Reader, handle func(feedEvent, time.Time)) error {
	var ev feedEvent
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.kind != "" {
				handle(ev, time.Now())
			}
			ev = feedEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			ev.kind = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[len("data: "):]
			if id, ok := strings.CutPrefix(line, eventDataPrefix); ok {
				ev.userID, _, _ = strings.Cut(id, `"`)
			}
		}
	}
}

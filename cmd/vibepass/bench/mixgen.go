package bench

import (
	"container/heap"
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

	"github.com/jackc/pgx/v5"
)

// userCall is one kind of request a present user's page makes.
type userCall uint8

const (
	callArrive   userCall = iota // check-in on arrival
	callRenew                    // check-in while present, the pass nearly out
	callStatus                   // GET /api/session
	callCheckout                 // on leaving
	numCalls
)

// callNames name the calls in the report.
var callNames = [numCalls]string{"check-in on arrival", "check-in renewal", "session status", "checkout"}

// mixEvent is a scheduled step of the load: a user's next call (or departure without a
// call), or the arrival process's next arrival (user -1).
type mixEvent struct {
	at   int64 // unix nanoseconds
	user int32
	gen  uint32 // the user's generation when scheduled: a stale event is skipped
	act  userAction
}

// userAction is what a scheduled event does.
type userAction uint8

const (
	actStatus  userAction = iota // ask the status
	actRenew                     // check in again
	actLeave                     // check out, or just go
	actArrival                   // an absent user arrives and checks in
)

// eventHeap orders events by time (container/heap).
type eventHeap []mixEvent

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }

// Push implements heap.Interface.
func (h *eventHeap) Push(x any) { *h = append(*h, x.(mixEvent)) }

// Pop implements heap.Interface.
func (h *eventHeap) Pop() any {
	old := *h
	ev := old[len(old)-1]
	*h = old[:len(old)-1]
	return ev
}

// mixUser is one bench user's state in the mix.
type mixUser struct {
	present    bool
	inFlight   bool // a call, an arrival or a bulk change is under way: nothing else may touch it
	noCheckout bool // this session ends without a checkout
	gen        uint32
	pos        int32 // index in mixGen.present or mixGen.absent
	// Unix nanoseconds: the session's end, the next status ask, the next renewal, and the
	// end of the live pass as this side knows it (0: none).
	leaveAt, nextStatus, nextRenew, passUntil int64
}

// next returns the user's next event.
func (u *mixUser) next() (int64, userAction) {
	at, act := u.nextStatus, actStatus
	if u.nextRenew < at {
		at, act = u.nextRenew, actRenew
	}
	if u.leaveAt <= at {
		at, act = u.leaveAt, actLeave
	}
	return at, act
}

// mixGen is the load generator of the mix: every present user is a schedule of calls
// kept in one heap, played by a fixed set of workers. Latency is timed from when a call
// was due, not from when a worker got to it, so a load generator that falls behind
// shows as latency rather than as a lighter load.
type mixGen struct {
	r     *benchRun
	m     MixConfig
	admin *pgx.Conn // superuser: the bulk changes between targets

	mu         sync.Mutex
	users      []mixUser
	present    []int32
	absent     []int32
	events     eventHeap
	arrivalGap float64 // mean nanoseconds between arrivals
	arriving   bool    // the arrival process has an event in the heap
	wake       chan struct{}

	work    chan mixEvent
	matcher feedMatcher

	statsMu sync.Mutex
	stats   *mixWindow

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// mixWindow is what the mix measured since the last look.
type mixWindow struct {
	start   time.Time
	elapsed time.Duration
	calls   [numCalls]loadResult
	feed    []time.Duration // 200 of a check-in or checkout to its event at the follower, sorted
	feedErr tally           // events never delivered, streams that ended
	summary loadResult      // the model's reads
	list    loadResult
}

// users returns the user calls of every kind merged, latencies sorted.
func (w *mixWindow) users() loadResult {
	var all loadResult
	for _, c := range w.calls {
		all.add(c)
	}
	all.elapsed = w.elapsed
	slices.Sort(all.latencies)
	return all
}

// byCall describes each kind of user call: its rate and p99.
func (w *mixWindow) byCall() string {
	var kinds []string
	for i, c := range w.calls {
		kinds = append(kinds, fmt.Sprintf("%s %.1f/s p99 %s ms", callNames[i], c.rate(), ms(c.percentile(99))))
	}
	return strings.Join(kinds, ", ")
}

// errs returns every failure in the window: user calls, feed and model.
func (w *mixWindow) errs() (int, error) {
	t := tally{}
	for _, c := range w.calls {
		t.addErrors(c.errs, c.firstErr)
	}
	t.addErrors(w.feedErr.errs, w.feedErr.firstErr)
	t.addErrors(w.summary.errs, w.summary.firstErr)
	t.addErrors(w.list.errs, w.list.firstErr)
	return t.errs, t.firstErr
}

// feedPercentile returns the p-th percentile of the feed's latency.
func (w *mixWindow) feedPercentile(p int) time.Duration {
	return loadResult{latencies: w.feed}.percentile(p)
}

// newMixGen prepares the generator over the run's users, all absent.
func newMixGen(ctx context.Context, r *benchRun, m MixConfig, superURL string) (*mixGen, error) {
	admin, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return nil, err
	}
	g := &mixGen{r: r, m: m, admin: admin, users: make([]mixUser, len(r.users)), wake: make(chan struct{}, 1),
		work: make(chan mixEvent), stats: &mixWindow{start: time.Now()}}
	g.matcher.pending = map[string][]pendingCall{}
	g.matcher.early = map[string][]bool{}
	g.matcher.onMatch = func(d time.Duration) {
		g.statsMu.Lock()
		g.stats.feed = append(g.stats.feed, d)
		g.statsMu.Unlock()
	}
	g.absent = make([]int32, len(r.users))
	for i := range g.users {
		g.absent[i] = int32(i)
		g.users[i].pos = int32(i)
	}
	return g, nil
}

// start runs the dispatcher, the workers and the model's side until stop, once the
// follower's stream is open: an event committed before it opened would never reach it.
func (g *mixGen) start(ctx context.Context) error {
	ctx, g.cancel = context.WithCancel(ctx)
	following := make(chan struct{})
	g.spawn(func() { g.dispatch(ctx) })
	for range g.m.Workers {
		g.spawn(func() {
			for {
				select {
				case ev := <-g.work:
					g.play(ctx, ev)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	// The follower's stream lasts the whole run: its client has no timeout (r.client's
	// minute would cut it).
	followClient := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	g.spawn(func() { g.follow(ctx, followClient, following) })
	select {
	case <-following:
	case <-time.After(time.Minute):
		return errors.New("the model's follower could not open its event stream within a minute")
	case <-ctx.Done():
		return ctx.Err()
	}
	g.spawn(func() { g.every(ctx, g.m.SummaryEvery, g.readSummary) })
	var etag string
	g.spawn(func() { g.every(ctx, g.m.ListEvery, func(ctx context.Context) { etag = g.readList(ctx, etag) }) })
	return nil
}

// spawn runs f in a goroutine that stop waits for.
func (g *mixGen) spawn(f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
}

// stop ends the load and waits for every goroutine.
func (g *mixGen) stop() {
	if g.cancel != nil {
		g.cancel()
	}
	g.wg.Wait()
	g.admin.Close(context.Background())
}

// push schedules ev, waking the dispatcher when ev comes first. Callers hold mu.
func (g *mixGen) push(ev mixEvent) {
	heap.Push(&g.events, ev)
	if g.events[0] == ev {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
}

// schedule pushes user i's next event. Callers hold mu.
func (g *mixGen) schedule(i int32) {
	u := &g.users[i]
	at, act := u.next()
	g.push(mixEvent{at: at, user: i, gen: u.gen, act: act})
}

// dispatch hands each event to a worker when it is due.
func (g *mixGen) dispatch(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		g.mu.Lock()
		wait := time.Hour
		var ev mixEvent
		due := false
		if len(g.events) > 0 {
			if wait = time.Until(time.Unix(0, g.events[0].at)); wait <= 0 {
				ev, due = heap.Pop(&g.events).(mixEvent), true
			}
		}
		g.mu.Unlock()
		if due {
			select {
			case g.work <- ev:
			case <-ctx.Done():
				return
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-g.wake:
		case <-ctx.Done():
			return
		}
	}
}

// exp returns an exponential duration of mean d, in nanoseconds.
func exp(d time.Duration) int64 { return int64(rand.ExpFloat64() * float64(d)) }

// statusGap returns the time to the next status ask: the timer, or a focus event first.
func (g *mixGen) statusGap() int64 {
	return min(int64(g.m.scaled(g.m.StatusEvery)), exp(g.m.scaled(g.m.FocusEvery)))
}

// play runs one event on a worker.
func (g *mixGen) play(ctx context.Context, ev mixEvent) {
	if ev.act == actArrival {
		g.arrive(ctx, ev)
		return
	}
	g.mu.Lock()
	u := &g.users[ev.user]
	if u.gen != ev.gen || !u.present || u.inFlight {
		g.mu.Unlock()
		return
	}
	u.inFlight = true
	noCheckout := u.noCheckout
	g.mu.Unlock()

	user := g.r.users[ev.user]
	var err error
	call := callStatus
	switch ev.act {
	case actStatus:
		err = g.r.callAs(user, http.MethodGet, "/api/session", `"active":true`)
	case actRenew:
		call = callRenew
		err = g.r.callAs(user, http.MethodPost, "/api/checkin", `"success":true`)
	case actLeave:
		call = callCheckout
		if !noCheckout {
			err = g.r.callAs(user, http.MethodPost, "/api/checkout", `"Checked out successfully"`)
		}
	}
	done := time.Now()
	if ev.act != actLeave || !noCheckout {
		g.record(call, ev.at, done, err)
		if err == nil && ev.act != actStatus {
			g.matcher.expect(user.id, ev.act == actLeave, done)
		}
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	u.inFlight = false
	now := done.UnixNano()
	switch ev.act {
	case actStatus:
		u.nextStatus = now + g.statusGap()
	case actRenew:
		if err == nil {
			u.passUntil = now + int64(g.m.scaled(g.m.PassLength))
		}
		u.nextRenew = now + int64(g.m.scaled(g.m.PassLength-g.m.RenewMargin))
	case actLeave:
		if !noCheckout && err == nil {
			u.passUntil = 0
		}
		g.leave(ev.user)
		return
	}
	g.schedule(ev.user)
}

// arrive plays the arrival process: schedules its next arrival, then checks in an
// absent user picked at random (one who left without a checkout renews their pass).
func (g *mixGen) arrive(ctx context.Context, ev mixEvent) {
	g.mu.Lock()
	if g.arrivalGap <= 0 {
		g.arriving = false
		g.mu.Unlock()
		return
	}
	g.push(mixEvent{at: ev.at + int64(rand.ExpFloat64()*g.arrivalGap), user: -1, act: actArrival})
	if len(g.absent) == 0 {
		g.mu.Unlock()
		g.record(callArrive, ev.at, time.Now(), errors.New("no absent bench user left to arrive: load more with --users"))
		return
	}
	i := g.absent[rand.IntN(len(g.absent))]
	g.removeFrom(&g.absent, i)
	g.users[i].inFlight = true
	g.mu.Unlock()

	user := g.r.users[i]
	err := g.r.callAs(user, http.MethodPost, "/api/checkin", `"success":true`)
	done := time.Now()
	g.record(callArrive, ev.at, done, err)
	if err == nil {
		g.matcher.expect(user.id, false, done)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	u := &g.users[i]
	u.inFlight = false
	if err != nil || ctx.Err() != nil {
		g.addTo(&g.absent, i)
		return
	}
	now := done.UnixNano()
	g.join(i, now, now+int64(g.m.scaled(g.m.PassLength)), false)
}

// join makes absent user i present with a pass that runs until passUntil, renewed
// RenewMargin before its end, and schedules them; midSession says they have been here a
// while (a bulk join), so their status timer is somewhere in its course. Callers hold mu.
func (g *mixGen) join(i int32, now, passUntil int64, midSession bool) {
	u := &g.users[i]
	u.present = true
	u.noCheckout = rand.Float64() < g.m.NoCheckout
	u.passUntil = passUntil
	u.nextRenew = passUntil - int64(g.m.scaled(g.m.RenewMargin))
	u.leaveAt = now + exp(g.m.scaled(g.m.Session))
	u.nextStatus = now + g.statusGap()
	if midSession {
		u.nextStatus = now + residual(g.statusGap, int64(g.m.scaled(g.m.StatusEvery)))
	}
	g.addTo(&g.present, i)
	g.schedule(i)
}

// stationaryPass returns the time left of the live pass of a user caught at a random
// moment: present, or gone without a checkout. A present user has been here an exponential
// time A (sessions are exponential), so their last check-in was A mod cycle ago. One who
// left without a checkout had pass - (D mod cycle) of it left after their session D, and is
// caught at a uniform point of that (residual).
func (m MixConfig) stationaryPass(gone bool) int64 {
	pass, cycle, session := int64(m.scaled(m.PassLength)), int64(m.scaled(m.PassLength-m.RenewMargin)), m.scaled(m.Session)
	if !gone {
		return pass - exp(session)%cycle
	}
	return residual(func() int64 { return pass - exp(session)%cycle }, pass)
}

// residual returns the time left of an interval under way at a random moment, for
// intervals drawn by draw and never longer than most: an interval is caught in proportion
// to its length (drawn, then kept with probability length/most), and is then at a uniform
// point of its course.
func residual(draw func() int64, most int64) int64 {
	for {
		if x := draw(); rand.Int64N(most) < x {
			return rand.Int64N(x)
		}
	}
}

// leave makes present user i absent. Callers hold mu.
func (g *mixGen) leave(i int32) {
	u := &g.users[i]
	u.present = false
	u.gen++
	g.removeFrom(&g.present, i)
	g.addTo(&g.absent, i)
}

// addTo appends user i to list (present or absent). Callers hold mu.
func (g *mixGen) addTo(list *[]int32, i int32) {
	g.users[i].pos = int32(len(*list))
	*list = append(*list, i)
}

// removeFrom takes user i out of list, moving the last one into its place. Callers hold mu.
func (g *mixGen) removeFrom(list *[]int32, i int32) {
	l := *list
	pos := g.users[i].pos
	last := l[len(l)-1]
	l[pos] = last
	g.users[last].pos = pos
	*list = l[:len(l)-1]
}

// record counts one user call, timed from when it was due.
func (g *mixGen) record(call userCall, due int64, done time.Time, err error) {
	g.statsMu.Lock()
	defer g.statsMu.Unlock()
	res := &g.stats.calls[call]
	res.ops++
	res.latencies = append(res.latencies, done.Sub(time.Unix(0, due)))
	if err != nil {
		res.addErrors(1, err)
	}
}

// swapWindow returns what was measured since the last call, and starts anew. Feed events
// still undelivered after feedMissingAfter count as errors.
func (g *mixGen) swapWindow() *mixWindow {
	missing, first := g.matcher.sweep(time.Now().Add(-feedMissingAfter))
	g.statsMu.Lock()
	w := g.stats
	g.stats = &mixWindow{start: time.Now()}
	g.statsMu.Unlock()
	w.elapsed = time.Since(w.start)
	if missing > 0 {
		w.feedErr.addErrors(missing, first)
	}
	for i := range w.calls {
		w.calls[i].elapsed = w.elapsed
		slices.Sort(w.calls[i].latencies)
	}
	slices.Sort(w.feed)
	w.summary.elapsed, w.list.elapsed = w.elapsed, w.elapsed
	slices.Sort(w.summary.latencies)
	slices.Sort(w.list.latencies)
	return w
}

// follow is the model's follower: one event stream, resumed from its last cursor when it
// ends (each end counts as an error: nothing in the mix should end it). following is
// closed once the first stream is open.
func (g *mixGen) follow(ctx context.Context, client *http.Client, following chan struct{}) {
	defer client.CloseIdleConnections()
	cursor := ""
	for ctx.Err() == nil {
		var ended string
		st, err := g.r.openEventStream(ctx, client, cursor, func(ev feedEvent, at time.Time) {
			switch ev.kind {
			case "join", "renew", "leave":
				g.matcher.arrived(ev.userID, ev.kind == "leave", at)
			case "dropped", "reset":
				ended = ev.kind + " " + ev.data
				cursor = "" // a reset must list again; a dropped follower resumes from the data's cursor
				if c, ok := strings.CutPrefix(ev.data, `{"cursor":"`); ok && ev.kind == "dropped" {
					cursor, _, _ = strings.Cut(c, `"`)
				}
				return
			}
			if ev.id != "" {
				cursor = ev.id
			}
		}, nil)
		if err == nil {
			if following != nil {
				close(following)
				following = nil
			}
			select {
			case <-st.done:
				err = st.err
			case <-ctx.Done():
				st.close()
				return
			}
			if ended != "" {
				err = errors.New(ended)
			}
		}
		g.feedError(fmt.Errorf("the follower's stream: %w", err))
		select { // do not spin on a proxy that refuses
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

// feedError counts a failure of the feed.
func (g *mixGen) feedError(err error) {
	g.statsMu.Lock()
	g.stats.feedErr.addErrors(1, err)
	g.statsMu.Unlock()
}

// every runs f every interval until ctx ends.
func (g *mixGen) every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		f(ctx)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// readSummary reads the model's summary once.
func (g *mixGen) readSummary(ctx context.Context) {
	start := time.Now()
	resp, err := g.r.modelGet(ctx, "/api/model/summary", "")
	if err == nil {
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"success":true`)) {
			err = fmt.Errorf("summary: %d %s", resp.StatusCode, truncate(body, 200))
		}
	}
	g.modelRead(ctx, func(w *mixWindow) *loadResult { return &w.summary }, start, err)
}

// readList reads the model's whole list once with If-None-Match etag, and returns the
// ETag to send next time.
func (g *mixGen) readList(ctx context.Context, etag string) string {
	start := time.Now()
	resp, err := g.r.modelGet(ctx, "/api/model/active-users", etag)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
		case resp.StatusCode == http.StatusOK:
			etag = resp.Header.Get("ETag")
		case resp.StatusCode != http.StatusNotModified:
			err = fmt.Errorf("active users: %d", resp.StatusCode)
		}
	}
	g.modelRead(ctx, func(w *mixWindow) *loadResult { return &w.list }, start, err)
	return etag
}

// modelRead counts one model read in the current window's result that which picks.
func (g *mixGen) modelRead(ctx context.Context, which func(*mixWindow) *loadResult, start time.Time, err error) {
	if ctx.Err() != nil {
		return // the run is ending: not the proxy's failure
	}
	took := time.Since(start)
	g.statsMu.Lock()
	defer g.statsMu.Unlock()
	r := which(g.stats)
	r.ops++
	r.latencies = append(r.latencies, took)
	if err != nil {
		r.addErrors(1, err)
	}
}

// closeRunOutSQL closes the passes that ran out but are still marked active (as the next
// check-in would), so that a new pass for the user fits the one-live-pass index.
const closeRunOutSQL = `update public.sessions s set status = 'inactive', ended_at = s.expires_at, end_reason = 'expired'
where s.user_id = any($1::text[]::uuid[]) and s.status = 'active' and s.expires_at <= pg_catalog.now()`

// bulkPassesSQL gives each user a live pass until its time, as checkin() would have.
const bulkPassesSQL = `insert into public.sessions as s (user_id, checked_in_at, expires_at, status, created_at)
select t.u, t.e - $3::interval, t.e, 'active', t.e - $3::interval
from unnest($1::text[]::uuid[], $2::timestamptz[]) as t(u, e)
on conflict (user_id) where status = 'active' do update set expires_at = excluded.expires_at`

// bulkCheckoutSQL ends the users' live passes as checkout() would.
const bulkCheckoutSQL = `update public.sessions s set status = 'inactive', ended_at = pg_catalog.now(), end_reason = 'checkout'
where s.user_id = any($1::text[]::uuid[]) and s.status = 'active'`

// setTarget moves the mix to n present users: arrivals at n per mean session from now
// on, and at once, by set-based SQL rather than through the API, the users it takes to
// get there. A joining user's pass and status timer are where a present user's are at a
// random moment (stationaryPass, residual), and passes of users who left without a
// checkout are added or ended to match n (their count per present user is in rates), so
// the load is at its steady state from the start: sessions are exponential, so a present
// user's time left is too. The new passes are made in replica mode, without the feed's
// trigger: the follower sees only what the users' calls do, and the summary counts such a
// pass from its first renewal. The passes ended here go through the trigger, which logs
// their leave and takes away from the summary what a renewal added to it.
func (g *mixGen) setTarget(ctx context.Context, n int) error {
	now := time.Now()
	nowNs := now.UnixNano()
	pass := int64(g.m.scaled(g.m.PassLength))

	g.mu.Lock()
	g.arrivalGap = float64(g.m.scaled(g.m.Session)) / float64(n)
	if !g.arriving {
		g.arriving = true
		g.push(mixEvent{at: nowNs + int64(rand.ExpFloat64()*g.arrivalGap), user: -1, act: actArrival})
	}
	var ghosts []int32
	for _, i := range g.absent {
		if g.users[i].passUntil > nowNs {
			ghosts = append(ghosts, i)
		}
	}
	wantGhosts := int(float64(n) * g.m.rates().ghosts)
	var join, joinGhost, end, endGhost []int32
	take := func(list *[]int32, count int, ok func(*mixUser) bool) []int32 {
		var picked []int32
		for tries := 0; len(picked) < count && tries < 4*count+100 && len(*list) > 0; tries++ {
			i := (*list)[rand.IntN(len(*list))]
			if u := &g.users[i]; !u.inFlight && ok(u) {
				g.removeFrom(list, i)
				u.inFlight = true
				picked = append(picked, i)
			}
		}
		return picked
	}
	noPass := func(u *mixUser) bool { return u.passUntil <= nowNs }
	if d := n - len(g.present); d > 0 {
		join = take(&g.absent, d, noPass)
	} else if d < 0 {
		end = take(&g.present, -d, func(*mixUser) bool { return true })
		for _, i := range end {
			g.users[i].present = false
			g.users[i].gen++
		}
	}
	if d := wantGhosts - len(ghosts); d > 0 {
		joinGhost = take(&g.absent, d, noPass)
	} else if d < 0 {
		rand.Shuffle(len(ghosts), func(a, b int) { ghosts[a], ghosts[b] = ghosts[b], ghosts[a] })
		for _, i := range ghosts[:-d] {
			if !g.users[i].inFlight {
				g.removeFrom(&g.absent, i)
				g.users[i].inFlight = true
				endGhost = append(endGhost, i)
			}
		}
	}
	g.mu.Unlock()

	ids := func(list []int32) []string {
		out := make([]string, len(list))
		for k, i := range list {
			out[k] = g.r.users[i].id
		}
		return out
	}
	adding := append(slices.Clone(join), joinGhost...)
	until := make([]int64, len(adding))
	times := make([]time.Time, len(adding))
	for k := range adding {
		until[k] = nowNs + g.m.stationaryPass(k >= len(join))
		times[k] = time.Unix(0, until[k])
	}
	err := pgx.BeginFunc(ctx, g.admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "set local session_replication_role = replica"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, closeRunOutSQL, ids(adding)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, bulkPassesSQL, ids(adding), times, fmt.Sprintf("%d microseconds", pass/1000)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "set local session_replication_role = origin"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, bulkCheckoutSQL, ids(append(slices.Clone(end), endGhost...)))
		return err
	})

	g.mu.Lock()
	defer g.mu.Unlock()
	now2 := time.Now().UnixNano()
	for k, i := range adding {
		g.users[i].inFlight = false
		if err == nil && k < len(join) {
			g.join(i, now2, until[k], true)
			continue
		}
		if err == nil {
			g.users[i].passUntil = until[k]
		}
		g.addTo(&g.absent, i)
	}
	for _, i := range append(end, endGhost...) {
		g.users[i].inFlight = false
		if err == nil {
			g.users[i].passUntil = 0
		}
		g.addTo(&g.absent, i)
	}
	if err != nil {
		return fmt.Errorf("moving the mix to %d present users: %w", n, err)
	}
	if got := len(g.present); got < n*9/10 {
		return fmt.Errorf("only %d of %d users could be made present: load more with --users", got, n)
	}
	return nil
}

// presentNow returns how many users are present.
func (g *mixGen) presentNow() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.present)
}

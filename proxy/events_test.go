package proxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/storetest"
)

// sseEvent is one event read off a stream; a comment line (": heartbeat") comes as
// an sseEvent with only comment set.
type sseEvent struct{ id, event, data, comment string }

// openEvents opens the events stream at url (/api/model/events, maybe with a query) with headers and returns its events as they come.
func openEvents(t *testing.T, url string, headers ...string) <-chan sseEvent {
	t.Helper()
	all := openEventsWithComments(t, url, headers...)
	out := make(chan sseEvent, 100000)
	go func() {
		defer close(out)
		for e := range all {
			if e.comment == "" {
				out <- e
			}
		}
	}()
	return out
}

// openEventsWithComments is openEvents that also passes on comment lines, in order.
func openEventsWithComments(t *testing.T, url string, headers ...string) <-chan sseEvent {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", modelKey)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 100000)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.event != "" {
					out <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, ": "):
				out <- sseEvent{comment: line[2:]}
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			}
		}
	}()
	return out
}

// next waits for the next event.
func next(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30 s")
	}
	return sseEvent{}
}

// TestPresenceFeed lists, follows, checks in and out, resumes from an old cursor,
// polls with If-None-Match and reads the summary, on both upstreams.
func TestPresenceFeed(t *testing.T) {
	for _, kind := range upstreamKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, kind, nil, func(c *proxy.Config) { c.Feed.Poll = 100 * time.Millisecond })
			list := do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey))
			var body struct {
				Count  int    `json:"count"`
				Cursor string `json:"cursor"`
			}
			if err := json.Unmarshal(list.Raw, &body); err != nil || body.Cursor == "" {
				t.Fatalf("list = %d %s, want a cursor", list.Status, list.Raw)
			}
			etag := list.Header.Get("ETag")
			if r := do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey), "If-None-Match: "+etag); r.Status != http.StatusNotModified || len(r.Raw) != 0 {
				t.Fatalf("unchanged list with If-None-Match %s = %d %q, want 304 without a body", etag, r.Status, r.Raw)
			}

			events := openEvents(t, ts.URL+"/api/model/events", "Last-Event-ID: "+body.Cursor)
			id := storetest.AddUsers(t, ts.DB.PostgresURL, 1)[0]
			token := mint(t, id)
			if r := do(t, "POST", ts.URL+"/api/checkin", nil, bearer(token)); r.Status != http.StatusOK {
				t.Fatalf("checkin: %d %s", r.Status, r.Raw)
			}
			join := next(t, events)
			var row struct {
				UserID      string    `json:"user_id"`
				Preferences []float64 `json:"preferences"`
			}
			if join.event != "join" || json.Unmarshal([]byte(join.data), &row) != nil || row.UserID != id || len(row.Preferences) != 5 {
				t.Fatalf("first event = %+v, want the join of %s with its row", join, id)
			}
			if r := do(t, "POST", ts.URL+"/api/checkout", nil, bearer(token)); r.Status != http.StatusOK {
				t.Fatalf("checkout: %d %s", r.Status, r.Raw)
			}
			leave := next(t, events)
			if leave.event != "leave" || !strings.Contains(leave.data, `"user_id":"`+id+`"`) || !strings.Contains(leave.data, `"at":"`) {
				t.Fatalf("second event = %+v, want the leave of %s", leave, id)
			}
			if r := do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey), "If-None-Match: "+etag); r.Status != http.StatusOK || r.Header.Get("ETag") == etag {
				t.Fatalf("changed list with the old ETag = %d, ETag %s", r.Status, r.Header.Get("ETag"))
			}

			// Resuming from the list's cursor replays the leave, identically, once: the pass
			// has ended, so its join (name, preferences) is no longer in the log.
			again := openEvents(t, ts.URL+"/api/model/events?cursor="+body.Cursor)
			if e := next(t, again); e != leave {
				t.Fatalf("replay = %+v, want only %+v", e, leave)
			}

			sum := do(t, "GET", ts.URL+"/api/model/summary", nil, apiKey(modelKey))
			var s struct {
				Success bool       `json:"success"`
				Count   *int       `json:"count"`
				Mean    *[]float64 `json:"mean"`
				Cursor  string     `json:"cursor"`
			}
			if err := json.Unmarshal(sum.Raw, &s); err != nil || !s.Success || s.Count == nil || s.Cursor == "" ||
				*s.Count != body.Count || (*s.Count > 0) != (s.Mean != nil && len(*s.Mean) == 5) {
				t.Fatalf("summary = %d %s, want count %d (the list's) with means", sum.Status, sum.Raw, body.Count)
			}
			if r := do(t, "GET", ts.URL+"/api/model/events?cursor=x", nil, apiKey(modelKey)); r.Status != http.StatusBadRequest {
				t.Fatalf("bad cursor: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// TestPresenceHistoryEndpoint: GET /api/model/history answers the last hour minute by
// minute on both upstreams, ending with the number present now, and only with the key.
// Nothing depends on where in its minute the call falls: the answer is stamped by the
// test's clock, the minutes are checked against the last point's own minute (the
// database's now), and each count against the pass's check-in time as the database
// recorded it.
func TestPresenceHistoryEndpoint(t *testing.T) {
	for _, kind := range upstreamKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			clock := &manualClock{now: windowStart}
			ts := startServer(t, kind, nil, nil, withClock(clock))
			id := storetest.AddUsers(t, ts.DB.PostgresURL, 1)[0]
			if r := do(t, "POST", ts.URL+"/api/checkin", nil, bearer(mint(t, id))); r.Status != http.StatusOK {
				t.Fatalf("checkin: %d %s", r.Status, r.Raw)
			}
			var checkedIn time.Time
			if err := superuser(t, ts.DB.PostgresURL).QueryRow(context.Background(),
				"select checked_in_at from public.sessions where user_id = $1", id).Scan(&checkedIn); err != nil {
				t.Fatal(err)
			}
			r := do(t, "GET", ts.URL+"/api/model/history", nil, apiKey(modelKey))
			var body struct {
				Success   bool      `json:"success"`
				Timestamp time.Time `json:"timestamp"`
				Minutes   []struct {
					At    time.Time `json:"at"`
					Count int       `json:"count"`
				} `json:"minutes"`
			}
			if err := json.Unmarshal(r.Raw, &body); err != nil || r.Status != http.StatusOK || !body.Success || len(body.Minutes) != 60 {
				t.Fatalf("history = %d %s, want 60 points", r.Status, r.Raw)
			}
			if !body.Timestamp.Equal(windowStart) {
				t.Errorf("timestamp = %s, want the server's clock, %s", body.Timestamp, windowStart)
			}
			// The last point is now; the others end each of the 59 minutes before it, the
			// first 58 minutes before the one now falls in, and the 59th where it began.
			last := body.Minutes[59]
			if last.Count != 1 || last.At.Before(checkedIn.Truncate(time.Second)) {
				t.Fatalf("history ends with %+v, want the one pass checked in at %s, now: %s", last, checkedIn, r.Raw)
			}
			for i, p := range body.Minutes[:59] {
				want := last.At.Truncate(time.Minute).Add(time.Duration(i-58) * time.Minute)
				wantCount := 0
				if !p.At.Before(checkedIn) {
					wantCount = 1
				}
				if !p.At.Equal(want) || p.Count != wantCount {
					t.Fatalf("point %d = %+v, want %s with %d present: %s", i, p, want, wantCount, r.Raw)
				}
			}
			wantError(t, do(t, "GET", ts.URL+"/api/model/history", nil), http.StatusUnauthorized, "Missing X-API-Key header")
		})
	}
}

// TestHistoryComputedOncePerMinute: 40 history requests, 20 at a time, run the query once;
// the next minute runs it once more. A model key within its quota cannot make the database
// compute an hour of passes per request.
func TestHistoryComputedOncePerMinute(t *testing.T) {
	clock := &manualClock{now: windowStart}
	counting := &countingStore{}
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) { c.RateLimit.ModelKeyPerMinute = 1000 },
		withClock(clock), countReads(counting))
	ask := func() {
		var wg sync.WaitGroup
		for range 2 {
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r := do(t, "GET", ts.URL+"/api/model/history", nil, apiKey(modelKey)); r.Status != http.StatusOK {
						t.Errorf("history = %d %s", r.Status, r.Raw)
					}
				}()
			}
			wg.Wait()
		}
	}
	ask()
	if n := counting.histories.Load(); n != 1 {
		t.Fatalf("40 history requests in one minute ran the query %d times, want once", n)
	}
	clock.Advance(time.Minute)
	ask()
	if n := counting.histories.Load(); n != 2 {
		t.Fatalf("after a minute the query ran %d times in all, want twice", n)
	}
}

// TestFeedFanOut: many subscribers cost one tick per poll, not one each.
func TestFeedFanOut(t *testing.T) {
	ts := startServer(t, upstreamPostgREST, nil, func(c *proxy.Config) { c.Feed.Poll = 200 * time.Millisecond })
	const subscribers = 50
	var wg sync.WaitGroup
	streams := make([]<-chan sseEvent, subscribers)
	for i := range streams {
		streams[i] = openEvents(t, ts.URL+"/api/model/events")
	}
	id := storetest.AddUsers(t, ts.DB.PostgresURL, 1)[0]
	if r := do(t, "POST", ts.URL+"/api/checkin", nil, bearer(mint(t, id))); r.Status != http.StatusOK {
		t.Fatalf("checkin: %d", r.Status)
	}
	for _, s := range streams {
		wg.Add(1)
		go func() { defer wg.Done(); _ = next(t, s) }()
	}
	wg.Wait()
	ticks := 0
	for _, r := range ts.Rest.Requests() {
		if r.Path == "/rest/v1/rpc/presence_tick" {
			ticks++
		}
	}
	// Each stream waits for the hub's first poll; after that one poll serves them all.
	if ticks > 40 {
		t.Fatalf("%d subscribers caused %d ticks, want about one per poll", subscribers, ticks)
	}
}

package proxy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/presence"
	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/pgstore"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// fastFeed polls every 100 ms and beats every 50 ms, so tests wait for conditions
// instead of the production intervals.
func fastFeed(c *proxy.Config) {
	c.Feed.Poll = 100 * time.Millisecond
	c.Feed.Heartbeat = 50 * time.Millisecond
}

// awaitHeartbeat reads the stream up to its first heartbeat, which follow writes
// only once the subscriber is attached to the hub, and fails on any event before it.
func awaitHeartbeat(t *testing.T, events <-chan sseEvent) {
	t.Helper()
	for {
		e := next(t, events)
		switch {
		case e.comment == "heartbeat":
			return
		case e.comment == "":
			t.Fatalf("event %+v before the first heartbeat, want none", e)
		}
	}
}

// nextEvent is next, skipping comment lines.
func nextEvent(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	for {
		if e := next(t, events); e.comment == "" {
			return e
		}
	}
}

// finalCursor checks that e is the final event kind and returns the cursor in its data.
func finalCursor(t *testing.T, e sseEvent, kind string) string {
	t.Helper()
	var data struct {
		Cursor string `json:"cursor"`
		Reason string `json:"reason"`
	}
	if e.event != kind || json.Unmarshal([]byte(e.data), &data) != nil || data.Cursor == "" || data.Reason == "" {
		t.Fatalf("event = %+v, want %s with a cursor and a reason", e, kind)
	}
	return data.Cursor
}

// wantEnded checks the stream closes after its final event, with nothing more on it.
func wantEnded(t *testing.T, events <-chan sseEvent) {
	t.Helper()
	select {
	case e, ok := <-events:
		if ok {
			t.Fatalf("after the final event came %+v, want the stream to end", e)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stream did not end within 30 s of its final event")
	}
}

// listCursor lists the present users and returns the list's cursor.
func listCursor(t *testing.T, url string) int64 {
	t.Helper()
	r := do(t, "GET", url+"/api/model/active-users", nil, apiKey(modelKey))
	c, err := strconv.ParseInt(r.Body["cursor"].(string), 10, 64)
	if r.Status != http.StatusOK || err != nil {
		t.Fatalf("list = %d %s, want a cursor", r.Status, r.Raw)
	}
	return c
}

// TestFeedHeartbeat: an idle stream gets a comment line every feed.heartbeat.
func TestFeedHeartbeat(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, fastFeed)
	events := openEventsWithComments(t, ts.URL+"/api/model/events")
	if e := next(t, events); e.comment == "" {
		t.Fatalf("first line %+v, want the opening comment", e)
	}
	for range 3 { // a ticker, not a single beat
		if e := next(t, events); e.comment != "heartbeat" {
			t.Fatalf("idle stream sent %+v, want a heartbeat", e)
		}
	}
}

// TestFeedDropsSlowSubscriber: a burst bigger than a subscriber's buffer drops it with a
// final `dropped` naming the last event it was sent; resuming from there delivers the
// rest exactly once. Attached subscribers hold no database connection: with a
// one-connection pool, four of them still leave the API its connection.
func TestFeedDropsSlowSubscriber(t *testing.T) {
	for _, kind := range upstreamKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			db := localdbtest.ForTest(t)
			ts := startServer(t, kind, db, func(c *proxy.Config) { fastFeed(c); c.Feed.Buffer = 1 }, func(d *proxy.Deps) {
				if kind == upstreamPostgres {
					useDirectStore(d, onePoolStore(t, db.AuthenticatorURL))
				}
			})
			from := listCursor(t, ts.URL)
			events := openEventsWithComments(t, ts.URL+"/api/model/events", "Last-Event-ID: "+formatInt(from))
			awaitHeartbeat(t, events)
			for range 3 {
				awaitHeartbeat(t, openEventsWithComments(t, ts.URL+"/api/model/events"))
			}
			ids := storetest.AddUsers(t, ts.DB.PostgresURL, 300)
			storetest.CheckInEveryone(t, ts.DB.PostgresURL) // one commit: one poll hands out 300+ joins

			var got []sseEvent
			last := formatInt(from)
			for {
				e := nextEvent(t, events)
				if e.event == "dropped" {
					if c := finalCursor(t, e, "dropped"); c != last {
						t.Fatalf("dropped names cursor %s, want %s, the id of the last event sent", c, last)
					}
					break
				}
				got = append(got, e)
				last = e.id
			}
			wantEnded(t, events)
			want := storetest.Follow(t, storetest.OpenStore(t, db.AuthenticatorURL), from)
			if len(got) >= len(want) {
				t.Fatalf("dropped after all %d events, want it to fall behind a buffer of 1", len(got))
			}
			resumed := openEvents(t, ts.URL+"/api/model/events", "Last-Event-ID: "+last)
			for len(got) < len(want) {
				got = append(got, next(t, resumed))
			}
			joined := map[string]int{}
			for i, e := range got {
				if e.id != formatInt(want[i].Cursor) || e.event != want[i].Kind {
					t.Fatalf("event %d = %s %s, want %d %s: not every change exactly once, in order", i, e.id, e.event, want[i].Cursor, want[i].Kind)
				}
				var row struct {
					UserID string `json:"user_id"`
				}
				_ = json.Unmarshal([]byte(e.data), &row)
				joined[row.UserID]++
			}
			for _, id := range ids {
				if joined[id] != 1 {
					t.Fatalf("user %s joined %d times across the drop, want once", id, joined[id])
				}
			}
			if r := do(t, "POST", ts.URL+"/api/checkout", nil, bearer(mint(t, ids[0]))); r.Status != http.StatusOK {
				t.Fatalf("checkout with four subscribers attached: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// onePoolStore is a direct store whose pools have one connection each, closed when the test ends.
func onePoolStore(t *testing.T, url string) *pgstore.Store {
	t.Helper()
	store, err := pgstore.Open(url, pgstore.Pools{Users: 1, Model: 1, Feed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return store
}

// formatInt is a cursor as the API writes it.
func formatInt(c int64) string { return strconv.FormatInt(c, 10) }

// TestFeedReset: a cursor older than the history kept, or ahead of the database, gets
// one `reset` naming the head to list again from, and the stream ends; a cursor
// inside the history attaches.
func TestFeedReset(t *testing.T) {
	for _, kind := range upstreamKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, kind, nil, fastFeed)
			store := storetest.OpenStore(t, ts.DB.AuthenticatorURL)
			id := storetest.AddUsers(t, ts.DB.PostgresURL, 1)[0]
			if r := do(t, "POST", ts.URL+"/api/checkin", nil, bearer(mint(t, id))); r.Status != http.StatusOK {
				t.Fatalf("checkin: %d %s", r.Status, r.Raw)
			}
			if _, err := superuser(t, ts.DB.PostgresURL).Exec(context.Background(), "update vibepass.settings set feed_history = '1 millisecond'"); err != nil {
				t.Fatal(err)
			}
			head := storetest.Tick(t, store)
			for deadline := time.Now().Add(30 * time.Second); head.Floor == 0; head = storetest.Tick(t, store) {
				if time.Now().After(deadline) {
					t.Fatal("the tick purged nothing within 30 s with feed_history = 1 ms")
				}
			}
			old := openEvents(t, ts.URL+"/api/model/events?cursor=0")
			if c := finalCursor(t, next(t, old), "reset"); c != formatInt(head.Cursor) {
				t.Fatalf("reset names cursor %s, want the head %d", c, head.Cursor)
			}
			wantEnded(t, old)

			ahead := openEvents(t, ts.URL+"/api/model/events", "Last-Event-ID: "+formatInt(head.Cursor+1000))
			if c := finalCursor(t, next(t, ahead), "reset"); c != formatInt(head.Cursor) {
				t.Fatalf("reset names cursor %s, want the head %d", c, head.Cursor)
			}
			wantEnded(t, ahead)

			awaitHeartbeat(t, openEventsWithComments(t, ts.URL+"/api/model/events", "Last-Event-ID: "+formatInt(head.Floor)))
		})
	}
}

// countingStore counts the list and history reads of a real store.
type countingStore struct {
	vibepass.PresenceStore
	lists, histories atomic.Int64
}

// countReads has the server read the presence through counting, the list as values.
func countReads(counting *countingStore) func(*proxy.Deps) {
	return func(d *proxy.Deps) {
		counting.PresenceStore, d.Presence, d.Views = d.Presence, counting, nil
	}
}

// ActiveUsers counts the read and makes it.
func (s *countingStore) ActiveUsers(ctx context.Context, row func(vibepass.ActiveUser) error) error {
	s.lists.Add(1)
	return s.PresenceStore.ActiveUsers(ctx, row)
}

// PresenceHistory counts the read and makes it.
func (s *countingStore) PresenceHistory(ctx context.Context) ([]vibepass.PresencePoint, error) {
	s.histories.Add(1)
	return s.PresenceStore.PresenceHistory(ctx)
}

// TestListETagOnExpiry: the list's ETag moves when a pass runs out although no row is
// written, and each 304 before that costs no list read. The pass runs out when the test
// moves its expires_at to now (storetest.RunOut), not after real time.
func TestListETagOnExpiry(t *testing.T) {
	for _, kind := range upstreamKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			counting := &countingStore{}
			ts := startServer(t, kind, nil, nil, countReads(counting))
			admin := superuser(t, ts.DB.PostgresURL)
			ctx := context.Background()
			id := storetest.AddUsers(t, ts.DB.PostgresURL, 1)[0]
			if r := do(t, "POST", ts.URL+"/api/checkin", nil, bearer(mint(t, id))); r.Status != http.StatusOK {
				t.Fatalf("checkin: %d %s", r.Status, r.Raw)
			}
			list := do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey))
			etag := list.Header.Get("ETag")
			if !contains(string(list.Raw), id) || etag == "" {
				t.Fatalf("list = %d %s (ETag %q), want %s in it", list.Status, list.Raw, etag, id)
			}
			reads := counting.lists.Load()
			// notModified asks with the ETag and says whether the answer was 304, which must
			// cost no list read.
			notModified := func() bool {
				r := do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey), "If-None-Match: "+etag)
				if r.Status == http.StatusOK {
					list = r
					return false
				}
				if r.Status != http.StatusNotModified || len(r.Raw) != 0 {
					t.Fatalf("If-None-Match %s = %d %s, want 304 without a body", etag, r.Status, r.Raw)
				}
				if n := counting.lists.Load(); n != reads {
					t.Fatalf("a 304 read the list (%d reads, want %d)", n, reads)
				}
				return true
			}
			if !notModified() {
				t.Fatalf("If-None-Match with the live pass = %s, want 304", list.Raw)
			}
			storetest.RunOut(t, ts.DB.PostgresURL, id)
			var written string
			if err := admin.QueryRow(ctx, "select xmin::text from public.sessions where user_id = $1", id).Scan(&written); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(60 * time.Second); notModified(); {
				if time.Now().After(deadline) {
					t.Fatal("the ETag did not move within 60 s of the pass running out")
				}
				time.Sleep(100 * time.Millisecond) // polling the condition, as a model client does
			}
			if contains(string(list.Raw), id) || list.Header.Get("ETag") == etag {
				t.Fatalf("list %s ETag %s, want it without %s and a new ETag", list.Raw, list.Header.Get("ETag"), id)
			}
			var now string
			if err := admin.QueryRow(ctx, "select xmin::text from public.sessions where user_id = $1", id).Scan(&now); err != nil || now != written {
				t.Fatalf("the session row was written after it ran out (xmin %s, then %s): the expiry must need no writer", written, now)
			}
		})
	}
}

// TestFeedSubscriberCap: beyond feed.subscribers an event stream gets 503 with
// Retry-After in the spec's shape, and a stream that ends frees its slot.
func TestFeedSubscriberCap(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) { fastFeed(c); c.Feed.Subscribers = 2 })
	awaitHeartbeat(t, openEventsWithComments(t, ts.URL+"/api/model/events"))
	ctx, leave := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/model/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", modelKey)
	second, err := http.DefaultClient.Do(req)
	if err != nil || second.StatusCode != http.StatusOK {
		t.Fatalf("second stream: %v %v", second, err)
	}
	third := do(t, "GET", ts.URL+"/api/model/events", nil, apiKey(modelKey))
	wantError(t, third, http.StatusServiceUnavailable, "Too many event streams")
	if third.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %v", third.Header)
	}
	leave()
	second.Body.Close()
	// The slot frees when the stream's next write (a heartbeat) finds the client gone.
	for deadline := time.Now().Add(30 * time.Second); ; {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/model/events", nil)
		req.Header.Set("X-API-Key", modelKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after a stream ended: %d, want a free slot within 30 s", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond) // polling the condition
	}
}

// eventsStatus opens an event stream with key and returns its status, closing it at once.
func eventsStatus(t *testing.T, baseURL, key string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, baseURL+"/api/model/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestFeedCapsStreamsPerKey: one key cannot hold every slot. With room for three streams
// and one per key, a second stream of the same key gets 503 with Retry-After and the code
// feed_busy, while another key still gets one.
func TestFeedCapsStreamsPerKey(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) {
		fastFeed(c)
		c.Feed.Subscribers, c.Feed.SubscribersPerKey = 3, 1
	})
	awaitHeartbeat(t, openEventsWithComments(t, ts.URL+"/api/model/events"))
	second := do(t, "GET", ts.URL+"/api/model/events", nil, apiKey(modelKey))
	wantError(t, second, http.StatusServiceUnavailable, "Too many event streams open for this API key")
	if second.Header.Get("Retry-After") == "" || second.Body["code"] != "feed_busy" {
		t.Fatalf("the key's second stream: Retry-After %q, code %v; want both", second.Header.Get("Retry-After"), second.Body["code"])
	}
	if status, _ := eventsStatus(t, ts.URL, oldModelKey); status != http.StatusOK {
		t.Fatalf("another key's stream = %d, want 200", status)
	}
}

// TestFeedFreesTheSlotOfADroppedFollower: a follower that never reads is dropped once it
// falls feed.buffer events behind. Its `dropped` event cannot be written (its socket is
// full) until timeouts.write, but its slot is free at once: with room for one stream, the
// next follower gets in well before the write timeout.
func TestFeedFreesTheSlotOfADroppedFollower(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) {
		c.Feed.Poll = 100 * time.Millisecond
		c.Feed.Subscribers, c.Feed.Buffer = 1, presence.FeedPage
		c.Timeouts.Write = 2 * time.Minute
	})
	neverRead(t, ts.URL, "/api/model/events")
	waitUntil(t, time.Minute, "the never-reading follower to hold the one slot", func() bool {
		status, _ := eventsStatus(t, ts.URL, oldModelKey)
		return status == http.StatusServiceUnavailable
	})
	// About 9 MB of joins: more than the sockets on the way hold, so the follower's writes
	// block and the hub drops it.
	storetest.AddUsers(t, ts.DB.PostgresURL, 40000)
	storetest.CheckInEveryone(t, ts.DB.PostgresURL)
	waitUntil(t, time.Minute, "a new follower to get the dropped one's slot", func() bool {
		status, _ := eventsStatus(t, ts.URL, oldModelKey)
		return status == http.StatusOK
	})
}

// TestFeedResetsFollowerWhoseChangesWereTrimmed: a follower is attached when a change is
// logged and trimmed from the history (feed_history = 1 ms) before the hub's next poll
// reads it. The follower must get that change or a reset, never silence: before, the hub
// moved past the trimmed change and the follower missed it without being told.
func TestFeedResetsFollowerWhoseChangesWereTrimmed(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) { fastFeed(c); c.Feed.Poll = 2 * time.Second })
	events := openEventsWithComments(t, ts.URL+"/api/model/events")
	awaitHeartbeat(t, events)
	ctx := context.Background()
	admin := superuser(t, ts.DB.PostgresURL)
	id := storetest.AddUsers(t, ts.DB.PostgresURL, 1)[0]
	if _, err := admin.Exec(ctx, "update vibepass.settings set feed_history = '1 millisecond'"); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", ts.URL+"/api/checkin", nil, bearer(mint(t, id))); r.Status != http.StatusOK {
		t.Fatalf("checkin: %d %s", r.Status, r.Raw)
	}
	waitUntil(t, time.Minute, "the log to be trimmed", func() bool {
		var left int
		if err := admin.QueryRow(ctx, "select count(*) from vibepass.presence_log where public.presence_tick() is not null").Scan(&left); err != nil {
			t.Fatal(err)
		}
		return left == 0
	})
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("the stream ended with neither the join nor a reset")
			}
			if e.event == "reset" || e.event == "join" && strings.Contains(e.data, id) {
				return
			}
		case <-deadline:
			t.Fatal("30 s after its change was trimmed, the follower has had neither the join nor a reset")
		}
	}
}

package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/client"
)

// feed is a scripted stand-in for the model endpoints: lists answer its rows and
// cursor, and each connection to the event stream runs the next script.
type feed struct {
	mu      sync.Mutex
	rows    []string // JSON rows of the list
	cursor  string   // the list's cursor
	lists   int
	ids     []string // Last-Event-ID of each stream request
	scripts []func(w http.ResponseWriter, r *http.Request)
}

func (f *feed) handler(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		switch r.URL.Path {
		case "/api/model/active-users":
			f.lists++
			body := `{"success":true,"timestamp":"2026-11-27T02:40:00Z","data":[` + strings.Join(f.rows, ",") +
				`],"count":` + fmt.Sprint(len(f.rows)) + `,"cursor":"` + f.cursor + `"}`
			f.mu.Unlock()
			reply(w, 200, body)
		case "/api/model/events":
			f.ids = append(f.ids, r.Header.Get("Last-Event-ID"))
			if len(f.scripts) == 0 {
				f.mu.Unlock()
				<-r.Context().Done() // nothing more: hold the stream open
				return
			}
			script := f.scripts[0]
			f.scripts = f.scripts[1:]
			f.mu.Unlock()
			script(w, r)
		default:
			f.mu.Unlock()
			t.Errorf("unexpected %s", r.URL.Path)
		}
	}
}

func (f *feed) streamIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

// events writes the SSE text as a 200 event stream and flushes it.
func events(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprint(w, text)
	w.(http.Flusher).Flush()
}

// cut drops the connection without ending the chunked body.
func cut(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func row(id, name string) string {
	return `{"user_id":"` + id + `","display_name":"` + name + `","checked_in_at":"2026-11-27T02:39:55Z","expires_at":"2026-11-27T03:39:55Z","preferences":[0.1,0.2,0.3,0.4,0.5],"is_anonymous":false}`
}

func join(cursor, id, name string) string {
	return "id: " + cursor + "\nevent: join\ndata: " + row(id, name) + "\n\n"
}

func leave(cursor, id string) string {
	return "id: " + cursor + "\nevent: leave\ndata: {\"user_id\":\"" + id + "\",\"at\":\"2026-11-27T02:41:00Z\"}\n\n"
}

// follow starts a follower of f's server with short timeouts.
func follow(t *testing.T, f *feed, opts ...client.FollowOption) (*client.Follower, func() []string) {
	t.Helper()
	c := newClient(t, f.handler(t), client.WithAPIKey("k"))
	var mu sync.Mutex
	var notices []string
	opts = append([]client.FollowOption{client.WithBackoff(10*time.Millisecond, 50*time.Millisecond),
		client.WithHeartbeatTimeout(2 * time.Second),
		client.WithLogf(func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			notices = append(notices, fmt.Sprintf(format, args...))
		})}, opts...)
	fl := c.Follow(context.Background(), opts...)
	t.Cleanup(fl.Close)
	return fl, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), notices...)
	}
}

// next returns the next event's kind, user and cursor as one string ("join Ann 3").
func next(t *testing.T, fl *client.Follower) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := fl.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if ev.Kind == client.EventList {
		return fmt.Sprintf("list %s %d %s", ev.Reason, len(ev.Users), ev.Cursor)
	}
	name := "?"
	if ev.User != nil {
		name = ev.User.DisplayName
	}
	return fmt.Sprintf("%s %s %s", ev.Kind, name, ev.Cursor)
}

// names is the present users' names, sorted.
func names(fl *client.Follower) string {
	var n []string
	for _, u := range fl.Present() {
		n = append(n, u.DisplayName)
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

func expect(t *testing.T, fl *client.Follower, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := next(t, fl); got != w {
			t.Fatalf("event %q, want %q", got, w)
		}
	}
}

func TestFollowResumesAfterACut(t *testing.T) {
	f := &feed{rows: []string{row("a", "Ann")}, cursor: "1"}
	f.scripts = append(f.scripts,
		func(w http.ResponseWriter, r *http.Request) {
			events(w, ": heartbeat\n\n"+join("2", "b", "Bob")+leave("3", "a")+"id: 4\nevent: jo")
			cut(w) // part of an event, then the connection breaks
		},
		func(w http.ResponseWriter, r *http.Request) {
			events(w, "id: 4\r\nevent: join\r\ndata: "+row("c", "Cy")+"\r\n\r\nid: 5\nevent: future_kind\ndata: {}\n\n"+leave("6", "zz"))
		})
	fl, notices := follow(t, f)
	expect(t, fl, "list start 1 1")
	if got := names(fl); got != "Ann" {
		t.Fatalf("present after the list: %q", got)
	}
	expect(t, fl, "join Bob 2", "leave Ann 3", "join Cy 4", "leave ? 6")
	if got := names(fl); got != "Bob,Cy" || fl.Cursor() != "6" {
		t.Fatalf("present %q at %q, want Bob,Cy at 6", got, fl.Cursor())
	}
	if ids := f.streamIDs(); len(ids) < 2 || ids[0] != "1" || ids[1] != "3" {
		t.Fatalf("Last-Event-IDs %q, want 1 then 3", ids)
	}
	if fl.Streams() < 2 || len(notices()) == 0 || !strings.HasPrefix(strings.Join(notices(), "\n"), "Connection lost") {
		t.Errorf("streams %d, notices %q", fl.Streams(), notices())
	}
}

func TestFollowHeartbeatTimeout(t *testing.T) {
	f := &feed{cursor: "1"}
	f.scripts = append(f.scripts,
		func(w http.ResponseWriter, r *http.Request) {
			events(w, join("2", "b", "Bob"))
			<-r.Context().Done() // then silence, not even a heartbeat
		},
		func(w http.ResponseWriter, r *http.Request) { events(w, leave("3", "b")) })
	fl, notices := follow(t, f, client.WithHeartbeatTimeout(150*time.Millisecond))
	expect(t, fl, "list start 0 1", "join Bob 2", "leave Bob 3")
	if ids := f.streamIDs(); ids[1] != "2" {
		t.Fatalf("Last-Event-IDs %q, want 1 then 2", ids)
	}
	if !strings.Contains(strings.Join(notices(), "\n"), "within 150ms") {
		t.Errorf("notices %q, want the heartbeat timeout", notices())
	}
}

func TestFollowResetListsAgain(t *testing.T) {
	f := &feed{rows: []string{row("a", "Ann")}, cursor: "1"}
	f.scripts = append(f.scripts, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.rows, f.cursor = []string{row("b", "Bob"), row("c", "Cy")}, "90"
		f.mu.Unlock()
		events(w, "event: reset\ndata: {\"cursor\":\"90\",\"reason\":\"cursor is older than the history kept\"}\n\n")
	}, func(w http.ResponseWriter, r *http.Request) { events(w, leave("91", "b")) })
	fl, notices := follow(t, f)
	expect(t, fl, "list start 1 1", "list reset 2 90")
	if got := names(fl); got != "Bob,Cy" {
		t.Fatalf("present after the reset: %q", got)
	}
	expect(t, fl, "leave Bob 91")
	if ids := f.streamIDs(); ids[1] != "90" {
		t.Fatalf("Last-Event-IDs %q, want 1 then 90", ids)
	}
	if !strings.Contains(strings.Join(notices(), "\n"), "Reset: ") {
		t.Errorf("notices %q", notices())
	}
}

func TestFollowDroppedResumesAtOnce(t *testing.T) {
	f := &feed{cursor: "1"}
	f.scripts = append(f.scripts, func(w http.ResponseWriter, r *http.Request) {
		events(w, join("2", "b", "Bob")+"event: dropped\ndata: {\"cursor\":\"2\",\"reason\":\"client too slow\"}\n\n")
	}, func(w http.ResponseWriter, r *http.Request) { events(w, join("3", "c", "Cy")) })
	// A backoff of a minute: only a resume without waiting passes within next's 5 s.
	fl, _ := follow(t, f, client.WithBackoff(time.Minute, time.Minute))
	expect(t, fl, "list start 0 1", "join Bob 2", "join Cy 3")
	if ids := f.streamIDs(); ids[1] != "2" {
		t.Fatalf("Last-Event-IDs %q, want 1 then 2", ids)
	}
}

func TestFollowRetriesTransientAndStopsOnAuth(t *testing.T) {
	f := &feed{cursor: "1"}
	f.scripts = append(f.scripts,
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			reply(w, 503, `{"success":false,"error":"Too many event streams open, try again shortly","code":"feed_busy"}`)
		},
		func(w http.ResponseWriter, r *http.Request) { events(w, join("2", "b", "Bob")); cut(w) },
		func(w http.ResponseWriter, r *http.Request) {
			reply(w, 403, `{"success":false,"error":"Invalid API key","code":"invalid_api_key"}`)
		})
	fl, notices := follow(t, f)
	expect(t, fl, "list start 0 1", "join Bob 2")
	_, err := fl.Next(context.Background())
	var e *client.Error
	if !errors.Is(err, client.ErrAuth) || !errors.As(err, &e) || e.Status != 403 || e.Code != "invalid_api_key" {
		t.Fatalf("Next after a 403 = %v, want the 403", err)
	}
	if _, again := fl.Next(context.Background()); again != err {
		t.Errorf("Next again = %v, want the same error", again)
	}
	if !strings.HasPrefix(strings.Join(notices(), "\n"), "Refused (HTTP 503)") {
		t.Errorf("notices %q", notices())
	}
}

func TestFollowMaxRetries(t *testing.T) {
	c, _ := client.New("http://127.0.0.1:1") // nothing listens on port 1
	fl := c.Follow(context.Background(), client.WithBackoff(time.Millisecond, time.Millisecond), client.WithMaxRetries(2))
	defer fl.Close()
	if _, err := fl.Next(context.Background()); !errors.Is(err, client.ErrConnection) {
		t.Fatalf("Next = %v, want ErrConnection after 2 retries", err)
	}
}

func TestFollowStopsWithItsContext(t *testing.T) {
	f := &feed{cursor: "1"}
	c := newClient(t, f.handler(t))
	ctx, cancel := context.WithCancel(context.Background())
	fl := c.Follow(ctx)
	expect(t, fl, "list start 0 1")
	// Next's own context ends: the follower goes on.
	short, stop := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer stop()
	if _, err := fl.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with a short context = %v", err)
	}
	cancel()
	if _, err := fl.Next(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel = %v, want context.Canceled", err)
	}
	fl.Close() // safe after the end, and twice
	fl.Close()
}

func TestFollowBadEventData(t *testing.T) {
	f := &feed{cursor: "1"}
	f.scripts = append(f.scripts, func(w http.ResponseWriter, r *http.Request) {
		events(w, "id: 2\nevent: join\ndata: {\"user_id\":\"b\"}\n\n")
	})
	fl, _ := follow(t, f)
	expect(t, fl, "list start 0 1")
	if _, err := fl.Next(context.Background()); !errors.Is(err, client.ErrBadResponse) {
		t.Fatalf("Next = %v, want ErrBadResponse", err)
	}
}

func TestEventUserIsACopy(t *testing.T) {
	f := &feed{cursor: "1"}
	f.scripts = append(f.scripts, func(w http.ResponseWriter, r *http.Request) { events(w, join("2", "b", "Bob")) })
	fl, _ := follow(t, f)
	expect(t, fl, "list start 0 1")
	ev, err := fl.Next(context.Background())
	if err != nil || ev.Kind != vibepass.ChangeJoin {
		t.Fatal(ev, err)
	}
	ev.User.DisplayName = "changed"
	if got := names(fl); got != "Bob" {
		t.Fatalf("present %q after changing the event, want Bob", got)
	}
}

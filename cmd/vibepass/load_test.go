package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/openapitest"
	"github.com/vibepass/vibepass/proxy/storetest"
)

// userAnswer is one answer a userLoad got.
type userAnswer struct {
	user      string
	base      string // the proxy that answered (or failed to)
	path      string // /api/checkin or /api/checkout
	status    int    // 0 for a transport error
	body      string
	sessionID string        // of a check-in's 200
	took      time.Duration // from sending the request to reading the whole answer
	seq       int64         // order in which the answers arrived
	departs   error         // how the answer departs from the OpenAPI document, if it does
}

// unknown reports whether the answer leaves the call's outcome unknown: no answer, or
// 504 (the database did not answer in time, so it may have done the call). The API's
// user calls are idempotent, so a client asks again until it knows.
func (a userAnswer) unknown() bool {
	return a.status == 0 || a.status == http.StatusGatewayTimeout
}

// userLoad checks users in, or out, through running proxies, a few at a time, as
// apps behind a load balancer would: each user makes one call (a checkout for users in
// checkouts, who must hold a pass; a check-in for the others). User i goes to
// bases[i % len(bases)]. A first answer that is an error other than those of unknown
// outcome ends the user's turn: it says nothing was done. Otherwise the call is asked
// again on the next proxy (the same one when there is one), backing off, until it is
// answered 200: once the outcome is unknown, only a 200 settles it. Every answer is kept.
type userLoad struct {
	bases      []string
	secret     string
	users      []string
	checkouts  map[string]bool
	client     *http.Client  // nil: one that waits up to a minute for an answer
	pace       time.Duration // the least time each worker takes per user, so that users last
	next       atomic.Int64  // index of the next user to take
	seq        atomic.Int64
	ok, failed atomic.Int64 // 200s and other answers so far
	ranOut     atomic.Bool  // every user has been taken

	mu      sync.Mutex
	answers []userAnswer
}

// start runs workers until the users run out or the returned finish is called;
// finish waits for them and may be called again.
func (l *userLoad) start(t *testing.T, workers int) (finish func()) {
	if l.client == nil {
		l.client = &http.Client{Timeout: time.Minute}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() { defer wg.Done(); l.run(t, stop) }()
	}
	var once sync.Once
	return func() {
		once.Do(func() { close(stop); wg.Wait() })
	}
}

// run is one worker; it returns when stop is closed or the users run out.
func (l *userLoad) run(t *testing.T, stop <-chan struct{}) {
	for {
		began := time.Now()
		i := int(l.next.Add(1) - 1)
		if i >= len(l.users) {
			l.ranOut.Store(true)
			return
		}
		token, err := devtoken.Mint([]byte(l.secret), devtoken.Request{Sub: l.users[i]}, time.Now())
		if err != nil {
			t.Error(err)
			return
		}
		path := "/api/checkin"
		if l.checkouts[l.users[i]] {
			path = "/api/checkout"
		}
		// A client's exponential back-off (not a wait for a condition): it also keeps one
		// user's retries under user_per_minute however long an outage lasts.
		for try, backoff := i, 20*time.Millisecond; ; try, backoff = try+1, min(2*backoff, time.Second) {
			select {
			case <-stop:
				return
			default:
			}
			a := l.call(l.bases[try%len(l.bases)], path, l.users[i], token)
			if a.status == http.StatusOK || try == i && !a.unknown() {
				break
			}
			select {
			case <-stop:
				return
			case <-time.After(backoff):
			}
		}
		select {
		case <-stop:
			return
		case <-time.After(l.pace - time.Since(began)):
		}
	}
}

// call sends one call to base and records its answer.
func (l *userLoad) call(base, path, user, token string) userAnswer {
	a := userAnswer{user: user, base: base, path: path}
	req, _ := http.NewRequest("POST", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	sent := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		a.body = "transport error: " + err.Error()
	} else {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.body = resp.StatusCode, string(raw)
		a.departs = openapitest.Check(req, resp.StatusCode, resp.Header, raw)
		var ok struct {
			Data struct {
				SessionID string `json:"session_id"`
			} `json:"data"`
		}
		if a.status == http.StatusOK && json.Unmarshal(raw, &ok) == nil {
			a.sessionID = ok.Data.SessionID
		}
	}
	a.took = time.Since(sent)
	a.seq = l.seq.Add(1)
	if a.status == http.StatusOK {
		l.ok.Add(1)
	} else {
		l.failed.Add(1)
	}
	l.mu.Lock()
	l.answers = append(l.answers, a)
	l.mu.Unlock()
	return a
}

// waitOK waits for n more 200s than there are now, failing t when the users run out first.
func (l *userLoad) waitOK(t *testing.T, what string, n int64) {
	t.Helper()
	want := l.ok.Load() + n
	waitFor(t, what, func() bool {
		if l.ranOut.Load() && l.ok.Load() < want {
			t.Fatalf("the load ran out of its %d users waiting for %s: give it more", len(l.users), what)
		}
		return l.ok.Load() >= want
	})
}

// assertAnswers fails t for each answer that departs from the OpenAPI document, and
// each user whose row in the database at superuserURL disagrees with what the user
// was told: a check-in answered 200 has its session live, a checkout answered 200
// ended the pass, and a user refused at once (an error that says nothing was done,
// not asked again) changed nothing: no session for a check-in, the pass still live
// for a checkout. A user the load stopped while asking again is not checked. It
// returns how many answers had each status, and how many users were left unsettled.
func (l *userLoad) assertAnswers(t *testing.T, superuserURL string) (statuses map[int]int, unsettled int) {
	t.Helper()
	last := map[string]userAnswer{}
	asked := map[string]int{}
	statuses = map[int]int{}
	for _, a := range l.answers {
		if a.departs != nil {
			t.Error(a.departs)
		}
		last[a.user] = a
		asked[a.user]++
		statuses[a.status]++
	}
	users := make([]string, 0, len(last))
	for u := range last {
		users = append(users, u)
	}
	type row struct{ sessions, live, checkedOut int }
	rows := map[string]row{}
	live := map[string]string{} // user -> the id of the live session
	db := storetest.OpenPool(t, superuserURL)
	res, err := db.Query(context.Background(), `
		select user_id::text, count(*), count(*) filter (where status = 'active' and expires_at > now()),
		       count(*) filter (where end_reason = 'checkout'),
		       (array_agg(id::text) filter (where status = 'active' and expires_at > now()))[1]
		from public.sessions where user_id = any ($1) group by user_id`, users)
	if err != nil {
		t.Fatal(err)
	}
	for res.Next() {
		var user string
		var r row
		var id *string
		if err := res.Scan(&user, &r.sessions, &r.live, &r.checkedOut, &id); err != nil {
			t.Fatal(err)
		}
		rows[user] = r
		if id != nil {
			live[user] = *id
		}
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	for user, a := range last {
		r := rows[user]
		switch {
		case a.status != http.StatusOK && (asked[user] > 1 || a.unknown()):
			unsettled++
		case a.status == http.StatusOK && a.path == "/api/checkin" && live[user] != a.sessionID:
			t.Errorf("check-in of %s was answered 200 by %s (%s) but its session is not live in the database (live: %q)", user, a.base, a.body, live[user])
		case a.status == http.StatusOK && a.path == "/api/checkout" && (r.live != 0 || r.checkedOut != 1):
			t.Errorf("checkout of %s was answered 200 by %s (%s) but the database holds %d live passes and %d checked out", user, a.base, a.body, r.live, r.checkedOut)
		case a.status == http.StatusOK:
		case a.path == "/api/checkin" && r.sessions != 0:
			t.Errorf("check-in of %s was refused %d (%s) and not asked again, yet the database holds %d sessions of the user", user, a.status, a.body, r.sessions)
		case a.path == "/api/checkout" && (r.live != 1 || r.checkedOut != 0):
			t.Errorf("checkout of %s was refused %d (%s) and not asked again, yet the pass it held is not live (%d live, %d checked out)", user, a.status, a.body, r.live, r.checkedOut)
		}
	}
	return statuses, unsettled
}

// waitFor polls cond until it holds, failing t after a minute (a slow machine's margin).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

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

// checkinAnswer is one answer a checkinLoad got.
type checkinAnswer struct {
	user      string
	base      string // the proxy that answered (or failed to)
	status    int    // 0 for a transport error
	body      string
	sessionID string // of a 200
	seq       int64  // order in which the answers arrived
	departs   error  // how the answer departs from the OpenAPI document, if it does
}

// checkinLoad checks users in through running proxies, a few at a time, as apps
// behind a load balancer would: user i goes to bases[i % len(bases)], and a check-in
// not answered 200 is tried again on the next proxy (the same one when there is
// one), backing off, until one answers 200; then the next user is taken. Every
// answer is kept.
type checkinLoad struct {
	bases      []string
	secret     string
	users      []string
	next       atomic.Int64 // index of the next user to take
	seq        atomic.Int64
	ok, failed atomic.Int64 // 200s and other answers so far

	mu      sync.Mutex
	answers []checkinAnswer
}

// start runs workers until the users run out or the returned finish is called;
// finish waits for them and may be called again.
func (l *checkinLoad) start(t *testing.T, workers int) (finish func()) {
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
func (l *checkinLoad) run(t *testing.T, stop <-chan struct{}) {
	client := &http.Client{Timeout: time.Minute}
	for {
		i := int(l.next.Add(1) - 1)
		if i >= len(l.users) {
			return
		}
		token, err := devtoken.Mint([]byte(l.secret), devtoken.Request{Sub: l.users[i]}, time.Now())
		if err != nil {
			t.Error(err)
			return
		}
		// A client's exponential back-off (not a wait for a condition): it also keeps one
		// user's retries under user_per_minute however long an outage lasts.
		for try, backoff := i, 20*time.Millisecond; ; try, backoff = try+1, min(2*backoff, time.Second) {
			select {
			case <-stop:
				return
			default:
			}
			if l.checkin(client, l.bases[try%len(l.bases)], l.users[i], token).status == http.StatusOK {
				break
			}
			select {
			case <-stop:
				return
			case <-time.After(backoff):
			}
		}
	}
}

// checkin sends one check-in to base and records its answer.
func (l *checkinLoad) checkin(client *http.Client, base, user, token string) checkinAnswer {
	a := checkinAnswer{user: user, base: base}
	req, _ := http.NewRequest("POST", base+"/api/checkin", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
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

// assertAnswers fails t for each answer that departs from the OpenAPI document, and
// each check-in answered 200 whose session is not in the database at superuserURL:
// an answered check-in must never be lost.
func (l *checkinLoad) assertAnswers(t *testing.T, superuserURL string) {
	t.Helper()
	db := storetest.OpenPool(t, superuserURL)
	for _, a := range l.answers {
		if a.departs != nil {
			t.Error(a.departs)
		}
		if a.status != http.StatusOK {
			continue
		}
		var found bool
		if err := db.QueryRow(context.Background(), `select exists (select from public.sessions where id = $1 and user_id = $2)`,
			a.sessionID, a.user).Scan(&found); err != nil {
			t.Fatalf("looking up session %q of answer %s: %v", a.sessionID, a.body, err)
		}
		if !found {
			t.Errorf("check-in of %s was answered 200 by %s (%s) but its session is not in the database", a.user, a.base, a.body)
		}
	}
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

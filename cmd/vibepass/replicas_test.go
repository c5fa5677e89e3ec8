package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestTwoReplicasActAsOne runs two `serve` replicas (the image's build, configured by
// the environment alone) in front of one database, as a deployment with two pods
// does. A user checks in through one; the other reports the same pass and lists the
// user to the model. Then check-ins run through both, spread as a load balancer
// spreads them, and one replica is stopped with SIGTERM mid-load: the survivor
// answers every request 200; the stopped one answers 200 whatever it took in and
// fails none at the HTTP level (a connection it refuses once stopping is tried on the
// survivor, as a load balancer does); and no check-in answered 200 is lost. A model
// following the presence feed on each replica from one cursor gets the same sequence:
// the stopped replica's events are the start of the survivor's.
func TestTwoReplicasActAsOne(t *testing.T) {
	db := localdbtest.ForTest(t)
	bin := imageBuild(t, nil)
	secret, key := devtoken.NewSecret(), devtoken.NewSecret()
	env := map[string]string{
		"VIBEPASS_UPSTREAM_KIND":   "postgres",
		"VIBEPASS_UPSTREAM_DB_URL": db.AuthenticatorURL,
		"VIBEPASS_AUTH_JWT_SECRET": secret,
		"MODEL_API_KEY":            key,
	}
	stopped, survivor := startReplica(t, bin, env), startReplica(t, bin, env)

	const musicFan = "00000000-0000-4000-8000-000000000001"
	token, err := devtoken.Mint([]byte(secret), devtoken.Request{Sub: musicFan}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	code, in := call(t, "POST", stopped.base+"/api/checkin", "Authorization: Bearer "+token)
	session, _ := in["data"].(map[string]any)
	if code != 200 || session["session_id"] == nil {
		t.Fatalf("checkin through the first replica = %d %v", code, in)
	}
	code, status := call(t, "GET", survivor.base+"/api/session", "Authorization: Bearer "+token)
	if data, _ := status["data"].(map[string]any); code != 200 || status["active"] != true || data["session_id"] != session["session_id"] {
		t.Errorf("session through the second replica = %d %v; want the pass %v", code, status, session["session_id"])
	}
	code, list := call(t, "GET", survivor.base+"/api/model/active-users", "X-API-Key: "+key)
	if users, _ := list["data"].([]any); code != 200 || len(users) != 1 || users[0].(map[string]any)["user_id"] != musicFan {
		t.Errorf("model list through the second replica = %d %v; want MusicFan alone", code, list)
	}

	// A model follows the presence feed on each replica from the same cursor.
	cursor, _ := list["cursor"].(string)
	feeds := []*feedFollower{followFeed(t, stopped.base, key, cursor), followFeed(t, survivor.base, key, cursor)}

	load := &userLoad{bases: []string{stopped.base, survivor.base}, secret: secret, users: storetest.AddUsers(t, db.PostgresURL, 1000)}
	finish := load.start(t, 4)
	defer finish()
	waitFor(t, "check-ins through both replicas", func() bool { return load.ok.Load() >= 100 })
	waitFor(t, "the first replica's feed to show check-ins", func() bool { return len(feeds[0].seen()) > 0 })
	signalled := load.seq.Load() // answers after this may have met the stopping replica
	if code := stopped.stop(t); code != 0 {
		t.Errorf("the stopped replica exited %d after SIGTERM, want 0:\n%s", code, stopped.log.String())
	}
	okAtStop := load.ok.Load()
	waitFor(t, "check-ins on the survivor after the stop", func() bool { return load.ok.Load() >= okAtStop+100 })
	finish()

	checkedIn := map[string]bool{musicFan: true}
	var refused int
	for _, a := range load.answers {
		switch {
		case a.status == http.StatusOK:
			checkedIn[a.user] = true
		case a.base == survivor.base:
			t.Errorf("the survivor answered a check-in of %s with %d %s", a.user, a.status, a.body)
		case a.status != 0:
			t.Errorf("the stopping replica answered a check-in of %s with %d %s", a.user, a.status, a.body)
		case a.seq <= signalled:
			t.Errorf("a check-in of %s failed before the stop: %s", a.user, a.body)
		default:
			refused++
		}
	}
	t.Logf("%d check-ins answered 200 by %d users; %d refused at the connection by the stopped replica and retried",
		load.ok.Load(), len(checkedIn), refused)
	load.assertAnswers(t, db.PostgresURL)
	// The two agree with the database: every user answered 200 is live, and nobody else.
	code, list = call(t, "GET", survivor.base+"/api/model/active-users", "X-API-Key: "+key)
	if code != 200 || list["count"] != float64(len(checkedIn)) {
		t.Errorf("model list after the load: %d, count %v; want %d users (a check-in done but not answered would show here)",
			code, list["count"], len(checkedIn))
	}
	// The feed: the survivor's follower sees one join per user checked in during the
	// load, and the stopped replica's follower saw the same sequence up to its stop.
	waitFor(t, "the survivor's feed to show every check-in", func() bool { return len(feeds[1].seen()) >= len(checkedIn)-1 })
	want := map[string]bool{}
	for user := range checkedIn {
		want[user] = user != musicFan // checked in before the cursor
	}
	got := feeds[1].seen()
	for i, e := range got {
		var row struct {
			UserID string `json:"user_id"`
		}
		if err := json.Unmarshal([]byte(e.data), &row); err != nil || e.event != "join" || !want[row.UserID] {
			t.Errorf("survivor's feed event #%d %+v: want one join per user checked in", i, e)
		}
		want[row.UserID] = false
		if i > 0 && got[i-1].id >= e.id {
			t.Errorf("survivor's feed ids go %d then %d", got[i-1].id, e.id)
		}
	}
	before := feeds[0].seen()
	if len(before) == 0 || len(before) > len(got) || !slices.Equal(before, got[:len(before)]) {
		t.Errorf("the stopped replica's feed (%d events) is not a start of the survivor's (%d): the two disagree", len(before), len(got))
	}
	t.Logf("feed: %d events on the survivor, the first %d also on the stopped replica", len(got), len(before))
	if logs := survivor.log.String(); strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("the survivor logged errors:\n%s", logs)
	}
}

// feedEvent is one event of the presence feed.
type feedEvent struct {
	id          int64
	event, data string
}

// feedFollower reads a replica's presence feed (GET /api/model/events) until the
// stream ends or the test does.
type feedFollower struct {
	mu     sync.Mutex
	events []feedEvent
}

// followFeed starts following base's feed after cursor, once its stream has begun.
func followFeed(t *testing.T, base, key, cursor string) *feedFollower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/model/events?cursor="+cursor, nil)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		cancel()
		t.Fatalf("GET %s/api/model/events: %d", base, resp.StatusCode)
	}
	f := &feedFollower{}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer resp.Body.Close()
		lines := bufio.NewScanner(resp.Body)
		var e feedEvent
		for lines.Scan() {
			line := lines.Text()
			if strings.HasPrefix(line, ":") { // a comment: the heartbeat
				continue
			}
			name, value, _ := strings.Cut(line, ": ")
			switch name {
			case "id":
				e.id, _ = strconv.ParseInt(value, 10, 64)
			case "event":
				e.event = value
			case "data":
				e.data = value
			case "": // a blank line ends an event (or the retry: block, which has no name)
				if e.event != "" {
					f.mu.Lock()
					f.events = append(f.events, e)
					f.mu.Unlock()
				}
				e = feedEvent{}
			}
		}
	}()
	return f
}

// seen returns the events read so far.
func (f *feedFollower) seen() []feedEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

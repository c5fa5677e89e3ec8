package main

import (
	"net/http"
	"strings"
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
// survivor, as a load balancer does); and no check-in answered 200 is lost.
func TestTwoReplicasActAsOne(t *testing.T) {
	db := localdbtest.ForTest(t)
	bin := imageBuild(t, nil)
	secret, key := devtoken.NewSecret(), devtoken.NewSecret()
	env := map[string]string{
		"VIBEPASS_UPSTREAM_KIND":   "postgres",
		"VIBEPASS_UPSTREAM_DB_URL": db.AuthenticatorURL,
		"VIBEPASS_AUTH_JWT_SECRET": secret,
		"VIBEPASS_LOG_LEVEL":       "warn",
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

	load := &checkinLoad{bases: []string{stopped.base, survivor.base}, secret: secret, users: storetest.AddUsers(t, db.SuperuserURL, 1000)}
	finish := load.start(t, 4)
	defer finish()
	waitFor(t, "check-ins through both replicas", func() bool { return load.ok.Load() >= 100 })
	signalled := load.seq.Load() // answers after this may have met the stopping replica
	if code := stopped.stop(t); code != 0 {
		t.Errorf("the stopped replica exited %d after SIGTERM, want 0:\n%s", code, stopped.logs(t))
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
	load.assertAnswers(t, db.SuperuserURL)
	// The two agree with the database: every user answered 200 is live, and nobody else.
	code, list = call(t, "GET", survivor.base+"/api/model/active-users", "X-API-Key: "+key)
	if code != 200 || list["count"] != float64(len(checkedIn)) {
		t.Errorf("model list after the load: %d, count %v; want %d users (a check-in done but not answered would show here)",
			code, list["count"], len(checkedIn))
	}
	if logs := survivor.logs(t); strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("the survivor logged errors:\n%s", logs)
	}
}

package examples

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vibepass/vibepass/client"
)

// goClient is a client of url with the options.
func goClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoClient runs package client against `vibepass dev`, through a proxy that checks
// every exchange against openapi.json: a demo user's check-in,
// status and checkout; the model's list (and its 304), summary and history; typed
// errors for a wrong key and a bad token; and Follow through a proxy the test cuts,
// which must see a join and a leave and, after the cut, the check-in made while it
// was away, each event once and in order.
func TestGoClient(t *testing.T) {
	dev := startDev(t)
	resetPasses(t, dev.dbURL)
	checked := checkedServer(t, dev.url)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	user := func(name string) *client.Client {
		return goClient(t, checked.URL, client.WithTokenSource(client.StaticToken(dev.tokens[name])))
	}
	model := goClient(t, checked.URL, client.WithAPIKey(dev.modelKey))

	t.Run("user and model", func(t *testing.T) {
		defer resetPasses(t, dev.dbURL)
		fan := user("MusicFan")
		in, err := fan.Checkin(ctx)
		if err != nil || in.ExpiresInMinutes != 60 || in.SessionID == "" {
			t.Fatalf("Checkin = %+v, %v", in, err)
		}
		again, err := fan.Checkin(ctx)
		if err != nil || again.SessionID != in.SessionID {
			t.Fatalf("second Checkin = %+v, %v; want the same session %s", again, err, in.SessionID)
		}
		pass, err := fan.Session(ctx)
		if err != nil || pass == nil || pass.SessionID != in.SessionID || pass.MinutesRemaining != 60 {
			t.Fatalf("Session = %+v, %v", pass, err)
		}

		list, err := model.ActiveUsers(ctx, "")
		if err != nil || list.Count != 1 || list.Users[0].UserID != musicFanID || list.Users[0].DisplayName != "MusicFan" ||
			list.Users[0].IsAnonymous || len(list.Users[0].Preferences) != 5 || list.ETag == "" || list.Cursor == "" {
			t.Fatalf("ActiveUsers = %+v, %v", list, err)
		}
		same, err := model.ActiveUsers(ctx, list.ETag)
		if err != nil || !same.Unchanged || same.ETag != list.ETag {
			t.Fatalf("ActiveUsers with the ETag = %+v, %v; want Unchanged", same, err)
		}
		sum, err := model.Summary(ctx)
		if err != nil || sum.Count != 1 || len(sum.Mean) != 5 || sum.Mean[1] != list.Users[0].Preferences[1] || sum.Cursor == "" {
			t.Fatalf("Summary = %+v, %v", sum, err)
		}
		hist, err := model.History(ctx)
		if err != nil || len(hist.Minutes) != 60 || hist.Minutes[59].Count < 1 {
			t.Fatalf("History = %d points, %v", len(hist.Minutes), err)
		}

		out, err := fan.Checkout(ctx)
		if err != nil || !out.Ended {
			t.Fatalf("Checkout = %+v, %v", out, err)
		}
		if pass, err := fan.Session(ctx); err != nil || pass != nil {
			t.Fatalf("Session after checkout = %+v, %v; want nil", pass, err)
		}
		if out, err := fan.Checkout(ctx); err != nil || out.Ended {
			t.Fatalf("second Checkout = %+v, %v; want not Ended", out, err)
		}
		changed, err := model.ActiveUsers(ctx, list.ETag)
		if err != nil || changed.Unchanged || changed.Count != 0 || changed.Users == nil {
			t.Fatalf("ActiveUsers after the checkout = %+v, %v; want an empty list", changed, err)
		}
	})

	t.Run("typed errors", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			call   func() error
			status int
			code   string
		}{
			{"wrong key", func() error {
				_, err := goClient(t, checked.URL, client.WithAPIKey("wrong")).ActiveUsers(ctx, "")
				return err
			}, 403, "invalid_api_key"},
			{"no key", func() error { _, err := goClient(t, checked.URL).Summary(ctx); return err }, 401, "missing_api_key"},
			{"bad token", func() error {
				_, err := goClient(t, checked.URL, client.WithTokenSource(client.StaticToken("not.a.jwt"))).Checkin(ctx)
				return err
			}, 401, "invalid_token"},
			{"no token", func() error { _, err := goClient(t, checked.URL).Session(ctx); return err }, 401, "missing_token"},
		} {
			err := tc.call()
			var e *client.Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code || !errors.Is(err, client.ErrAuth) || e.Temporary() {
				t.Errorf("%s: %#v, want HTTP %d %s", tc.name, err, tc.status, tc.code)
			}
		}
		c, _ := client.New("http://" + refusedAddr(t))
		if _, err := c.Summary(ctx); !errors.Is(err, client.ErrConnection) {
			t.Errorf("no server: %v, want ErrConnection", err)
		}
	})

	t.Run("follow through a cut", func(t *testing.T) {
		defer resetPasses(t, dev.dbURL)
		proxy := startCutter(t, checked.Listener.Addr().String())
		watcher := goClient(t, "http://"+proxy.ln.Addr().String(), client.WithAPIKey(dev.modelKey))
		fl := watcher.Follow(ctx, client.WithBackoff(50*time.Millisecond, 200*time.Millisecond), client.WithLogf(t.Logf))
		defer fl.Close()
		last := int64(-1)
		next := func(want string) {
			t.Helper()
			ev, err := fl.Next(ctx)
			if err != nil {
				t.Fatalf("Next, waiting for %q: %v", want, err)
			}
			got := ev.Kind
			if ev.User != nil {
				got += " " + ev.User.DisplayName
			}
			if got != want {
				t.Fatalf("event %q (cursor %s), want %q", got, ev.Cursor, want)
			}
			cursor, err := strconv.ParseInt(ev.Cursor, 10, 64)
			if err != nil || cursor < last || (cursor == last && ev.Kind != client.EventList) {
				t.Fatalf("cursor %q after %d: not in order", ev.Cursor, last)
			}
			last = cursor
		}
		present := func(want string) {
			t.Helper()
			var names []string
			for _, u := range fl.Present() {
				names = append(names, u.DisplayName)
			}
			if got := strings.Join(names, ","); got != want {
				t.Fatalf("present %q, want %q", got, want)
			}
		}
		next(client.EventList)
		present("")
		if _, err := user("MusicFan").Checkin(ctx); err != nil {
			t.Fatal(err)
		}
		next("join MusicFan")
		present("MusicFan")
		if _, err := user("MusicFan").Checkout(ctx); err != nil {
			t.Fatal(err)
		}
		next("leave MusicFan")
		present("")

		// Cut the stream; BeatLover checks in while the follower cannot reconnect, so
		// only a resume from the last event seen can tell it.
		streams := fl.Streams()
		proxy.cut()
		if _, err := user("BeatLover").Checkin(ctx); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); fl.Streams() < streams+1; { // a reconnect, refused while cut (a loaded machine's margin)
			if time.Now().After(deadline) {
				t.Fatal("the follower did not try to reconnect within a minute")
			}
			time.Sleep(10 * time.Millisecond) // polling the follower
		}
		proxy.mend()
		next("join BeatLover")
		present("BeatLover")
		if _, err := user("BeatLover").Checkout(ctx); err != nil {
			t.Fatal(err)
		}
		next("leave BeatLover") // no repeat of the join came first
		present("")
	})

}

// runGoSample runs a go block (a main package) with `go run` from the repository root
// against dev, with VIBEPASS_URL, MODEL_API_KEY and ACCESS_TOKEN (MusicFan's) set, and
// returns what it printed; it must exit 0. TestDocs can run docs' go blocks with it.
func runGoSample(t *testing.T, b block, dev *devServer) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(file, []byte(b.body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", file)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "VIBEPASS_URL="+dev.url, "MODEL_API_KEY="+dev.modelKey, "ACCESS_TOKEN="+dev.tokens["MusicFan"])
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: go run: %v\n%s%s", b.name(), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

package examples

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vibepass/vibepass/client"
	"github.com/vibepass/vibepass/proxy/page/browsertest"
)

const (
	// browserStep only guards against a hang; no assertion depends on it.
	browserStep = 60 * time.Second
	// leaveWithin is how soon after the page goes away, or the person signs out, the pass must end.
	leaveWithin = 2 * time.Second
	// The controller's defaults, which the test page keeps.
	renewMargin     = 10 * time.Minute
	refreshInterval = 10 * time.Minute
)

// pageSent is what the test page's fetch noted of one request VibePass sent.
type pageSent struct {
	At          float64 `json:"at"` // the page's clock, ms
	Method      string  `json:"method"`
	Path        string  `json:"path"`
	Token       string  `json:"token"`
	Keepalive   bool    `json:"keepalive"`
	MinutesLeft *int    `json:"minutesLeft"`
}

// TestJSClientInChromium runs the package's VibePass with React in headless Chromium
// (clients/js/test/browser-page.jsx, bundled with esbuild from the installed tarball)
// against `vibepass dev`, with a clock the test moves and the database's passes moved
// back by the same amount, so both sides see the same time go by:
//   - the timer shows the minutes the database has left, to the minute, at every step of
//     80 minutes in use, across renewals;
//   - it asks at most once per 10 minutes (the page's clock) and renews at the last
//     contact before less than 10 minutes would remain, so the pass never runs below it;
//   - hidden, it sends nothing; shown or focused again it asks once; a pass that ran out
//     while hidden is made anew when the page is seen again; a refreshed token is used;
//   - closing the tab, navigating away and signing out each end the pass within 2 s
//     (the feed's leave), and closing one of two tabs does not.
func TestJSClientInChromium(t *testing.T) {
	app := jsApp(t)
	page, err := os.ReadFile(filepath.Join(jsClientDir, "test", "browser-page.jsx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "page.jsx"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	bundle(t, app, "page.jsx")
	dev := startDev(t)
	resetPasses(t, dev.dbURL)
	server := servePage(t, dev, app)
	browser := browsertest.Start(t)
	checked := checkedServer(t, dev.url)
	model := goClient(t, checked.URL, client.WithAPIKey(dev.modelKey))
	db := connect(t, dev.dbURL)
	ctx := context.Background()

	// open opens the page as the user in a new tab and waits for the timer's first minutes.
	open := func(t *testing.T, user string) context.Context {
		t.Helper()
		tab, cancel := chromedp.NewContext(browser)
		t.Cleanup(cancel)
		if err := chromedp.Do(tab); err != nil { // the tab lives as long as the context of its first action
			t.Fatalf("opening a tab: %v", err)
		}
		pageDo(t, tab, chromedp.Navigate(server.URL+"/?user="+user))
		waitTimer(t, tab, "🎫 Vibe Pass: 60 min remaining")
		return tab
	}
	// left returns the database's live pass of the user: the time it has left and its id.
	left := func(t *testing.T, user string) (time.Duration, string) {
		t.Helper()
		var seconds float64
		var id string
		err := db.QueryRow(ctx, `select extract(epoch from s.expires_at - now()), s.id::text
			from public.sessions s join public.profiles p on p.id = s.user_id
			where p.display_name = $1 and s.status = 'active' and s.expires_at > now()`, user).Scan(&seconds, &id)
		if err != nil {
			return 0, "" // no live pass
		}
		return time.Duration(seconds * float64(time.Second)), id
	}
	// step moves the page's clock by d (and the user's pass back by as much, so that the
	// server sees d go by too), waits for what the page does then, and returns its timer.
	step := func(t *testing.T, tab context.Context, d time.Duration) string {
		t.Helper()
		return pageEval[string](t, tab, fmt.Sprintf(`vibepassTest.clock.advance(%d).then(() => vibepassTest.vibepass.whenIdle()).then(vibepassTest.timer)`, d.Milliseconds()))
	}
	minutes := func(d time.Duration) string {
		return fmt.Sprintf("🎫 Vibe Pass: %d min remaining", int(math.Ceil(d.Minutes())))
	}
	sent := func(t *testing.T, tab context.Context) []pageSent {
		t.Helper()
		return pageEval[[]pageSent](t, tab, `vibepassTest.requests`)
	}

	t.Run("countdown, requests and renewal", func(t *testing.T) {
		const user = "JazzCat"
		tab := open(t, user)
		defer closeTab(tab)
		_, first := left(t, user)
		var elapsed time.Duration
		for elapsed < 80*time.Minute {
			// To the middle of the next minute the database counts, so that the few seconds
			// the step takes cannot cross a minute.
			remaining, _ := left(t, user)
			d := remaining - (time.Duration(math.Ceil(remaining.Minutes())-1)*time.Minute - 30*time.Second)
			shown := step(t, tab, d)
			elapsed += d
			remaining, id := left(t, user)
			if shown != minutes(remaining) {
				t.Errorf("after %s: the timer shows %q; the database has %s left: %q", elapsed.Round(time.Second), shown, remaining.Round(time.Second), minutes(remaining))
			}
			if id != first {
				t.Fatalf("after %s: the live pass is %q, not %s renewed", elapsed.Round(time.Second), id, first)
			}
			if remaining < renewMargin {
				t.Errorf("after %s: the pass has %s left, below the %s margin, in use", elapsed.Round(time.Second), remaining.Round(time.Second), renewMargin)
			}
		}
		requests := sent(t, tab)
		renewals := 0
		for i, r := range requests {
			if i == 0 {
				if r.Method != "POST" || r.Path != "/api/checkin" {
					t.Errorf("the first request is %s %s, want the check-in", r.Method, r.Path)
				}
				continue
			}
			if gap := time.Duration(r.At-requests[i-1].At) * time.Millisecond; gap < refreshInterval {
				t.Errorf("request %d (%s %s) came %s after the one before, less than %s", i, r.Method, r.Path, gap, refreshInterval)
			}
			if r.Method == "POST" && r.Path == "/api/checkin" {
				renewals++
				if r.MinutesLeft == nil || *r.MinutesLeft > int((renewMargin+refreshInterval).Minutes()) {
					t.Errorf("a renewal with %v minutes left: renew only at the last contact before the margin", r.MinutesLeft)
				}
			}
		}
		if most := 1 + int(elapsed/refreshInterval); len(requests) > most || renewals == 0 {
			t.Errorf("%d requests (%d renewals) in %s: want at most %d, one a renewal", len(requests), renewals, elapsed.Round(time.Second), most)
		}
		if got := len(server.sent(user)); got != len(requests) {
			t.Errorf("the proxy saw %d requests, the page sent %d", got, len(requests))
		}
		t.Logf("%d requests in %s of use, %d of them renewals", len(requests), elapsed.Round(time.Second), renewals)

		// Hidden, it sends nothing and renews nothing; seen again, it asks once.
		pageEval[any](t, tab, `vibepassTest.setVisible(false)`)
		before := len(sent(t, tab))
		if shown := step(t, tab, 25*time.Minute); len(sent(t, tab)) != before {
			t.Errorf("hidden for 25 minutes, the page sent %v", sent(t, tab)[before:])
		} else if remaining, _ := left(t, user); shown != minutes(remaining) {
			t.Errorf("hidden, the timer shows %q; the database has %s left", shown, remaining.Round(time.Second))
		}
		pageEval[any](t, tab, `vibepassTest.setVisible(true); vibepassTest.vibepass.whenIdle()`)
		if got := len(sent(t, tab)) - before; got != 1 {
			t.Errorf("shown again, the page sent %d requests, want 1", got)
		}
		focus := `dispatchEvent(new Event('focus')); vibepassTest.vibepass.whenIdle()`
		pageEval[any](t, tab, focus)
		if got := len(sent(t, tab)) - before; got != 1 {
			t.Errorf("focused right after, the page sent %d requests, want none more", got-1)
		}

		// A refreshed token is the one sent from then on.
		fresh := mintToken(t, jazzCatID)
		pageEval[any](t, tab, fmt.Sprintf(`vibepassTest.emit('TOKEN_REFRESHED', { access_token: %q, expires_at: %d })`, fresh, time.Now().Add(24*time.Hour).Unix()))
		step(t, tab, 61*time.Second)
		pageEval[any](t, tab, focus)
		if all := sent(t, tab); len(all)-before != 2 || all[len(all)-1].Token != fresh {
			t.Errorf("focused a minute later, after a token refresh, the page sent %v, want one request with the new token", all[before+1:])
		}

		// A pass that ran out while hidden is made anew when the page is seen again.
		pageEval[any](t, tab, `vibepassTest.setVisible(false)`)
		if shown := step(t, tab, 61*time.Minute); shown != "Your vibe pass has ended." {
			t.Errorf("hidden past the pass's end, the timer shows %q", shown)
		}
		if remaining, id := left(t, user); id != "" {
			t.Fatalf("the pass has %s left after it should have run out", remaining)
		}
		pageEval[any](t, tab, `vibepassTest.setVisible(true); vibepassTest.vibepass.whenIdle()`)
		waitTimer(t, tab, "🎫 Vibe Pass: 60 min remaining")
		if _, id := left(t, user); id == "" || id == first {
			t.Errorf("seen again after the pass ran out: live pass %q, want a new one", id)
		}
	})

	// Each of these ends the pass of a user whose page is open; the feed must say leave,
	// with the pass ended within leaveWithin of the action.
	for _, tc := range []struct {
		name, user string
		act        func(t *testing.T, tab context.Context)
		timer      string // what the page shows after, if it is still there
	}{
		{"closing the tab", "MusicFan", func(_ *testing.T, tab context.Context) { closeTab(tab) }, ""},
		{"navigating away", "BassDrop", func(t *testing.T, tab context.Context) { pageDo(t, tab, chromedp.Navigate("about:blank")) }, ""},
		{"signing out", "BeatLover", func(t *testing.T, tab context.Context) {
			pageEval[any](t, tab, `vibepassTest.emit('SIGNED_OUT', null)`)
		}, "Sign in to get your vibe pass."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			feed := model.Follow(ctx, client.WithLogf(t.Logf))
			defer feed.Close()
			nextFeedEvent(t, feed, "list", "")
			tab := open(t, tc.user)
			defer closeTab(tab)
			nextFeedEvent(t, feed, "join", tc.user)
			start := time.Now()
			tc.act(t, tab)
			ev := nextFeedEvent(t, feed, "leave", tc.user)
			if took := ev.At.Sub(start); ev.At.Before(start.Truncate(time.Second)) || took > leaveWithin {
				t.Errorf("the pass ended at %s, %s after the action; want within %s", ev.At.Format(time.RFC3339), took, leaveWithin)
			}
			if out := server.sent(tc.user); len(out) == 0 || out[len(out)-1].path != "/api/checkout" {
				t.Errorf("the page's last request was not a checkout: %v", out)
			}
			if tc.timer != "" {
				waitTimer(t, tab, tc.timer)
				if all := sent(t, tab); !all[len(all)-1].Keepalive {
					t.Errorf("the checkout on sign-out was not a keepalive request: %+v", all[len(all)-1])
				}
			}
		})
	}

	t.Run("two tabs, one closed", func(t *testing.T) {
		const user = "ChillWave"
		feed := model.Follow(ctx, client.WithLogf(t.Logf))
		defer feed.Close()
		nextFeedEvent(t, feed, "list", "")
		one := open(t, user)
		nextFeedEvent(t, feed, "join", user)
		two := open(t, user)
		closeTab(one)
		// A check-in after the close: the feed must show it before any leave of ChillWave.
		if _, err := goClient(t, checked.URL, client.WithTokenSource(client.StaticToken(dev.tokens["IndieKid"]))).Checkin(ctx); err != nil {
			t.Fatal(err)
		}
		nextFeedEvent(t, feed, "join", "IndieKid", user)
		start := time.Now()
		closeTab(two)
		if ev := nextFeedEvent(t, feed, "leave", user); ev.At.Sub(start) > leaveWithin {
			t.Errorf("the last tab closed, the pass ended %s later; want within %s", ev.At.Sub(start), leaveWithin)
		}
		checkouts := 0
		for _, r := range server.sent(user) {
			if r.path == "/api/checkout" {
				checkouts++
			}
		}
		if checkouts != 1 {
			t.Errorf("%d checkouts for two tabs, want one: from the last tab", checkouts)
		}
	})
}

// jazzCatID is the demo user JazzCat (supabase/seed.sql).
const jazzCatID = "00000000-0000-4000-8000-000000000005"

// nextFeedEvent returns the feed's next event about the user (or about any of also):
// it must be of the kind wanted and about the user; renewals and other users' events are
// passed over. For "list", user is "".
func nextFeedEvent(t *testing.T, feed *client.Follower, kind, user string, also ...string) client.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserStep)
	defer cancel()
	for {
		ev, err := feed.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s %s in the feed: %v", kind, user, err)
		}
		if kind == client.EventList || ev.Kind == client.EventList {
			if ev.Kind != kind {
				t.Fatalf("the feed sent %s, want %s", ev.Kind, kind)
			}
			return ev
		}
		name := ""
		if ev.User != nil {
			name = ev.User.DisplayName
		}
		if ev.Kind == "renew" || (name != user && !slices.Contains(also, name)) {
			continue
		}
		if ev.Kind != kind || name != user {
			t.Fatalf("the feed sent %s %s, want %s %s", ev.Kind, name, kind, user)
		}
		return ev
	}
}

// waitTimer waits until the page's timer shows want, and fails with what it shows otherwise.
func waitTimer(t *testing.T, tab context.Context, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	// Polled on an interval: a tab in the background gets no animation frames.
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`window.vibepassTest?.timer() === %q`, want), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		last, stop := context.WithTimeout(tab, browserStep)
		defer stop()
		shown, _ := chromedp.Run(last, chromedp.Evaluate[any](`window.vibepassTest ? vibepassTest.timer() : document.body.innerText`))
		t.Fatalf("the timer shows %v, want %q (%v)", shown, want, err)
	}
}

// pageEval evaluates expression in the tab (awaiting it if it is a promise) and returns its value.
func pageEval[T any](t *testing.T, tab context.Context, expression string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("in the page, %s: %v", strings.TrimSpace(expression), err)
	}
	return v
}

// pageDo runs the browser steps in the tab.
func pageDo(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// closeTab closes the tab (its page gets pagehide, as when a person closes it).
func closeTab(tab context.Context) { _ = chromedp.Cancel(tab) }

package page_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/page/browsertest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// liveTimeout bounds how long a change may take to reach the dashboard once the
// check-in page shows it done: the feed polls every second, so a few seconds is the
// claim, with room for a loaded machine.
const liveTimeout = 15 * time.Second

// TestDashboardInBrowser signs MusicFan in on the check-in page in one tab and
// watches the dashboard in another count them, log the join and show their
// preferences as the means, then log the leave and count zero after they check out.
// The model key is typed into the form and kept in sessionStorage, out of the URL.
func TestDashboardInBrowser(t *testing.T) {
	db := localdbtest.ForTest(t)
	server := startServer(t, db)
	browser := browsertest.Start(t)

	dash := openTab(t, browser)
	do(t, dash,
		chromedp.Navigate(server.URL+"/dashboard"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), modelKey),
		chromedp.Click(chromedp.CSS(`#signin button[type="submit"]`)),
	)
	waitFor(t, dash, `body[data-state="live"] #count[data-count="0"]`, stepTimeout)
	if loc := run(t, dash, chromedp.Location()); loc != server.URL+"/dashboard" {
		t.Errorf("address after entering the key = %q, want %q", loc, server.URL+"/dashboard")
	}
	if kept := run(t, dash, chromedp.Evaluate[string](`sessionStorage.getItem('vibepass.model_key')`)); kept != modelKey {
		t.Errorf("sessionStorage holds %q, want the model key", kept)
	}
	waitFor(t, dash, "#chart polyline", stepTimeout)
	if n := run(t, dash, chromedp.Evaluate[int](`document.querySelector('#chart polyline').getAttribute('points').split(' ').length`)); n != 60 {
		t.Errorf("the chart has %d points, want 60 (one a minute for the last hour)", n)
	}

	user := openTab(t, browser)
	do(t, user, chromedp.Navigate(server.URL+"/#access_token="+mint(t, devtoken.Secret, time.Now())))
	waitState(t, user, "active")
	join := `#log li[data-kind="join"][data-user="` + musicFan + `"]`
	waitFor(t, dash, join, liveTimeout)
	waitFor(t, dash, `#count[data-count="1"]`, liveTimeout)
	if got := text(t, dash, join); !strings.HasSuffix(got, "MusicFan joined") {
		t.Errorf("join in the log = %q, want it to say MusicFan joined", got)
	}
	waitFor(t, dash, "#means meter", liveTimeout)
	if got := run(t, dash, chromedp.Evaluate[string](`[...document.querySelectorAll('#means li')].map((li) => li.textContent).join(' ')`)); got != "0.50 0.80 0.20 1.00 0.00" {
		t.Errorf("means = %q, want MusicFan's preferences 0.50 0.80 0.20 1.00 0.00", got)
	}
	if got := run(t, dash, chromedp.Evaluate[string](`document.querySelector('#chart polyline').getAttribute('points').split(' ').pop()`)); !strings.HasSuffix(got, ",10") {
		t.Errorf("the chart's last point is %q, want it at the top (1, the most present in the hour)", got)
	}

	do(t, user, chromedp.Click(chromedp.ID("checkout")))
	waitState(t, user, "ended")
	waitFor(t, dash, `#log li[data-kind="leave"][data-user="`+musicFan+`"]`, liveTimeout)
	waitFor(t, dash, `#count[data-count="0"]`, liveTimeout)
	if got := text(t, dash, "#means"); got != "Nobody is present." {
		t.Errorf("means with nobody present = %q, want %q", got, "Nobody is present.")
	}

	t.Run("refused key", func(t *testing.T) {
		tab := openTab(t, browser)
		do(t, tab,
			chromedp.Navigate(server.URL+"/dashboard"),
			chromedp.SendKeys(chromedp.ID("key"), "not-the-model-key"),
			chromedp.Click(chromedp.CSS(`#signin button[type="submit"]`)),
		)
		waitFor(t, tab, `body[data-state="refused"]`, stepTimeout)
		if got := text(t, tab, "#status"); !strings.Contains(got, "not accepted") {
			t.Errorf("status with a wrong key = %q, want it to say the key was not accepted", got)
		}
		if kept := run(t, tab, chromedp.Evaluate[any](`sessionStorage.getItem('vibepass.model_key')`)); kept != nil {
			t.Errorf("sessionStorage kept the refused key: %v", kept)
		}
	})
}

// waitFor waits up to timeout for selector to match in tab, and fails with what the
// dashboard says when it does not.
func waitFor(t *testing.T, tab context.Context, selector string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitReady(chromedp.CSS(selector))); err != nil {
		t.Fatalf("waiting %v for %s: %v; the page says %q", timeout, selector, err, text(t, tab, "body"))
	}
}

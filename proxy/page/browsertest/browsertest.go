// Package browsertest starts Debian's headless Chromium for the tests that look at a
// page as a person would (the demo page, the React sample in the docs).
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's chromium package's browser.
const ChromiumPath = "/usr/bin/chromium"

// Start starts Chromium, headless and quiet on a closed network (without the
// background-networking flags it floods refused connections), with a fresh profile.
// It returns the browser's context, to open tabs from; the browser closes when t ends.
func Start(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Fatalf("no browser at %s: apt-get install chromium", ChromiumPath)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(ChromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	browser, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close the browser gracefully: killed (what cancel does), chromium leaves its
		// singleton socket directory (/tmp/org.chromium.Chromium.*) behind on every run.
		ctx, stop := context.WithTimeout(browser, 30*time.Second)
		defer stop()
		if err := chromedp.Cancel(ctx); err != nil {
			t.Logf("closing %s: %v", ChromiumPath, err)
		}
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", ChromiumPath, err)
	}
	return browser
}

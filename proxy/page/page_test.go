package page_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/page"
)

// TestServesOnlyItsOwnFiles checks that every file index.html loads is served by
// the page itself (nothing from a CDN) with its type and the locked-down headers.
func TestServesOnlyItsOwnFiles(t *testing.T) {
	app := fiber.New()
	page.Register(app)

	html := get(t, app, "/", "text/html; charset=utf-8")
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(refs) != 2 {
		t.Fatalf("index.html loads %d files, want app.js and style.css: %q", len(refs), refs)
	}
	wantTypes := map[string]string{"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
	for _, ref := range refs {
		want, ok := wantTypes[ref[1]]
		if !ok {
			t.Fatalf("index.html loads %q, which the page does not serve", ref[1])
		}
		get(t, app, "/"+ref[1], want)
	}
}

// get fetches path from app, checks status, type and security headers, and returns the body.
func get(t *testing.T, app *fiber.App, path, wantType string) string {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest("GET", path, nil))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", path, err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantType {
		t.Fatalf("GET %s = %d %q, want 200 %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), wantType)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("GET %s: Content-Security-Policy %q does not keep requests on the page's origin", path, csp)
	}
	if len(body) == 0 {
		t.Errorf("GET %s: empty body", path)
	}
	return string(body)
}

// TestProxyServesPageOnlyWhenEnabled checks the [page] enabled switch: serve keeps
// the page off unless the config turns it on.
func TestProxyServesPageOnlyWhenEnabled(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		cfg := proxy.DefaultConfig()
		cfg.Page.Enabled = enabled
		app := proxy.New(cfg, proxy.Deps{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}).App()
		resp, err := app.Test(httptest.NewRequest("GET", "/", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: 404, true: 200}[enabled]; resp.StatusCode != want {
			t.Errorf("page enabled = %v: GET / = %d, want %d", enabled, resp.StatusCode, want)
		}
	}
}

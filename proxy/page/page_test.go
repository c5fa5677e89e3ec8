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

// TestServesOnlyItsOwnFiles checks that every file the check-in page and the
// dashboard load is served by the page itself (nothing from a CDN) with its type
// and the locked-down headers.
func TestServesOnlyItsOwnFiles(t *testing.T) {
	app := fiber.New()
	page.Register(app)

	wantTypes := map[string]string{
		"app.js":       "text/javascript; charset=utf-8",
		"dashboard.js": "text/javascript; charset=utf-8",
		"style.css":    "text/css; charset=utf-8",
	}
	for path, script := range map[string]string{"/": "app.js", "/dashboard": "dashboard.js"} {
		html := get(t, app, path, "text/html; charset=utf-8")
		refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
		if len(refs) != 2 {
			t.Fatalf("%s loads %d files, want %s and style.css: %q", path, len(refs), script, refs)
		}
		for _, ref := range refs {
			want, ok := wantTypes[ref[1]]
			if !ok || (strings.HasSuffix(ref[1], ".js") && ref[1] != script) {
				t.Fatalf("%s loads %q, want %s and style.css", path, ref[1], script)
			}
			get(t, app, "/"+ref[1], want)
		}
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
// the check-in page and the dashboard off unless the config turns them on.
func TestProxyServesPageOnlyWhenEnabled(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		cfg := proxy.DefaultConfig()
		cfg.Page.Enabled = enabled
		app := proxy.New(cfg, proxy.Deps{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}).App()
		for _, path := range []string{"/", "/dashboard"} {
			resp, err := app.Test(httptest.NewRequest("GET", path, nil))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := map[bool]int{false: 404, true: 200}[enabled]; resp.StatusCode != want {
				t.Errorf("page enabled = %v: GET %s = %d, want %d", enabled, path, resp.StatusCode, want)
			}
		}
	}
}

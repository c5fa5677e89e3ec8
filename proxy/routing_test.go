package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vibepass/vibepass/proxy"
)

// TestStrictRouting checks that a route matches only as written: other case or a
// trailing slash is 404, so a path rule in front of the proxy cannot be stepped round.
func TestStrictRouting(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) { c.Page.Enabled = true })
	tok := mint(t, musicFan)
	for _, tc := range []struct{ path, header string }{
		{"/api/model/active-users", apiKey(modelKey)},
		{"/api/session", bearer(tok)},
		{"/healthz", ""},
	} {
		if r := do(t, "GET", ts.URL+tc.path, nil, tc.header); r.Status != 200 {
			t.Errorf("GET %s = %d %s", tc.path, r.Status, r.Raw)
		}
		for _, path := range []string{strings.ToUpper(tc.path), tc.path + "/"} {
			wantError(t, do(t, "GET", ts.URL+path, nil, tc.header), http.StatusNotFound, "Not found")
		}
	}
	wantError(t, do(t, "GET", ts.URL+"/API/MODEL/ACTIVE-USERS/", nil, apiKey(modelKey)), http.StatusNotFound, "Not found")
	wantError(t, do(t, "GET", ts.URL+"/API/session", nil, bearer(tok)), http.StatusNotFound, "Not found")

	// The demo page's routes are exact too.
	for path, want := range map[string]int{"/": 200, "/app.js": 200, "/style.css": 200, "/APP.JS": 404, "/app.js/": 404, "//": 404} {
		resp, err := client.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

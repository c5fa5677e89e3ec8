package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// microCache starts nginx, from Debian's package, in front of upstream as a micro-cache
// that keeps every 200 for 30 s (proxy_cache_valid 200 30s), a common setup in front of an
// API. It listens on a Unix socket (no port to race for) and returns a client for it.
func microCache(t *testing.T, upstream string) *http.Client {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Fatal("nginx is not installed: apt-get install nginx (or run .ci/run, which installs every tool the tests need)")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "nginx.sock")
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  proxy_cache_path %[1]s/cache keys_zone=micro:1m;
  server {
    listen unix:%[2]s;
    location / {
      proxy_pass %[3]s;
      proxy_http_version 1.1;
      proxy_cache micro;
      proxy_cache_valid 200 30s;
    }
  }
}
`, dir, sock, upstream)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get("http://cache/healthz")
		if err == nil {
			resp.Body.Close()
			return c
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not answer on %s: %v\n%s", sock, err, log)
		}
		time.Sleep(20 * time.Millisecond) // polling the condition: nginx listening
	}
}

// TestSharedCacheHandsNoAnswerToAnotherCaller puts a micro-cache in front of the proxy. After
// a signed-in user and the model have each read their answers through it, the same paths
// without a credential get 401, not the cached answers: every /api answer says no-store
// (the list: private, no-cache) and varies with both credentials.
func TestSharedCacheHandsNoAnswerToAnotherCaller(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, nil)
	cache := microCache(t, ts.URL)
	send := func(method, path string, headers ...string) (int, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, "http://cache"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range headers {
			name, value, _ := strings.Cut(h, ": ")
			req.Header.Set(name, value)
		}
		resp, err := cache.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	token := bearer(mint(t, musicFan))
	if status, _ := send("POST", "/api/checkin", token); status != http.StatusOK {
		t.Fatalf("checkin through the cache = %d", status)
	}
	for _, c := range []struct{ path, credential, cacheControl string }{
		{"/api/session", token, "no-store"},
		{"/api/model/summary", apiKey(modelKey), "no-store"},
		{"/api/model/history", apiKey(modelKey), "no-store"},
		{"/api/model/active-users", apiKey(modelKey), "private, no-cache"},
	} {
		status, header := send("GET", c.path, c.credential)
		if status != http.StatusOK || header.Get("Cache-Control") != c.cacheControl ||
			!strings.Contains(header.Get("Vary"), "Authorization") || !strings.Contains(header.Get("Vary"), "X-API-Key") {
			t.Errorf("GET %s = %d, Cache-Control %q, Vary %q; want 200, %q, varying with Authorization and X-API-Key",
				c.path, status, header.Get("Cache-Control"), header.Get("Vary"), c.cacheControl)
		}
		if status, header := send("GET", c.path); status != http.StatusUnauthorized || header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s without a credential after one with = %d (Cache-Control %q); want 401, not the cached answer",
				c.path, status, header.Get("Cache-Control"))
		}
	}
}

package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// signHS256 signs claims with secret, for tokens Mint would never make.
func signHS256(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAuthFailures checks every way a bearer token fails: 401 in the spec's shape,
// a message and a code naming the cause, the RFC 6750 challenge, and nothing sent
// upstream (the PostgREST stand-in records every request).
func TestAuthFailures(t *testing.T) {
	ts := startServer(t, upstreamPostgREST, nil, nil)
	now := time.Now()
	expired, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: musicFan, TTL: time.Hour}, now.Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, err := devtoken.Mint([]byte("another-secret-of-at-least-32-characters!!"), devtoken.Request{Sub: musicFan}, now)
	if err != nil {
		t.Fatal(err)
	}
	wrongAudience := signHS256(t, devtoken.Secret, jwt.MapClaims{
		"sub": musicFan, "role": "authenticated", "aud": "someone-else", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
	})
	const invalid = `Bearer error="invalid_token"`
	cases := []struct {
		name, header, want, code, challenge string
	}{
		{"missing", "", "Missing bearer token", "missing_token", "Bearer"},
		{"other scheme", "Authorization: Basic dXNlcjpwYXNz", "Missing bearer token", "missing_token", "Bearer"},
		{"malformed", "Authorization: Bearer not.a.jwt", "Malformed token", "invalid_token", invalid},
		{"expired", bearer(expired), "Token expired", "token_expired", invalid},
		{"bad signature", bearer(otherSecret), "Invalid token signature", "invalid_token", invalid},
		{"wrong audience", bearer(wrongAudience), "Invalid token audience", "invalid_token", invalid},
	}
	for _, tc := range cases {
		for _, route := range []struct{ method, path string }{{"POST", "/api/checkin"}, {"GET", "/api/session"}, {"POST", "/api/checkout"}} {
			r := do(t, route.method, ts.URL+route.path, nil, tc.header)
			wantError(t, r, http.StatusUnauthorized, tc.want)
			if r.Body["code"] != tc.code || r.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Errorf("%s %s: code %v, WWW-Authenticate %q; want %s, %q", tc.name, route.path, r.Body["code"], r.Header.Get("WWW-Authenticate"), tc.code, tc.challenge)
			}
			if strings.Contains(string(r.Raw), strings.TrimPrefix(tc.header, "Authorization: Bearer ")) && tc.header != "" {
				t.Errorf("%s %s: the error echoes the token", tc.name, route.path)
			}
		}
	}
	if reqs := ts.Rest.Requests(); len(reqs) != 0 {
		t.Errorf("%d requests reached PostgREST with bad tokens, want none", len(reqs))
	}
}

// TestLargeToken checks that a token carrying 8 KB of user metadata gets through
// (Fiber's default 4 KB read buffer would refuse it).
func TestLargeToken(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, nil)
	tok, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{
		Sub: musicFan, UserMetadata: map[string]any{"bio": strings.Repeat("x", 8<<10)},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) < 8<<10 {
		t.Fatalf("token is %d bytes, want over 8 KB", len(tok))
	}
	if r := do(t, "POST", ts.URL+"/api/checkin", nil, bearer(tok)); r.Status != 200 || r.Body["success"] != true {
		t.Errorf("checkin with an 8 KB token = %d %s", r.Status, r.Raw)
	}
}

// TestModelKey checks the X-API-Key answers: missing 401 with a challenge naming the
// header, wrong 403, each with its code, and both keys of a rotation accepted.
func TestModelKey(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, nil)
	url := ts.URL + "/api/model/active-users"
	r := do(t, "GET", url, nil)
	wantError(t, r, http.StatusUnauthorized, "Missing X-API-Key")
	if r.Body["code"] != "missing_api_key" || r.Header.Get("WWW-Authenticate") != `ApiKey header="X-API-Key"` {
		t.Errorf("missing key: code %v, WWW-Authenticate %q", r.Body["code"], r.Header.Get("WWW-Authenticate"))
	}
	r = do(t, "GET", url, nil, apiKey("not-the-key-0123456789abcdef"))
	wantError(t, r, http.StatusForbidden, "Invalid API key")
	if r.Body["code"] != "invalid_api_key" || r.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("wrong key: code %v, WWW-Authenticate %q", r.Body["code"], r.Header.Get("WWW-Authenticate"))
	}
	wantError(t, do(t, "GET", url, nil, bearer(mint(t, musicFan))), http.StatusUnauthorized, "Missing X-API-Key")
	for _, key := range []string{modelKey, oldModelKey} {
		if r := do(t, "GET", url, nil, apiKey(key)); r.Status != 200 || r.Body["success"] != true {
			t.Errorf("key %s...: %d %s", key[:12], r.Status, r.Raw)
		}
	}
	headThenGet(t, url)
}

// headThenGet sends HEAD and then GET on one connection: HEAD must answer headers
// only, leaving nothing on the connection that would spoil the next answer.
func headThenGet(t *testing.T, url string) {
	t.Helper()
	req, err := http.NewRequest("HEAD", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, method := range []string{"HEAD", "GET"} {
		req, _ := http.NewRequest(method, url, nil)
		req.Header.Set("X-API-Key", modelKey)
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || (method == "GET") != bytes.HasPrefix(body, []byte(`{"success":true`)) {
			t.Errorf("%s: %d %q %v", method, resp.StatusCode, body, err)
		}
	}
}

// TestRateLimits checks 429 in the spec's shape per user, per model key, and for
// failed authentications per IP, and that each counts only its own requests.
func TestRateLimits(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) {
		c.RateLimit = proxy.RateLimitConfig{UserPerMinute: 2, FailedAuthPerMinute: 4, ModelKeyPerMinute: 1}
	}, withClock(&manualClock{now: windowStart}))
	fan, lover := mint(t, musicFan), mint(t, beatLover)
	for i := 0; i < 2; i++ {
		if r := do(t, "GET", ts.URL+"/api/session", nil, bearer(fan)); r.Status != 200 {
			t.Fatalf("request %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	r := do(t, "GET", ts.URL+"/api/session", nil, bearer(fan))
	wantError(t, r, http.StatusTooManyRequests, "Too many requests")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Valid requests never count against the IP: five from here so far, yet another
	// user gets both of its own.
	for i := 0; i < 2; i++ {
		if r := do(t, "GET", ts.URL+"/api/session", nil, bearer(lover)); r.Status != 200 {
			t.Errorf("another user, request %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	// Failed authentications do: four are answered, the fifth is 429, whatever it sends.
	for i := 0; i < 4; i++ {
		wantError(t, do(t, "POST", ts.URL+"/api/checkin", nil, bearer(fan+"x")), http.StatusUnauthorized, "Invalid token signature")
	}
	wantError(t, do(t, "POST", ts.URL+"/api/checkin", nil), http.StatusTooManyRequests, "Too many requests")
	wantError(t, do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey("not-a-model-key-at-all")), http.StatusTooManyRequests, "Too many requests")
	if r := do(t, "POST", ts.URL+"/api/checkin", nil, bearer(mint(t, chillWave))); r.Status != 200 {
		t.Errorf("a valid user at the same IP after its failures: %d %s", r.Status, r.Raw)
	}

	ms := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) {
		c.RateLimit = proxy.RateLimitConfig{UserPerMinute: 60, FailedAuthPerMinute: 4, ModelKeyPerMinute: 1}
	}, withClock(&manualClock{now: windowStart}))
	model := ms.URL + "/api/model/active-users"
	if r := do(t, "GET", model, nil, apiKey(modelKey)); r.Status != 200 {
		t.Fatalf("model: %d %s", r.Status, r.Raw)
	}
	wantError(t, do(t, "GET", model, nil, apiKey(modelKey)), http.StatusTooManyRequests, "Too many requests")
	if r := do(t, "GET", model, nil, apiKey(oldModelKey)); r.Status != 200 {
		t.Errorf("the other key shares the first key's limit: %d %s", r.Status, r.Raw)
	}
	// Wrong keys are failed authentications, limited per IP.
	for i := 0; i < 4; i++ {
		wantError(t, do(t, "GET", model, nil, apiKey("not-a-model-key-at-all")), http.StatusForbidden, "Invalid API key")
	}
	wantError(t, do(t, "GET", model, nil, apiKey("not-a-model-key-at-all")), http.StatusTooManyRequests, "Too many requests")
}

// TestFailedAuthLocksOutNoBystander sends 650 requests with a wrong model key from
// one IP, more than any per-IP limit allows, and checks that they end in 429 while
// the valid model key and a valid user at the same IP are still served.
func TestFailedAuthLocksOutNoBystander(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, nil, withClock(&manualClock{now: windowStart}))
	model := ts.URL + "/api/model/active-users"
	counts := map[int]int{}
	for i := 0; i < 650; i++ {
		counts[do(t, "GET", model, nil, apiKey("guess-0123456789abcdef-"+strconv.Itoa(i))).Status]++
	}
	perIP := proxy.DefaultConfig().RateLimit.FailedAuthPerMinute
	if counts[http.StatusForbidden] != perIP || counts[http.StatusTooManyRequests] != 650-perIP {
		t.Errorf("650 wrong keys answered %v, want %d × 403 then 429", counts, perIP)
	}
	if r := do(t, "GET", model, nil, apiKey(modelKey)); r.Status != 200 {
		t.Errorf("the model's valid key after the guesses: %d %s", r.Status, r.Raw)
	}
	for _, route := range []struct{ method, path string }{{"POST", "/api/checkin"}, {"GET", "/api/session"}, {"POST", "/api/checkout"}} {
		if r := do(t, route.method, ts.URL+route.path, nil, bearer(mint(t, musicFan))); r.Status != 200 {
			t.Errorf("a valid user at the guessing IP: %s %s = %d %s", route.method, route.path, r.Status, r.Raw)
		}
	}
	wantError(t, do(t, "GET", ts.URL+"/api/session", nil), http.StatusTooManyRequests, "Too many requests")
}

// TestRateLimitHeaders checks that every limited response reports the one limit
// that applies to it (X-RateLimit-* and the IETF draft's RateLimit fields), a 429
// the limit that was hit, and that a new window starts afresh.
func TestRateLimitHeaders(t *testing.T) {
	clock := &manualClock{now: windowStart} // 45 s before the window ends
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) {
		c.RateLimit = proxy.RateLimitConfig{UserPerMinute: 2, FailedAuthPerMinute: 600, ModelKeyPerMinute: 120}
	}, withClock(clock))
	fan := bearer(mint(t, musicFan))
	session := ts.URL + "/api/session"
	wantLimit(t, do(t, "GET", session, nil, fan), 200, "user", 2, 1, 45)
	wantLimit(t, do(t, "GET", session, nil, fan), 200, "user", 2, 0, 45)
	r := do(t, "GET", session, nil, fan)
	wantLimit(t, r, http.StatusTooManyRequests, "user", 2, 0, 45)
	if got := r.Header.Get("Retry-After"); got != "45" {
		t.Errorf("user 429: Retry-After %q, want 45", got)
	}
	wantLimit(t, do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey)), 200, "model_key", 120, 119, 45)
	wantLimit(t, do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey)), 200, "model_key", 120, 118, 45)
	wantLimit(t, do(t, "GET", ts.URL+"/api/model/active-users", nil), http.StatusUnauthorized, "failed_auth", 600, 599, 45)
	wantLimit(t, do(t, "GET", session, nil, bearer("x.y.z")), http.StatusUnauthorized, "failed_auth", 600, 598, 45)
	if r := do(t, "GET", ts.URL+"/healthz", nil); r.Header.Get("X-RateLimit-Limit") != "" || r.Header.Get("RateLimit") != "" {
		t.Errorf("healthz, which no limit covers, reports one: %v", r.Header)
	}

	clock.Advance(44 * time.Second)
	r = do(t, "GET", session, nil, fan)
	wantLimit(t, r, http.StatusTooManyRequests, "user", 2, 0, 1)
	clock.Advance(time.Second)
	wantLimit(t, do(t, "GET", session, nil, fan), 200, "user", 2, 1, 60)
}

// windowStart is 15 s into a rate-limit window, for tests on a manualClock.
var windowStart = time.Date(2026, 1, 1, 12, 0, 15, 0, time.UTC)

// wantLimit checks a response's status and its rate-limit headers.
func wantLimit(t *testing.T, r response, status int, policy string, limit, remaining, reset int) {
	t.Helper()
	want := map[string]string{
		"X-RateLimit-Limit":     strconv.Itoa(limit),
		"X-RateLimit-Remaining": strconv.Itoa(remaining),
		"X-RateLimit-Reset":     strconv.Itoa(reset),
		"RateLimit-Policy":      fmt.Sprintf("%q;q=%d;w=60", policy, limit),
		"RateLimit":             fmt.Sprintf("%q;r=%d;t=%d", policy, remaining, reset),
	}
	if r.Status != status {
		t.Errorf("%s: status %d, want %d (%s)", policy, r.Status, status, r.Raw)
	}
	for name, value := range want {
		if got := r.Header.Get(name); got != value {
			t.Errorf("%s, status %d: %s = %q, want %q", policy, r.Status, name, got, value)
		}
	}
}

// TestCheckinMessageNamesTheDatabaseLength checks that the check-in message names the
// pass length the database gave (vibepass.settings.pass_length is the one source),
// for a new pass and for a renewal.
func TestCheckinMessageNamesTheDatabaseLength(t *testing.T) {
	for _, kind := range upstreamKinds {
		t.Run(kind, func(t *testing.T) {
			ts := startServer(t, kind, nil, nil)
			if _, err := superuser(t, ts.DB.PostgresURL).Exec(context.Background(), "update vibepass.settings set pass_length = '30 minutes'"); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				r := do(t, "POST", ts.URL+"/api/checkin", nil, bearer(mint(t, musicFan)))
				if r.Status != 200 || !contains(string(r.Raw), `"30-minute vibe pass activated"`, `"expires_in_minutes":30`) {
					t.Fatalf("checkin %d: %d %s", i+1, r.Status, r.Raw)
				}
			}
		})
	}
}

// TestClientIPHeader checks where the failed-authentication limit finds the
// client's IP behind proxies: the rightmost address in client_ip.header that is
// not a trusted proxy, over every occurrence of the header, so what a client
// writes to the left of what its load balancer appended changes nothing. From a
// peer that is not trusted the header is ignored.
func TestClientIPHeader(t *testing.T) {
	cases := []struct {
		name, header, trusted string
		// sends are the header's values, one request each (a "\n" separates
		// occurrences); the last request is over the limit of 2, the others are not.
		sends []string
	}{
		{"spoofed X-Forwarded-For", "X-Forwarded-For", "127.0.0.0/8", []string{
			"203.0.113.1, 198.51.100.7", "203.0.113.2, 198.51.100.7", "198.51.100.9, 198.51.100.8", "203.0.113.3, 198.51.100.7",
		}},
		{"trusted hops are skipped", "X-Forwarded-For", "127.0.0.0/8, 10.0.0.0/8", []string{
			"203.0.113.1, 198.51.100.7, 10.0.0.2", "198.51.100.7, 10.0.0.3", "203.0.113.9", "198.51.100.7,,10.1.1.1 ,10.0.0.3",
		}},
		{"every occurrence of the header", "X-Forwarded-For", "127.0.0.0/8", []string{
			"203.0.113.1\n198.51.100.7", "198.51.100.7, 10.9.9.9\n198.51.100.9", "203.0.113.2\n198.51.100.7", "\n198.51.100.7",
		}},
		{"single-value header", "X-Real-IP", "127.0.0.0/8", []string{"203.0.113.1", "203.0.113.2", "203.0.113.1", "203.0.113.1"}},
		{"untrusted peer", "X-Forwarded-For", "192.0.2.1", []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) {
				c.RateLimit.FailedAuthPerMinute = 2
				c.ClientIP = proxy.ClientIPConfig{Header: tc.header, TrustedProxies: strings.Split(tc.trusted, ", ")}
			}, withClock(&manualClock{now: windowStart}))
			for i, values := range tc.sends {
				req, err := http.NewRequest("GET", ts.URL+"/api/session", nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range strings.Split(values, "\n") {
					req.Header.Add(tc.header, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				r := readResponse(t, resp)
				if i < len(tc.sends)-1 {
					wantError(t, r, http.StatusUnauthorized, "Missing bearer token")
				} else {
					wantError(t, r, http.StatusTooManyRequests, "Too many requests")
				}
				if t.Failed() {
					t.Fatalf("request %d with %s %q", i+1, tc.header, values)
				}
			}
		})
	}
}

// TestCORS checks the preflight for a configured origin and silence for others.
func TestCORS(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, nil)
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", ts.URL+"/api/checkin", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight(appOrigin)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != appOrigin ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight from %s = %d %v", appOrigin, resp.StatusCode, resp.Header)
	}
	if got := preflight("https://evil.example.com").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from another origin allowed %q", got)
	}
	r := do(t, "GET", ts.URL+"/api/session", nil, bearer(mint(t, musicFan)), "Origin: "+appOrigin)
	if r.Header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("actual request from %s: Access-Control-Allow-Origin %q", appOrigin, r.Header.Get("Access-Control-Allow-Origin"))
	}
	if exposed := r.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(exposed, "Date") || r.Header.Get("Date") == "" {
		t.Errorf("actual request from %s: Date %q, exposed %q; clients/js reads the server's clock from it", appOrigin, r.Header.Get("Date"), exposed)
	}
}

// TestRoutingAndLimits checks Fiber's own errors leave in the spec's shape.
func TestRoutingAndLimits(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, func(c *proxy.Config) {
		c.Limits = proxy.LimitsConfig{BodyBytes: 1024, HeaderBytes: 16 << 10}
	})
	tok := mint(t, musicFan)
	wantError(t, do(t, "GET", ts.URL+"/api/nope", nil), http.StatusNotFound, "Not found")
	wantError(t, do(t, "GET", ts.URL+"/api/checkin", nil, bearer(tok)), http.StatusMethodNotAllowed, "Method not allowed")
	wantError(t, do(t, "DELETE", ts.URL+"/api/session", nil, bearer(tok)), http.StatusMethodNotAllowed, "Method not allowed")
	big := strings.NewReader(`{"pad":"` + strings.Repeat("x", 4096) + `"}`)
	wantError(t, do(t, "POST", ts.URL+"/api/checkin", big, bearer(tok), "Content-Type: application/json"),
		http.StatusRequestEntityTooLarge, "Request body too large")
	wantError(t, do(t, "GET", ts.URL+"/api/session", nil, bearer(tok), "X-Padding: "+strings.Repeat("p", 20<<10)),
		http.StatusRequestEntityTooLarge, "Request headers too large")
	r := do(t, "GET", ts.URL+"/healthz", nil, "X-Request-ID: trace-me-42")
	if r.Status != 200 || r.Header.Get("X-Request-ID") != "trace-me-42" {
		t.Errorf("healthz = %d, X-Request-ID %q", r.Status, r.Header.Get("X-Request-ID"))
	}
	if r := do(t, "GET", ts.URL+"/healthz", nil); r.Header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID made for a request without one")
	}
	if r := do(t, "GET", ts.URL+"/readyz", nil); r.Status != 200 || r.Body["success"] != true {
		t.Errorf("readyz = %d %s", r.Status, r.Raw)
	}
}

// TestLogsHoldNoSecrets runs requests that carry a token and model keys, good and
// bad, and checks the JSON log lines carry what they should and no secret.
func TestLogsHoldNoSecrets(t *testing.T) {
	ts := startServer(t, upstreamPostgREST, nil, nil)
	tok := mint(t, musicFan)
	wrongKey := "wrong-model-key-0123456789abcdef"
	do(t, "POST", ts.URL+"/api/checkin", nil, bearer(tok))
	do(t, "GET", ts.URL+"/api/session", nil, bearer(tok+"x"))
	do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey))
	do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(wrongKey))
	logs := ts.Logs.String()
	for name, secret := range map[string]string{
		"token": tok, "token signature": tok[strings.LastIndex(tok, ".")+1:], "model key": modelKey,
		"wrong key": wrongKey, "jwt secret": devtoken.Secret, "service-role key": ts.Rest.ServiceRoleKey,
		"anon key": ts.Rest.AnonKey,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
	var checkin map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if entry["msg"] == "request" && entry["path"] == "/api/checkin" {
			checkin = entry
		}
	}
	for _, field := range []string{"method", "path", "status", "latency_ms", "request_id", "user_id"} {
		if _, ok := checkin[field]; !ok {
			t.Errorf("checkin log line %v lacks %s", checkin, field)
		}
	}
	if checkin["user_id"] != musicFan || checkin["status"] != 200.0 {
		t.Errorf("checkin log line = %v", checkin)
	}
}

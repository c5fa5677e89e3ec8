package proxy_test

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

var (
	isoUTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	isUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// TestEndpoints walks a user and the model through every endpoint, on both upstreams,
// with the user's token signed HS256 with the legacy secret and ES256 with a key the
// proxy (and PostgREST) find in the project's JWKS, served on loopback.
func TestEndpoints(t *testing.T) {
	for _, run := range contractRuns() {
		t.Run(run.name(), func(t *testing.T) {
			t.Parallel()
			ts := startSigned(t, run.upstream, run.signing)
			tok := ts.token(t, musicFan)

			r := do(t, "GET", ts.URL+"/api/session", nil, bearer(tok))
			wantJSON(t, r, `{"success": true, "active": false, "message": "No active session"}`)

			r = do(t, "POST", ts.URL+"/api/checkin", nil, bearer(tok), "Content-Type: application/json")
			if r.Status != 200 || r.Body["success"] != true || r.Body["message"] != "1-hour vibe pass activated" {
				t.Fatalf("checkin = %d %s", r.Status, r.Raw)
			}
			wantKeys(t, r.Body, "data", "message", "success")
			data := r.Body["data"].(map[string]any)
			wantKeys(t, data, "expires_at", "expires_in_minutes", "session_id")
			sid, _ := data["session_id"].(string)
			if !isUUID.MatchString(sid) || !isoUTC.MatchString(fmt.Sprint(data["expires_at"])) || data["expires_in_minutes"] != 60.0 {
				t.Errorf("checkin data = %v: want a UUID, ISO 8601 UTC with Z and 60 whole minutes", data)
			}

			r = do(t, "GET", ts.URL+"/api/session", nil, bearer(tok))
			wantKeys(t, r.Body, "active", "data", "success")
			pass := r.Body["data"].(map[string]any)
			wantKeys(t, pass, "checked_in_at", "expires_at", "minutes_remaining", "session_id")
			if r.Body["active"] != true || pass["session_id"] != sid || pass["minutes_remaining"] != 60.0 ||
				!isoUTC.MatchString(fmt.Sprint(pass["checked_in_at"])) || pass["expires_at"] != data["expires_at"] {
				t.Errorf("session = %s, want the pass just made with 60 minutes left", r.Raw)
			}

			r = do(t, "POST", ts.URL+"/api/checkin", nil, bearer(tok))
			if got := r.Body["data"].(map[string]any)["session_id"]; got != sid {
				t.Errorf("second checkin session_id = %v, want the renewed %s", got, sid)
			}

			r = do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey))
			wantKeys(t, r.Body, "count", "cursor", "data", "success", "timestamp")
			users, _ := r.Body["data"].([]any)
			if r.Status != 200 || r.Body["count"] != 1.0 || len(users) != 1 || !isoUTC.MatchString(fmt.Sprint(r.Body["timestamp"])) {
				t.Fatalf("active users = %d %s, want the one user checked in", r.Status, r.Raw)
			}
			wantKeys(t, users[0], "checked_in_at", "display_name", "expires_at", "is_anonymous", "preferences", "user_id")
			u := users[0].(map[string]any)
			if u["user_id"] != musicFan || u["display_name"] != "MusicFan" ||
				!reflect.DeepEqual(u["preferences"], []any{0.5, 0.8, 0.2, 1.0, 0.0}) ||
				u["checked_in_at"] != pass["checked_in_at"] || !isoUTC.MatchString(fmt.Sprint(u["expires_at"])) {
				t.Errorf("active user = %v", u)
			}

			r = do(t, "POST", ts.URL+"/api/checkout", nil, bearer(tok))
			wantJSON(t, r, `{"success": true, "message": "Checked out successfully"}`)
			r = do(t, "POST", ts.URL+"/api/checkout", nil, bearer(tok))
			wantJSON(t, r, `{"success": true, "message": "No active session"}`) // idempotent
			r = do(t, "GET", ts.URL+"/api/session", nil, bearer(tok))
			wantJSON(t, r, `{"success": true, "active": false, "message": "No active session"}`)
			r = do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(oldModelKey))
			if r.Status != 200 || r.Body["count"] != 0.0 || len(r.Body["data"].([]any)) != 0 {
				t.Errorf("active users after checkout = %s, want none", r.Raw)
			}

			if ts.Rest != nil {
				checkPostgRESTRequests(t, ts, tok)
			}
		})
	}
}

// checkPostgRESTRequests checks what the proxy sent PostgREST: the user's own token
// with the anon key for user calls, the service-role key for the model's read.
func checkPostgRESTRequests(t *testing.T, ts *testServer, userToken string) {
	t.Helper()
	reqs := ts.Rest.Requests()
	if len(reqs) == 0 {
		t.Fatal("the stand-in saw no requests")
	}
	for _, req := range reqs {
		authz := req.Header.Get("Authorization")
		if strings.HasSuffix(req.Path, "/rpc/active_users_page") || strings.HasSuffix(req.Path, "/rpc/presence_tick") { // the model's calls
			if authz != "Bearer "+ts.Rest.ServiceRoleKey {
				t.Errorf("%s: Authorization is not the service-role key", req.Path)
			}
			continue
		}
		if authz != "Bearer "+userToken || req.Header.Get("apikey") != ts.Rest.AnonKey {
			t.Errorf("%s: want the user's token as Authorization and the anon key as apikey", req.Path)
		}
	}
}

// TestSameAnswersFromBothUpstreams runs one scenario through each upstream with each
// signing of the users' tokens, each on its own copy of the seeded database, and
// compares every answer.
func TestSameAnswersFromBothUpstreams(t *testing.T) {
	runs := contractRuns()
	transcripts := make([][]any, len(runs))
	for i, run := range runs {
		ts := startSigned(t, run.upstream, run.signing)
		fan, lover := ts.token(t, musicFan), ts.token(t, beatLover)
		steps := []struct{ method, path, header string }{
			{"GET", "/api/session", bearer(fan)},
			{"POST", "/api/checkout", bearer(fan)},
			{"POST", "/api/checkin", bearer(fan)},
			{"POST", "/api/checkin", bearer(lover)},
			{"GET", "/api/session", bearer(fan)},
			{"POST", "/api/checkin", bearer(fan)},
			{"GET", "/api/model/active-users", apiKey(modelKey)},
			{"POST", "/api/checkout", bearer(lover)},
			{"GET", "/api/session", bearer(lover)},
			{"GET", "/api/model/active-users", apiKey(modelKey)},
			{"GET", "/api/session", "Authorization: Bearer not-a-token"},
			{"GET", "/api/model/active-users", apiKey("wrong-key-0123456789abcdef")},
		}
		sessions := map[string]string{}
		for _, s := range steps {
			r := do(t, s.method, ts.URL+s.path, nil, s.header)
			transcripts[i] = append(transcripts[i], map[string]any{
				"step": s.method + " " + s.path, "status": r.Status, "body": normalize(r.Body, sessions),
			})
		}
	}
	a, _ := json.MarshalIndent(transcripts[0], "", " ")
	for i := 1; i < len(runs); i++ {
		if b, _ := json.MarshalIndent(transcripts[i], "", " "); string(a) != string(b) {
			t.Errorf("answers differ:\n%s:\n%s\n%s:\n%s", runs[0].name(), a, runs[i].name(), b)
		}
	}
}

// normalize replaces timestamps with "<time>" and session ids with their order of
// appearance, the only things two databases may tell apart.
func normalize(v any, sessions map[string]string) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if s, ok := x.(string); ok && k == "session_id" {
				if _, seen := sessions[s]; !seen {
					sessions[s] = fmt.Sprintf("<session %d>", len(sessions)+1)
				}
				out[k] = sessions[s]
				continue
			}
			out[k] = normalize(x, sessions)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x, sessions)
		}
		return out
	case string:
		if isoUTC.MatchString(v) {
			return "<time>"
		}
	}
	return v
}

// TestModelStreamGzip checks the streamed list with many rows (several batches),
// plain and gzipped, on both upstreams.
func TestModelStreamGzip(t *testing.T) {
	for _, kind := range upstreamKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, kind, nil, nil)
			const n = 700
			storetest.AddUsers(t, ts.DB.PostgresURL, n)
			storetest.CheckInEveryone(t, ts.DB.PostgresURL)

			plain := do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey))
			if plain.Status != 200 || plain.Header.Get("Content-Encoding") != "" {
				t.Fatalf("plain: %d, Content-Encoding %q", plain.Status, plain.Header.Get("Content-Encoding"))
			}
			users, _ := plain.Body["data"].([]any)
			const seeded = 6
			if int(plain.Body["count"].(float64)) != n+seeded || len(users) != n+seeded {
				t.Fatalf("count = %v, rows = %d, want %d", plain.Body["count"], len(users), n+seeded)
			}

			zipped := do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey), "Accept-Encoding: gzip")
			if zipped.Status != 200 || zipped.Header.Get("Content-Encoding") != "gzip" ||
				!strings.Contains(zipped.Header.Get("Vary"), "Accept-Encoding") {
				t.Fatalf("gzip: %d, headers %v", zipped.Status, zipped.Header)
			}
			zr, err := gzip.NewReader(strings.NewReader(string(zipped.Raw)))
			if err != nil {
				t.Fatal(err)
			}
			unzipped, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("gzip body does not decode: %v", err)
			}
			var body map[string]any
			if err := json.Unmarshal(unzipped, &body); err != nil {
				t.Fatalf("gzip body is not JSON: %v", err)
			}
			delete(body, "timestamp")
			delete(plain.Body, "timestamp")
			if !reflect.DeepEqual(body, plain.Body) {
				t.Error("gzipped list differs from the plain one")
			}
			if len(zipped.Raw) >= len(plain.Raw) {
				t.Errorf("gzip body %d bytes, plain %d: not compressed", len(zipped.Raw), len(plain.Raw))
			}
		})
	}
}

// wantJSON checks status 200 and a body equal to want.
func wantJSON(t *testing.T, r response, want string) {
	t.Helper()
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || !reflect.DeepEqual(r.Body, w) {
		t.Errorf("got %d %s, want 200 %s", r.Status, r.Raw, want)
	}
}

// wantKeys checks that a JSON object has exactly the spec's field names.
func wantKeys(t *testing.T, v any, want ...string) {
	t.Helper()
	if got := keys(v); !reflect.DeepEqual(got, want) {
		t.Errorf("fields = %v, want %v", got, want)
	}
}

// TestModelListStampedByTheClock checks that the model list's timestamp comes from
// Deps.Clock, the one clock the server reads.
func TestModelListStampedByTheClock(t *testing.T) {
	db := localdbtest.ForTest(t)
	verifier, keys := devAuth(t, modelKey)
	at := time.Date(2025, 11, 9, 14, 30, 0, 0, time.UTC)
	deps := proxy.Deps{Verifier: verifier, APIKeys: keys, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Clock: func() time.Time { return at }}
	useDirectStore(&deps, storetest.OpenStore(t, db.AuthenticatorURL))
	srv := proxy.New(proxy.DefaultConfig(), deps)
	req := httptest.NewRequest(http.MethodGet, "/api/model/active-users", nil)
	req.Header.Set("X-API-Key", modelKey)
	resp, err := srv.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	r := readResponse(t, resp)
	if r.Status != http.StatusOK || r.Body["timestamp"] != "2025-11-09T14:30:00Z" {
		t.Errorf("model list = %d %s, want the clock's 2025-11-09T14:30:00Z", r.Status, r.Raw)
	}
}

package examples

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"net/http"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/rest/resttest"
)

// TestModelClientAgainstDev follows docs/clients.md: start `vibepass dev`, open the
// printed links of some demo users (here: the check-in the page makes on load),
// then run examples/model_client.py with the system python3 and the model key.
func TestModelClientAgainstDev(t *testing.T) {
	requirePython(t)
	dev := startDev(t)
	modelKey := dev.modelKey

	checkedIn := []string{"MusicFan", "BeatLover", "JazzCat"}
	for _, name := range checkedIn {
		token := dev.tokens[name]
		if token == "" {
			t.Fatalf("dev printed no link for %s; links: %v", name, dev.tokens)
		}
		req, _ := http.NewRequest(http.MethodPost, dev.url+"/api/checkin", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("check-in as %s with the printed link's token: HTTP %d", name, resp.StatusCode)
		}
	}

	out, _ := runModelClient(t, dev.url, 0, "ML_API_KEY="+modelKey)
	if !strings.Contains(out, "Active users: 3\n") {
		t.Errorf("output does not count the 3 checked-in users:\n%s", out)
	}
	for name := range dev.tokens {
		listed := strings.Contains(out, "  "+name+": preferences ")
		if want := slices.Contains(checkedIn, name); listed != want {
			t.Errorf("%s listed = %v, want %v:\n%s", name, listed, want, out)
		}
	}
	checkAverages(t, out, averagePreferences(t, dev.dbURL, checkedIn))

	for _, tc := range []struct {
		name, url string
		env       []string
		want      string
		exit      int // a failure exits 1: it never prints an empty list
	}{
		{"wrong key", dev.url, []string{"ML_API_KEY=not-the-model-key"}, "Error: Invalid API key\n  HTTP 403: the server does not accept this API key", 1},
		{"no key", dev.url, nil, "Error: Missing X-API-Key header\n  HTTP 401: no API key was sent: set ML_API_KEY (or MODEL_API_KEY)", 1},
		{"no server", "http://" + refusedAddr(t), []string{"ML_API_KEY=" + modelKey}, "Error: cannot connect to vibepass at", 1},
		// The server's own variable works too, as the server holds it: a comma-separated
		// list whose first key is sent.
		{"MODEL_API_KEY alone", dev.url, []string{"MODEL_API_KEY=" + modelKey + ",next-model-key-0123456789"}, "Active users: 3\n", 0},
		{"ML_API_KEY before MODEL_API_KEY", dev.url, []string{"ML_API_KEY=" + modelKey, "MODEL_API_KEY=not-the-model-key"}, "Active users: 3\n", 0},
		{"usage", "", nil, "ML_API_KEY, or else the first key of MODEL_API_KEY", 0},
	} {
		out, _ := runModelClient(t, tc.url, tc.exit, tc.env...)
		if strings.Contains(out, "Active users: 0") && tc.exit != 0 {
			t.Errorf("%s: printed an empty list:\n%s", tc.name, out)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: output lacks %q:\n%s", tc.name, tc.want, out)
		}
	}
}

// TestSupabaseJSSnippet runs examples/supabase-js under node: the rpc way against
// the PostgREST stand-in and the fetch way against `vibepass dev`, both on dev's
// database, and checks the calls it made and what it read against the database.
func TestSupabaseJSSnippet(t *testing.T) {
	requireNodeModules(t, "@supabase/supabase-js")
	dev := startDev(t)
	postgrest, err := resttest.Start(dev.authenticatorURL(t), []byte(devtoken.Secret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(postgrest.Close)
	proxyURL := dev.url
	token := mintToken(t, musicFanID)

	cmd := exec.Command("node", "--experimental-websocket", filepath.Join("supabase-js", "run.js"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SUPABASE_URL=" + postgrest.URL,
		"SUPABASE_ANON_KEY=" + postgrest.AnonKey, "ACCESS_TOKEN=" + token, "VIBEPASS_URL=" + proxyURL}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node run.js: %v\n%s%s", err, out, stderrOf(err))
	}
	answers := map[string]json.RawMessage{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var step struct {
			Step   string          `json:"step"`
			Answer json.RawMessage `json:"answer"`
		}
		if err := json.Unmarshal([]byte(line), &step); err != nil {
			t.Fatalf("run.js printed %q, not a step: %v", line, err)
		}
		answers[step.Step] = step.Answer
	}

	passes := userPasses(t, dev.dbURL, musicFanID)
	if len(passes) != 2 {
		t.Fatalf("MusicFan has %d passes after run.js, want 2 (one each way): %+v", len(passes), passes)
	}
	for _, p := range passes {
		if p.status != "inactive" || p.endReason != "checkout" {
			t.Errorf("pass %s is %s/%s after run.js checked out, want inactive/checkout", p.id, p.status, p.endReason)
		}
	}
	rpcPass, proxyPass := passes[0], passes[1]

	var checkin struct {
		SessionID        string `json:"session_id"`
		ExpiresAt        string `json:"expires_at"`
		ExpiresInMinutes int    `json:"expires_in_minutes"`
	}
	var status struct {
		SessionID        string `json:"session_id"`
		ExpiresAt        string `json:"expires_at"`
		MinutesRemaining int    `json:"minutes_remaining"`
	}
	var checkout struct {
		SessionID string `json:"session_id"`
		EndedAt   string `json:"ended_at"`
	}
	decode(t, answers, "rpc checkin", &checkin)
	decode(t, answers, "rpc session_status", &status)
	decode(t, answers, "rpc checkout", &checkout)
	if checkin.SessionID != rpcPass.id || checkin.ExpiresInMinutes != 60 || checkin.ExpiresAt != rpcPass.expiresAt.UTC().Format(time.RFC3339) {
		t.Errorf("rpc checkin read %+v, want the database's pass %+v and 60 minutes", checkin, rpcPass)
	}
	if status.SessionID != rpcPass.id || status.MinutesRemaining != 60 || status.ExpiresAt != checkin.ExpiresAt {
		t.Errorf("rpc session_status read %+v, want pass %s with 60 minutes until %s", status, rpcPass.id, checkin.ExpiresAt)
	}
	if checkout.SessionID != rpcPass.id || checkout.EndedAt == "" {
		t.Errorf("rpc checkout read %+v, want pass %s ended", checkout, rpcPass.id)
	}
	if got := string(answers["rpc session_status after checkout"]); got != "null" {
		t.Errorf("rpc session_status after checkout read %s, want null", got)
	}

	var proxyCheckin struct {
		Message string `json:"message"`
		Data    struct {
			SessionID string `json:"session_id"`
		} `json:"data"`
	}
	var proxySession struct {
		Active bool `json:"active"`
		Data   struct {
			MinutesRemaining int `json:"minutes_remaining"`
		} `json:"data"`
	}
	var proxyCheckout, proxyAfter struct {
		Message string `json:"message"`
		Active  bool   `json:"active"`
	}
	decode(t, answers, "proxy checkin", &proxyCheckin)
	decode(t, answers, "proxy session", &proxySession)
	decode(t, answers, "proxy checkout", &proxyCheckout)
	decode(t, answers, "proxy session after checkout", &proxyAfter)
	if proxyCheckin.Message != "1-hour vibe pass activated" || proxyCheckin.Data.SessionID != proxyPass.id {
		t.Errorf("proxy checkin read %+v, want the activation message and pass %s", proxyCheckin, proxyPass.id)
	}
	if !proxySession.Active || proxySession.Data.MinutesRemaining != 60 {
		t.Errorf("proxy session read %+v, want active with 60 minutes", proxySession)
	}
	if proxyCheckout.Message != "Checked out successfully" || proxyAfter.Active || proxyAfter.Message != "No active session" {
		t.Errorf("proxy checkout read %+v then %+v, want checked out then no active session", proxyCheckout, proxyAfter)
	}

	var calls []string
	for _, r := range postgrest.Requests() {
		calls = append(calls, r.Method+" "+r.Path)
		if r.Header.Get("Authorization") != "Bearer "+token {
			t.Errorf("%s %s was not sent with the user's token as Authorization", r.Method, r.Path)
		}
		if r.Header.Get("apikey") != postgrest.AnonKey {
			t.Errorf("%s %s was not sent with the anon key as apikey", r.Method, r.Path)
		}
	}
	want := "POST /rest/v1/rpc/checkin,POST /rest/v1/rpc/session_status,POST /rest/v1/rpc/checkout,POST /rest/v1/rpc/session_status"
	if got := strings.Join(calls, ","); got != want {
		t.Errorf("supabase-js called %s, want %s", got, want)
	}
}

// runModelClient runs examples/model_client.py against url with only env (NAME=value)
// and the system's PATH in its environment, checks that it exits with wantExit, and
// returns what it printed and the exit code.
func runModelClient(t *testing.T, url string, wantExit int, env ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(systemPython, "model_client.py")
	if url == "" { // the usage text
		cmd.Args = append(cmd.Args, "--help")
	}
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "VIBEPASS_URL=" + url, "PYTHONDONTWRITEBYTECODE=1"}, env...)
	out, err := cmd.Output()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("model_client.py: %v\n%s", err, out)
	}
	if code != wantExit {
		t.Fatalf("model_client.py exited %d, want %d: %v\n%s%s", code, wantExit, err, out, stderrOf(err))
	}
	return string(out), code
}

// averagePreferences reads the users' preferences from the database and averages them.
func averagePreferences(t *testing.T, dbURL string, displayNames []string) []float64 {
	t.Helper()
	ctx := context.Background()
	var avg []float64
	err := connect(t, dbURL).QueryRow(ctx, `select array_agg(a order by i) from (
		select i, avg(p.preferences[i]) a from public.profiles p, generate_series(1, 5) i
		where p.display_name = any($1) group by i) s`, displayNames).Scan(&avg)
	if err != nil {
		t.Fatal(err)
	}
	return avg
}

// checkAverages finds "Average preferences: [...]" in out and compares it with want
// to the three decimals the client prints.
func checkAverages(t *testing.T, out string, want []float64) {
	t.Helper()
	_, list, ok := strings.Cut(out, "Average preferences: [")
	list, _, ok2 := strings.Cut(list, "]")
	if !ok || !ok2 {
		t.Fatalf("output has no average preferences:\n%s", out)
	}
	fields := strings.Split(list, ", ")
	if len(fields) != len(want) {
		t.Fatalf("average preferences %q, want %d numbers", list, len(want))
	}
	for i, f := range fields {
		got, err := strconv.ParseFloat(f, 64)
		if err != nil || math.Abs(got-want[i]) > 0.0005 {
			t.Errorf("average preference %d printed %q, want %.3f (from the database)", i+1, f, want[i])
		}
	}
}

func decode(t *testing.T, answers map[string]json.RawMessage, step string, v any) {
	t.Helper()
	raw, ok := answers[step]
	if !ok {
		t.Fatalf("run.js printed no %q step", step)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s answered %s: %v", step, raw, err)
	}
}

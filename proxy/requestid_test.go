package proxy_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// generatedID is what the server makes when the client sent no usable X-Request-ID.
var generatedID = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// TestRequestID checks that a client's X-Request-ID is echoed and logged only when it
// is short and safe, and that the IDs the server makes are random.
func TestRequestID(t *testing.T) {
	ts := startServer(t, upstreamPostgres, nil, nil)
	// loggedID is the request_id of the access log line of the response with id.
	loggedID := func(id string) bool {
		for _, line := range strings.Split(ts.Logs.String(), "\n") {
			var entry map[string]any
			if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == "request" && entry["request_id"] == id {
				return true
			}
		}
		return false
	}
	for _, id := range []string{"trace-me-42", "a", "0af7651916cd43dd8448eb211c80319c.span_7", strings.Repeat("x", 64)} {
		r := do(t, "GET", ts.URL+"/healthz", nil, "X-Request-ID: "+id)
		if got := r.Header.Get("X-Request-ID"); got != id || !loggedID(id) {
			t.Errorf("safe id %q: answered %q, logged %v; want it echoed and logged", id, got, loggedID(id))
		}
	}
	for _, id := range []string{strings.Repeat("a", 20<<10), strings.Repeat("x", 65), "two words", `"}{"admin":true`, "a/b", "ünïcode"} {
		r := do(t, "GET", ts.URL+"/healthz", nil, "X-Request-ID: "+id)
		got := r.Header.Get("X-Request-ID")
		if got == id || !generatedID.MatchString(got) || !loggedID(got) {
			t.Errorf("unsafe id %.40q: answered %.40q, want a generated one, logged", id, got)
		}
	}
	if strings.Contains(ts.Logs.String(), strings.Repeat("a", 100)) {
		t.Error("the 20 KB request id reached the log")
	}

	// Two IDs made one after the other share no more than chance would: a counter
	// (dddb3e80…, dedb3e80…) changes one or two places.
	first := do(t, "GET", ts.URL+"/healthz", nil).Header.Get("X-Request-ID")
	second := do(t, "GET", ts.URL+"/healthz", nil).Header.Get("X-Request-ID")
	if !generatedID.MatchString(first) || !generatedID.MatchString(second) {
		t.Fatalf("generated ids %q, %q: want 26 base32 characters", first, second)
	}
	same := 0
	for i := range first {
		if first[i] == second[i] {
			same++
		}
	}
	if same > len(first)/2 { // random: about 1 in 32 places agree
		t.Errorf("consecutive ids %s and %s agree in %d of %d places: not random", first, second, same, len(first))
	}
}

package main

import (
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestDockerfileShape checks what no Docker engine here can: two stages; a builder
// on the Go release go.mod names; a static, trimmed, version-stamped build; a final
// distroless image (CA certificates included) that runs as a non-root user with
// serve as its entrypoint and no HEALTHCHECK (the orchestrator's probes decide).
func TestDockerfileShape(t *testing.T) {
	stages := readDockerfile(t)
	if len(stages) != 2 {
		t.Fatalf("the Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	minor := regexp.MustCompile(`(?m)^go (1\.\d+)`).FindSubmatch(gomod)
	if from := stages[0][0].args; minor == nil || !strings.HasPrefix(from, "golang:"+string(minor[1])+"-") {
		t.Errorf("build stage FROM %s; want golang:%s-… as go.mod says", from, minor[1])
	}
	var build string
	for _, in := range stages[0] {
		if in.name == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0 go build", "-trimpath", "-X main.version=${VERSION}"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build line %q lacks %q", build, want)
		}
	}
	final := map[string]string{}
	for _, in := range stages[1] {
		final[in.name] = in.args
	}
	if !strings.HasPrefix(final["FROM"], "gcr.io/distroless/static-debian12:nonroot") {
		t.Errorf("final FROM %q; want distroless static (CA certificates, no shell) as nonroot", final["FROM"])
	}
	if u := final["USER"]; u == "" || strings.HasPrefix(u, "root") || strings.HasPrefix(u, "0") {
		t.Errorf("final USER %q; want a non-root user", u)
	}
	if e := final["ENTRYPOINT"]; !strings.HasSuffix(e, `"serve"]`) {
		t.Errorf("ENTRYPOINT %s; want the binary's serve", e)
	}
	if _, ok := final["HEALTHCHECK"]; ok {
		t.Error("the image has a HEALTHCHECK; the orchestrator's probes are the health checks")
	}
}

// TestImageBuildServesFromTheEnvironment builds vibepass with the Dockerfile's own
// go build line and runs it as the image would: `serve` with no config file, only the
// image's ENV and the platform's variables (VIBEPASS_*, MODEL_API_KEY, PORT), as a
// non-root user. It must be a static binary stamped with the version, answer /readyz
// and check a user in.
func TestImageBuildServesFromTheEnvironment(t *testing.T) {
	db := localdbtest.ForTest(t)
	bin := imageBuild(t, map[string]string{"VERSION": "v9.8.7-test"})

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a dynamic loader: not static")
		}
	}
	f.Close()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v; want CGO_ENABLED=0 and -trimpath", settings)
	}
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "vibepass v9.8.7-test ") {
		t.Errorf("--version = %q (%v), want the VERSION build argument", out, err)
	}

	secret, key := devtoken.NewSecret(), devtoken.NewSecret()
	env := map[string]string{
		"VIBEPASS_UPSTREAM_KIND":   "postgres",
		"VIBEPASS_UPSTREAM_DB_URL": db.AuthenticatorURL,
		"VIBEPASS_AUTH_JWT_SECRET": secret,
		"MODEL_API_KEY":            key,
	}
	for _, in := range readDockerfile(t)[1] {
		if in.name != "ENV" {
			continue
		}
		for _, kv := range strings.Fields(in.args) { // ENV KEY=VALUE ..., no quoting in this file
			if name, value, ok := strings.Cut(kv, "="); ok && env[name] == "" {
				env[name] = value
			}
		}
	}
	r := startReplica(t, bin, env) // PORT and the metrics address are the test's, over the image's
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid))
	if uid := regexp.MustCompile(`(?m)^Uid:\s+(\d+)`).FindSubmatch(status); err != nil || uid == nil || string(uid[1]) == "0" {
		t.Errorf("serve runs as uid %s (%v); want a non-root user", uid, err)
	}
	token, err := devtoken.Mint([]byte(secret), devtoken.Request{Sub: "00000000-0000-4000-8000-000000000001"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, body := call(t, "POST", r.base+"/api/checkin", "Authorization: Bearer "+token); code != 200 || body["success"] != true {
		t.Errorf("checkin = %d %v", code, body)
	}
	if resp, err := http.Get("http://" + r.metrics + "/metrics"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /metrics on VIBEPASS_METRICS_LISTEN: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code := r.stop(t); code != 0 {
		t.Errorf("serve exit %d after SIGTERM, want 0:\n%s", code, r.log.String())
	}
}

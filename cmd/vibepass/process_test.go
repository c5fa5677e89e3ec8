package main

import (
	"context"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vibepass/vibepass/internal/netns"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	name string // FROM, RUN, ENV, … in capitals
	args string
}

// readDockerfile returns the repository's Dockerfile as its stages, each a list of
// instructions starting with its FROM.
func readDockerfile(t *testing.T) [][]instruction {
	t.Helper()
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, args, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(name), strings.TrimSpace(args)}
		if in.name == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %s before the first FROM", in.name)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

// imageBuild builds vibepass as the Dockerfile's build stage does: its own `go build`
// RUN line, run by sh in the repository root with the stage's ARG defaults over
// (overrides win), writing into a directory any user may read. Only the output
// path is changed.
func imageBuild(t *testing.T, overrides map[string]string) string {
	t.Helper()
	stages := readDockerfile(t)
	var run string
	env := os.Environ()
	for _, in := range stages[0] {
		switch {
		case in.name == "ARG":
			name, value, _ := strings.Cut(in.args, "=")
			if v, ok := overrides[name]; ok {
				value = v
			}
			env = append(env, name+"="+value)
		case in.name == "RUN" && strings.Contains(in.args, "go build"):
			run = in.args
		}
	}
	output := regexp.MustCompile(`\s-o\s+(\S+)`)
	if run == "" || !output.MatchString(run) {
		t.Fatal("the Dockerfile's build stage has no RUN ... go build ... -o PATH line")
	}
	bin := filepath.Join(localdbtest.ReachableDir(t), "vibepass")
	run = output.ReplaceAllLiteralString(run, " -o "+bin)
	cmd := exec.Command("sh", "-c", run)
	cmd.Dir, cmd.Env = "../..", env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", run, err, out)
	}
	return bin
}

// replica is one `vibepass serve` process started from a built binary.
type replica struct {
	base    string // http://HOST:PORT
	metrics string // host:port of its /metrics
	client  *http.Client
	cmd     *exec.Cmd
	log     *serveLog     // its stderr
	exited  chan struct{} // closed once the process has exited
	err     error         // its exit status, once exited is closed
}

// replicaHost says where a replica runs and how the test reaches it.
type replicaHost struct {
	netns  string       // the network namespace it runs in; "" for this one
	ip     string       // where the test reaches its ports
	port   string       // its API's, given as PORT
	client *http.Client // reaches ip from the test
}

// startReplica runs `bin serve` with env as its whole environment, from an empty
// directory (so no config.toml), as the nobody user when this test runs as root. It
// listens where PORT=0 puts it (0.0.0.0, a free port) and serves metrics on a free
// loopback port, over any address in env; both ports are read from its log, so nothing
// can take them first. It waits for /readyz to answer 200.
func startReplica(t *testing.T, bin string, env map[string]string) *replica {
	t.Helper()
	// Free ports over any in env (the image's 0.0.0.0:9464 is one per host, and replicas
	// share this one), and the level of the records naming them.
	env = maps.Clone(env)
	env["VIBEPASS_METRICS_LISTEN"] = "127.0.0.1:0"
	env["VIBEPASS_LOG_LEVEL"] = "info"
	return startReplicaOn(t, bin, env, replicaHost{ip: "127.0.0.1", port: "0", client: http.DefaultClient})
}

// startReplicaOn is startReplica on host, serving its metrics where env says. A port
// given as 0 (host.port, or in VIBEPASS_METRICS_LISTEN) is read from the log, which
// must then be at level info; a fixed one (a namespace of the test's own, where nothing
// else binds) is used as given.
func startReplicaOn(t *testing.T, bin string, env map[string]string, host replicaHost) *replica {
	t.Helper()
	r := &replica{client: host.client, log: newServeLog(), exited: make(chan struct{})}
	r.cmd = exec.Command(bin, "serve")
	r.cmd.Dir = localdbtest.ReachableDir(t)
	for k, v := range env {
		r.cmd.Env = append(r.cmd.Env, k+"="+v)
	}
	r.cmd.Env = append(r.cmd.Env, "PORT="+host.port) // the last value wins
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: unprivileged(t)}
	r.cmd.Stderr = r.log
	start := r.cmd.Start
	if host.netns != "" {
		start = func() error { return netns.Do(host.netns, r.cmd.Start) }
	}
	if err := start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill() // a no-op once stopped
		<-r.exited
	})
	r.base = "http://" + r.bound(t, net.JoinHostPort(host.ip, host.port), "listening")
	r.metrics = r.bound(t, env["VIBEPASS_METRICS_LISTEN"], "metrics listening")
	deadline := time.Now().Add(time.Minute)
	for !r.ready() {
		select {
		case <-r.exited:
			t.Fatalf("serve exited (%v) before it was ready:\n%s", r.err, r.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve on %s never answered /readyz 200:\n%s", r.base, r.log)
		}
		time.Sleep(20 * time.Millisecond) // polling the condition: the database's answer
	}
	return r
}

// bound returns addr, where the replica was asked to listen, or for port 0 the address
// it logged as msg once it bound a free port.
func (r *replica) bound(t *testing.T, addr, msg string) string {
	t.Helper()
	if _, port, _ := net.SplitHostPort(addr); port != "0" {
		return addr
	}
	return r.log.addr(t, msg, r.exited)
}

// ready reports whether the replica answers /readyz with 200.
func (r *replica) ready() bool {
	resp, err := r.client.Get(r.base + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop sends SIGTERM, as an orchestrator does, and returns the exit code.
func (r *replica) stop(t *testing.T) int {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // the 20 s grace and a loaded machine's margin
	defer cancel()
	select {
	case <-r.exited:
		return r.cmd.ProcessState.ExitCode()
	case <-ctx.Done():
		t.Fatalf("serve did not exit after SIGTERM:\n%s", r.log.String())
		return -1
	}
}

// unprivileged returns the credential of the nobody user when this runs as root
// (as CI does), so the server runs as a container's non-root user would; nil
// (this user, already not root) otherwise.
func unprivileged(t *testing.T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("the nobody user: %v (Debian's base-passwd has it)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vibepass/vibepass/cmd/vibepass/config"
)

// benchProxyConfig is the proxy's config.toml for the benchmark: the direct upstream
// with as many user connections as the baselines' pool and a model stream for each
// model client, room for the feed figure's event streams at the default poll, the
// HS256 secret the bench tokens are signed with, rate limits far above any rate
// reached here (the limiter still runs on every request), production logging, and
// metrics on a loopback port of their own (the soak reads them).
// Tokens of both kinds are accepted: HS256 with the bench's secret, ES256 through the
// JWKS the bench serves.
const benchProxyConfig = `listen = %q

[upstream]
kind = "postgres"
db_url = "env(VIBEPASS_BENCH_DB_URL)"
pool_max_conns = %d

[limits]
model_streams = %d

[feed]
poll = %q
subscribers = %d
subscribers_per_key = %[5]d

[auth]
jwt_secret = "env(VIBEPASS_BENCH_JWT_SECRET)"
jwks_url = %q

[rate_limit]
user_per_minute = 1000000000
failed_auth_per_minute = 1000000000
model_key_per_minute = 1000000000

[log]
level = "info"

[metrics]
listen = %q
`

// benchProxy is the proxy under measurement: `vibepass serve` in a process of its own,
// so that its resident set is its own and not the load generator's.
type benchProxy struct {
	cmd        *exec.Cmd
	url        string
	metricsURL string // GET /metrics
	dir        string // config and log
	done       chan error
}

// startBenchProxy starts `binary serve` on a free loopback port over dbURL, with conns
// user connections and modelStreams model streams, verifying tokens of signer,
// and waits until /readyz answers 200. cpuProfile, if set, receives the process's CPU
// profile.
func startBenchProxy(ctx context.Context, binary, dbURL string, conns, modelStreams int, signer *benchSigner, modelKey, cpuProfile string) (*benchProxy, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vibepass-bench-")
	if err != nil {
		return nil, err
	}
	p := &benchProxy{url: "http://" + addr, metricsURL: "http://" + metricsAddr + "/metrics", dir: dir, done: make(chan error, 1)}
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, fmt.Appendf(nil, benchProxyConfig, addr, conns, modelStreams, feedPoll.String(), feedSubscribers, signer.jwksURL, metricsAddr), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "proxy.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	args := []string{"serve", "--config", configPath}
	if cpuProfile != "" {
		if cpuProfile, err = filepath.Abs(cpuProfile); err != nil {
			return nil, err
		}
		args = append(args, "--cpuprofile", cpuProfile)
	}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(os.Environ(),
		"VIBEPASS_BENCH_DB_URL="+dbURL,
		"VIBEPASS_BENCH_JWT_SECRET="+signer.secret,
		config.ModelKeysEnv+"="+modelKey,
	)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.done <- p.cmd.Wait() }()
	if err := p.awaitReady(ctx); err != nil {
		_ = p.stop()
		return nil, err
	}
	return p, nil
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port free right now.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// awaitReady polls /readyz until it answers 200, the process exits, or 60 s pass.
func (p *benchProxy) awaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("the proxy exited (%v); its log:\n%s", err, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("the proxy did not become ready; its log:\n%s", p.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logTail returns the end of the proxy's log, for error messages.
func (p *benchProxy) logTail() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "proxy.log"))
	return string(b[max(0, len(b)-2000):])
}

// stop ends the proxy with SIGTERM, as an operator would (it finishes in-flight
// requests and writes its CPU profile), and removes its directory.
func (p *benchProxy) stop() error {
	defer os.RemoveAll(p.dir)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("the proxy did not stop within 30 s of SIGTERM; killed")
	}
}

// resetPeakRSS sets the proxy's recorded peak resident set (VmHWM) back to its
// current one, so the next peakRSS covers only what follows.
func (p *benchProxy) resetPeakRSS() error {
	path := fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid)
	return os.WriteFile(path, []byte("5"), 0)
}

// peakRSS returns the proxy's peak resident set since the last reset, in bytes.
func (p *benchProxy) peakRSS() (uint64, error) { return p.memory("VmHWM:") }

// rss returns the proxy's resident set now, in bytes.
func (p *benchProxy) rss() (uint64, error) { return p.memory("VmRSS:") }

// memory returns a kB field of /proc/<pid>/status, such as "VmRSS:", in bytes.
func (p *benchProxy) memory(field string) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == field && f[2] == "kB" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/<pid>/status", field)
}

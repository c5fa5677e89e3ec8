package examples

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// cutter is a TCP proxy to a server that the test can cut: cut closes every open
// connection and refuses new ones until mend, so a client sees its stream drop and
// its reconnects fail for exactly as long as the test says.
type cutter struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	open  bool
	conns map[net.Conn]struct{}
}

// startCutter proxies a local address to target until the test ends.
func startCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target, open: true, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); c.cut() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.serve(conn)
		}
	}()
	return c
}

// serve pipes conn to the target, or closes it while cut.
func (c *cutter) serve(conn net.Conn) {
	c.mu.Lock()
	if !c.open {
		c.mu.Unlock()
		conn.Close()
		return
	}
	c.conns[conn] = struct{}{}
	c.mu.Unlock()
	up, err := net.Dial("tcp", c.target)
	if err != nil {
		conn.Close()
		return
	}
	go func() { _, _ = io.Copy(up, conn); up.Close() }()
	_, _ = io.Copy(conn, up)
	conn.Close()
}

// cut closes every connection and refuses new ones.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open = false
	for conn := range c.conns {
		conn.Close()
	}
	clear(c.conns)
}

// mend lets connections through again.
func (c *cutter) mend() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open = true
}

// TestModelClientFollows runs `model_client.py --follow` against `vibepass dev`
// through a proxy the test cuts: the client sees a join and a leave, resumes with
// Last-Event-ID after the cut and so learns of a check-in made while it was away,
// sees a pass expire with nobody writing, and lists again after a reset.
func TestModelClientFollows(t *testing.T) {
	requirePython(t)
	dev := startDev(t)
	resetPasses(t, dev.dbURL)
	proxy := startCutter(t, dev.addr)

	cmd := exec.Command(systemPython, "model_client.py", "--follow")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "VIBEPASS_URL=http://" + proxy.ln.Addr().String(),
		"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "ML_API_KEY=" + dev.modelKey}
	stdout, stderr := startPiped(t, cmd)
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	// expect waits for a line starting with prefix and returns it.
	expect := func(prefix string) string {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("model_client.py --follow exited before %q; printed:\n%s\nstderr:\n%s", prefix, strings.Join(seen, "\n"), stderr.String())
				}
				seen = append(seen, line)
				if strings.HasPrefix(line, prefix) {
					return line
				}
			case <-deadline:
				t.Fatalf("no line %q within 60 s; printed:\n%s\nstderr:\n%s", prefix, strings.Join(seen, "\n"), stderr.String())
			}
		}
	}
	post := func(path, name string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, dev.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+dev.tokens[name])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s as %s: HTTP %d", path, name, resp.StatusCode)
		}
	}
	admin := connect(t, dev.dbURL)
	sql := func(statement string) {
		t.Helper()
		if _, err := admin.Exec(context.Background(), statement); err != nil {
			t.Fatal(err)
		}
	}

	expect("list: 0 present. Average preferences: None")
	post("/api/checkin", "MusicFan")
	expect("join MusicFan: 1 present")
	post("/api/checkout", "MusicFan")
	expect("leave MusicFan: 0 present")

	// Cut the stream; while the client cannot reconnect, BeatLover checks in. Only a
	// resume from the last event seen can tell it.
	proxy.cut()
	expect("Connection lost")
	post("/api/checkin", "BeatLover")
	proxy.mend()
	line := expect("join BeatLover: 1 present")
	checkAverages(t, line, averagePreferences(t, dev.dbURL, []string{"BeatLover"}))

	// A pass that runs out: its expire comes from the feed, with nobody writing. The clock
	// is moved instead of waited for: once the join is seen, the pass's expires_at becomes
	// now with the feed's trigger off (replica role), as if its hour had passed, under the
	// feed's lock so that no tick is looking past that moment meanwhile (storetest.RunOut).
	post("/api/checkin", "JazzCat")
	expect("join JazzCat: 2 present")
	sql(`begin;
		select vibepass.presence_lock_exclusive();
		set local session_replication_role = replica;
		update public.sessions s set expires_at = now() from public.profiles p
		 where p.id = s.user_id and p.display_name = 'JazzCat' and s.status = 'active';
		commit`)
	expect("expire JazzCat: 1 present")

	// A cursor older than the history kept: the client is told to reset and lists again.
	proxy.cut()
	expect("Connection lost")
	sql("update vibepass.settings set feed_history = '1 millisecond'")
	post("/api/checkout", "BeatLover") // logs a change, and the purge below drops it
	for deadline := time.Now().Add(60 * time.Second); ; {
		var left int
		if err := admin.QueryRow(context.Background(), `select count(*) from vibepass.presence_log
			where public.presence_tick() is not null`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break // everything purged: the client's cursor is behind the history kept
		}
		if time.Now().After(deadline) {
			t.Fatal("the log was not purged within 60 s with feed_history = 1 ms")
		}
		time.Sleep(50 * time.Millisecond) // polling the condition
	}
	proxy.mend()
	expect("Reset: ")
	expect("list: 0 present. Average preferences: None")
}

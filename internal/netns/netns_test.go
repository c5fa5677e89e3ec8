package netns_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/vibepass/vibepass/internal/netns"
)

// TestDoAndDialer: a process started in Do runs in the namespace, a listener opened in
// Do is reachable from the namespace (Dialer) and not from this one, and the calling
// goroutine's namespace is left as it was.
func TestDoAndDialer(t *testing.T) {
	name := fmt.Sprintf("vpns%d", os.Getpid())
	if err := netns.Add(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(name); err != nil {
			t.Error(err)
		}
	})
	var want syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+name, &want); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("readlink", "/proc/self/ns/net")
	var out strings.Builder
	cmd.Stdout = &out
	if err := netns.Do(name, cmd.Start); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != fmt.Sprintf("net:[%d]", want.Ino) {
		t.Errorf("the process started in Do is in %s, want net:[%d]", got, want.Ino)
	}

	var ln net.Listener
	if err := netns.Do(name, func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	conn, err := netns.Dialer(name, &net.Dialer{})(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dialling the namespace's listener from the namespace: %v", err)
	}
	conn.Close()
	if conn, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		conn.Close()
		t.Errorf("the namespace's listener %s answered from this namespace", ln.Addr())
	}

	if err := netns.Do("vpns-absent", func() error { return nil }); err == nil || !strings.Contains(err.Error(), "vpns-absent") {
		t.Errorf("Do in a namespace that does not exist: %v, want an error naming it", err)
	}
}

// Package netns puts processes and sockets in Linux network namespaces made with
// iproute2 (`ip netns add NAME`, which mounts each at /run/netns/NAME): the tests' own
// hosts, with links between them that a test can cut. It needs root (CAP_SYS_ADMIN and
// CAP_NET_ADMIN).
//
// A namespace belongs to a thread, not a process: a thread switched in with setns(2)
// forks children into that namespace, and the sockets it opens stay in it for life
// (network_namespaces(7)). Do switches one locked OS thread for the length of a call,
// which is how the Go runtime lets a goroutine own a thread's state
// (runtime.LockOSThread).
package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// dir is where `ip netns add` mounts the namespaces it makes.
const dir = "/run/netns"

// Add makes a network namespace with `ip netns add name` and brings its loopback up.
// Without the privileges for it, it fails saying so.
func Add(name string) error {
	err := IP("netns", "add", name)
	if err != nil && (os.Geteuid() != 0 || strings.Contains(err.Error(), "not permitted")) {
		return fmt.Errorf("%w: network namespaces need root with CAP_SYS_ADMIN and CAP_NET_ADMIN; run the tests as root, as .ci/run does", err)
	}
	if err != nil {
		return err
	}
	return IP("-n", name, "link", "set", "lo", "up")
}

// Delete removes a namespace Add made; its links go with it.
func Delete(name string) error { return IP("netns", "delete", name) }

// IP runs iproute2's ip with args; its error carries what ip printed.
func IP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("ip not found: apt-get install iproute2")
	}
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Do runs fn on an OS thread switched into namespace name, then switches the thread
// back: a process fn starts (exec.Cmd.Start) and a socket fn opens stay in name. fn
// runs on a goroutine of its own, so a thread that cannot be switched back is never
// reused: it ends with that goroutine.
func Do(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored := false
		defer func() {
			if restored {
				runtime.UnlockOSThread()
			}
		}()
		errc <- func() error {
			self, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				return err
			}
			defer self.Close()
			target, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				return fmt.Errorf("network namespace %s: %w", name, err)
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				restored = true // never left
				return fmt.Errorf("entering network namespace %s: %w", name, err)
			}
			fnErr := fn()
			if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
				return errors.Join(fnErr, fmt.Errorf("leaving network namespace %s: %w", name, err))
			}
			restored = true
			return fnErr
		}()
	}()
	return <-errc
}

// Dialer returns a DialContext (for an http.Transport, say) whose connections are
// made from namespace name with d. Give it IP addresses: a name would be looked up
// on other threads, outside the namespace.
func Dialer(name string, d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := Do(name, func() error {
			var err error
			conn, err = d.DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

package proxy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vibepass/vibepass/proxy/metrics"
)

// TestFixedWindow checks counting, the reset time, that a new window forgets every
// key (so memory holds one window's keys), and the cap on keys.
func TestFixedWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 50, 0, time.UTC)
	l := newFixedWindow[string](metrics.New(), "test", 2, 3, func() time.Time { return now })
	take := func(key string, wantRemaining int, wantOK bool) {
		t.Helper()
		remaining, reset, ok := l.take(key)
		if remaining != wantRemaining || ok != wantOK || reset != 60*time.Second-time.Duration(now.Second())*time.Second {
			t.Fatalf("take(%q) at %s = %d, %s, %v; want %d, %v", key, now.Format(time.TimeOnly), remaining, reset, ok, wantRemaining, wantOK)
		}
	}
	take("a", 1, true)
	take("a", 0, true)
	take("a", 0, false)
	take("b", 1, true)
	take("c", 1, true)
	take("d", 0, false) // a fourth key is over the cap of 3
	take("c", 0, true)  // keys already counted go on as before

	now = now.Add(10 * time.Second) // 12:01:00, a new window
	take("d", 1, true)
	if len(l.counts) != 1 {
		t.Errorf("the new window holds %d keys, want only d", len(l.counts))
	}
	take("a", 1, true)
}

// TestFailureKey checks that IPv6 addresses count per /64 and IPv4 per address.
func TestFailureKey(t *testing.T) {
	for in, want := range map[string]string{
		"2001:db8:1:2:aaaa::1":  "2001:db8:1:2::",
		"2001:db8:1:2:ffff::9":  "2001:db8:1:2::",
		"2001:db8:1:3::1":       "2001:db8:1:3::",
		"203.0.113.7":           "203.0.113.7",
		"2001:db8:1:2:0:0:0:ff": "2001:db8:1:2::",
	} {
		if got := failureKey(netip.MustParseAddr(in)); got != netip.MustParseAddr(want) {
			t.Errorf("failureKey(%s) = %s, want %s", in, got, want)
		}
	}
}

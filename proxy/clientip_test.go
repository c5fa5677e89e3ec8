package proxy

import (
	"net/netip"
	"strings"
	"testing"
)

// trustedForTest parses a comma-separated trusted_proxies list.
func trustedForTest(t testing.TB, list string) []netip.Prefix {
	t.Helper()
	trusted, err := ParseTrustedProxies(strings.Split(list, ","))
	if err != nil {
		t.Fatal(err)
	}
	return trusted
}

// headerValues splits "\n"-separated header occurrences, as fasthttp's PeekAll gives them.
func headerValues(s string) [][]byte {
	var values [][]byte
	for _, v := range strings.Split(s, "\n") {
		values = append(values, []byte(v))
	}
	return values
}

// TestForwardedClient checks the right-to-left walk over client_ip.header.
func TestForwardedClient(t *testing.T) {
	trusted := trustedForTest(t, "127.0.0.1,10.0.0.0/8,2001:db8:ffff::/48")
	cases := []struct{ name, peer, header, want string }{
		{"untrusted peer ignores the header", "198.51.100.1", "203.0.113.1", "198.51.100.1"},
		{"no header", "10.0.0.1", "", "10.0.0.1"},
		{"one address", "10.0.0.1", "203.0.113.1", "203.0.113.1"},
		{"spoofed left part", "127.0.0.1", "1.1.1.1, 2.2.2.2, 203.0.113.1", "203.0.113.1"},
		{"trusted hops skipped", "127.0.0.1", "1.1.1.1, 203.0.113.1, 10.0.0.5, 10.1.2.3", "203.0.113.1"},
		{"a client forging a trusted address", "127.0.0.1", "10.0.0.9, 203.0.113.1", "203.0.113.1"},
		{"occurrences in order", "10.0.0.1", "1.1.1.1\n203.0.113.1, 10.0.0.2", "203.0.113.1"},
		{"last occurrence is rightmost", "10.0.0.1", "203.0.113.1\n1.1.1.1", "1.1.1.1"},
		{"empty elements skipped", "10.0.0.1", " ,203.0.113.1,, \t,10.0.0.2,", "203.0.113.1"},
		{"malformed stops at the last trusted hop", "127.0.0.1", "203.0.113.1, unknown, 10.0.0.7", "10.0.0.7"},
		{"malformed rightmost gives the peer", "127.0.0.1", "203.0.113.1, 203.0.113.2 x", "127.0.0.1"},
		{"all trusted gives the leftmost", "127.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"},
		{"port", "127.0.0.1", "1.1.1.1, 203.0.113.1:4711", "203.0.113.1"},
		{"IPv6 with port", "127.0.0.1", "[2001:db8::1]:443", "2001:db8::1"},
		{"IPv6 in brackets", "127.0.0.1", "[2001:db8::1]", "2001:db8::1"},
		{"trusted IPv6 hop", "127.0.0.1", "2001:db8::1, 2001:db8:ffff::5", "2001:db8::1"},
		{"IPv4-mapped is IPv4", "::ffff:127.0.0.1", "::ffff:203.0.113.1, ::ffff:10.0.0.1", "203.0.113.1"},
		{"zone refused", "127.0.0.1", "fe80::1%eth0", "127.0.0.1"},
		{"IPv4 in brackets refused", "127.0.0.1", "[203.0.113.1]", "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := forwardedClient(netip.MustParseAddr(tc.peer).Unmap(), headerValues(tc.header), trusted)
			if got != netip.MustParseAddr(tc.want) {
				t.Errorf("peer %s, header %q: client %s, want %s", tc.peer, tc.header, got, tc.want)
			}
		})
	}
}

// TestParseTrustedProxies checks the forms trusted_proxies accepts and refuses.
func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies([]string{"10.1.2.3/8", "::ffff:192.0.2.0/120", "2001:db8::1", "::ffff:198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.0/24", "2001:db8::1/128", "198.51.100.7/32"}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d parsed as %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "fe80::1%eth0", "example.com", "0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96"} {
		if p, err := ParseTrustedProxies([]string{"10.0.0.1", bad}); err == nil || p != nil {
			t.Errorf("%q accepted: %v", bad, p)
		}
	}
}

// FuzzClientIP checks forwardedClient on any header, peer and trusted list against
// the rule read plainly off a split string: never a panic; a peer that is not
// trusted is the client; otherwise the client is the first untrusted hop from the
// right, or, when the walk meets a malformed entry or the left end first, the last
// trusted hop passed (the peer if none). So the client is always the peer or an
// address in the header, and a trusted proxy only when every hop up to it is one.
func FuzzClientIP(f *testing.F) {
	f.Add("203.0.113.1, 127.0.0.1", "127.0.0.1", "127.0.0.0/8")
	f.Add("1.1.1.1\n203.0.113.1, 10.0.0.2", "10.0.0.1", "10.0.0.0/8")
	f.Add("unknown, 10.0.0.7", "127.0.0.1", "127.0.0.1,10.0.0.0/8")
	f.Add("[2001:db8::1]:443, ::ffff:10.0.0.1", "::ffff:10.0.0.1", "10.0.0.0/8,2001:db8::/32")
	f.Add(" ,,\t, ", "10.0.0.1", "10.0.0.1")
	f.Add("10.0.0.3, 10.0.0.2", "10.0.0.1", "10.0.0.0/8")
	f.Add("fe80::1%eth0, [203.0.113.1]:80", "198.51.100.1", "198.51.100.0/24")
	f.Fuzz(func(t *testing.T, header, peerText, trustedText string) {
		peer, err := netip.ParseAddr(peerText)
		if err != nil {
			return
		}
		peer = peer.Unmap()
		trusted, err := ParseTrustedProxies(strings.Split(trustedText, ","))
		if err != nil {
			return
		}
		got := forwardedClient(peer, headerValues(header), trusted)
		want := peer
		if isTrusted(peer, trusted) {
			elems := strings.Split(strings.ReplaceAll(header, "\n", ","), ",")
			for i := len(elems) - 1; i >= 0; i-- {
				e := strings.Trim(elems[i], " \t")
				if e == "" {
					continue
				}
				hop, ok := parseHop(e)
				if !ok {
					break
				}
				if want = hop; !isTrusted(hop, trusted) {
					break
				}
			}
		}
		if got != want {
			t.Fatalf("peer %s, header %q, trusted %v: client %s, want %s", peer, header, trusted, got, want)
		}
	})
}

package proxy

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/gofiber/fiber/v2"
)

// ParseTrustedProxies parses client_ip.trusted_proxies: each entry an IP or a CIDR.
// IPv4-mapped IPv6 forms become plain IPv4, so one address never matches twice or
// not at all depending on how it was written. A prefix of length 0 is refused: it
// would trust every peer, and then every client could name its own IP. On an error
// it returns nil, so a caller that ignores the error trusts nobody.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	prefixes := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		p, err := parseTrustedProxy(e)
		if err != nil {
			return nil, err
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, nil
}

func parseTrustedProxy(e string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(e); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(e)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP nor a CIDR", e)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("%q trusts every address, so any client could name its own IP", e)
	}
	return p.Masked(), nil
}

// clientIP returns the address the per-IP limit counts a request against: the
// connection's, or, behind trusted proxies, the one they report in client_ip.header.
func (s *Server) clientIP(c *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	if s.cfg.ClientIP.Header == "" {
		return peer.Unmap()
	}
	return forwardedClient(peer.Unmap(), c.Request().Header.PeekAll(s.cfg.ClientIP.Header), s.trusted)
}

// forwardedClient finds the client behind a chain of proxies. values are the
// header's occurrences in order, each a comma-separated list to which every proxy
// appended the address it received the request from, so only the right end is
// written by proxies and everything left of the first untrusted hop is whatever the
// client sent. The walk goes from the right, skipping trusted hops:
//
//   - a peer that is not trusted is the client, and its header is ignored;
//   - the first untrusted address is the client;
//   - an entry that is not an IP (a proxy's "unknown", garbage) stops the walk, and
//     the last trusted hop passed (or the peer) stands for the client, since nothing
//     to its left can be believed;
//   - if every entry is trusted, the leftmost one is the client.
//
// Empty list elements are skipped (RFC 9110 §5.6.1). Single-value headers such as
// X-Real-IP or CF-Connecting-IP are the one-element case.
func forwardedClient(peer netip.Addr, values [][]byte, trusted []netip.Prefix) netip.Addr {
	if !isTrusted(peer, trusted) {
		return peer
	}
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		list := values[i]
		for len(list) > 0 {
			var elem []byte
			if j := bytes.LastIndexByte(list, ','); j >= 0 {
				elem, list = list[j+1:], list[:j]
			} else {
				elem, list = list, nil
			}
			elem = bytes.Trim(elem, " \t")
			if len(elem) == 0 {
				continue
			}
			hop, ok := parseHop(string(elem))
			if !ok {
				return client
			}
			if !isTrusted(hop, trusted) {
				return hop
			}
			client = hop
		}
	}
	return client
}

// parseHop reads one forwarded address: an IP, or an IP with a port as some load
// balancers write it ("192.0.2.1:4711", "[2001:db8::1]:443", "[2001:db8::1]").
// Addresses with a zone are refused: no client on the internet has one.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(s); perr == nil {
			a, err = ap.Addr(), nil
		} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err == nil && !a.Is6() {
				return netip.Addr{}, false
			}
		}
	}
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// isTrusted reports whether a is one of the trusted proxies.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

package auth

import (
	"crypto"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vibepass/vibepass"
)

// defaultCacheBytes bounds the verified-token cache when Options.CacheBytes is 0. An
// entry is its token, its decoded claims and cacheEntryOverhead: about 1.3 KB for the
// bench's tokens (26,000 fit) and about 2 KB for a Supabase token with some metadata
// (16,000 fit). Holding all of 100,000 users at once would take about 200 MB, more than
// the proxy's whole resident set; random eviction still gives a share of hits then.
const defaultCacheBytes = 32 << 20

// cacheEntryOverhead is what an entry costs beyond its token and claims bytes: the map
// slot, the entry and the Caller's headers, rounded up.
const cacheEntryOverhead = 256

// verifiedToken is a token that passed every check, and what a later request with the
// same token must re-check: the time window and, for a JWKS token, that its key is
// still published.
type verifiedToken struct {
	caller vibepass.Caller
	// expires is exp plus the leeway: the token is refused from then on.
	expires time.Time
	// notBefore is nbf less the leeway (zero without nbf): the token is refused before it.
	notBefore time.Time
	// alg and kid name the JWKS key that verified the token, and key is that key; key is
	// nil for an HS256 token, whose secret cannot change while the Verifier lives.
	alg, kid string
	key      crypto.PublicKey
	size     int
}

// tokenCache holds verified tokens so that a client sending the same token again (a
// status poll every minute) pays neither the signature nor the claims a second time.
// Entries are keyed by the whole token: a Go map compares its string keys byte for
// byte after the hash, so no two tokens can share an entry. It holds at most limit
// bytes; past that, entries are evicted at random (the map's iteration order), which,
// unlike LRU or FIFO, still gives some hits when more clients poll in turn than fit.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]*verifiedToken
	bytes   int
	limit   int
	// hits and misses count lookups answered from the cache and those that were not (no
	// entry, or one that ran out or lost its key); evictions, entries dropped for room.
	hits, misses, evictions atomic.Uint64
}

func newTokenCache(limit int) *tokenCache {
	return &tokenCache{entries: map[string]*verifiedToken{}, limit: limit}
}

// get returns the entry for token, if any.
func (c *tokenCache) get(token string) *verifiedToken {
	c.mu.Lock()
	e := c.entries[token]
	c.mu.Unlock()
	return e
}

// put stores e under its caller's token, evicting entries until it fits.
func (c *tokenCache) put(e *verifiedToken) {
	e.size = len(e.caller.Token) + len(e.caller.Claims) + cacheEntryOverhead
	if e.size > c.limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[e.caller.Token]; ok {
		c.bytes -= old.size
	}
	for key, old := range c.entries {
		if c.bytes+e.size <= c.limit {
			break
		}
		delete(c.entries, key)
		c.bytes -= old.size
		c.evictions.Add(1)
	}
	c.entries[e.caller.Token] = e
	c.bytes += e.size
}

// drop removes e, if it is still token's entry.
func (c *tokenCache) drop(e *verifiedToken) {
	c.mu.Lock()
	if c.entries[e.caller.Token] == e {
		delete(c.entries, e.caller.Token)
		c.bytes -= e.size
	}
	c.mu.Unlock()
}

// CacheStats is what a Verifier's cache of verified tokens holds and has done, for the
// metrics.
type CacheStats struct {
	// Hits are tokens answered from the cache; Misses, tokens verified in full although the
	// cache was on (first seen, evicted, run out, or their key gone); Evictions, entries
	// dropped to make room.
	Hits, Misses, Evictions uint64
	// Entries and Bytes are what the cache holds now, of LimitBytes.
	Entries, Bytes, LimitBytes int
}

// stats returns the cache's counts.
func (c *tokenCache) stats() CacheStats {
	entries, bytes := c.len()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(),
		Entries: entries, Bytes: bytes, LimitBytes: c.limit}
}

// len returns the number of entries and their bytes.
func (c *tokenCache) len() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.bytes
}

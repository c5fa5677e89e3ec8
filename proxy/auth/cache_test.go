package auth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// movableClock is a test clock that a test sets.
type movableClock struct{ now atomic.Int64 }

func newMovableClock() *movableClock {
	c := &movableClock{}
	c.set(testNow)
	return c
}

func (c *movableClock) set(t time.Time) { c.now.Store(t.UnixNano()) }
func (c *movableClock) time() time.Time { return time.Unix(0, c.now.Load()).UTC() }

// newJWKSVerifier serves key in a JWKS and returns a Verifier of it.
func newJWKSVerifier(t *testing.T, key signingKey) (*jwksServer, *Verifier) {
	t.Helper()
	jwks := newJWKSServer(t, key)
	return jwks, newTestVerifier(t, Options{JWKSURL: jwks.jwksURL()})
}

// TestCachedTokenHonoursExpiry: a cached token is refused once exp (plus the leeway) has
// passed, and before nbf (less the leeway), exactly as an uncached one.
func TestCachedTokenHonoursExpiry(t *testing.T) {
	clock := newMovableClock()
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), Leeway: 10 * time.Second, Clock: clock.time})
	ctx := context.Background()
	nbf := testNow.Add(-time.Minute)
	exp := testNow.Add(time.Minute)
	token := signWith(t, jwt.SigningMethodHS256, []byte(devtoken.Secret), "", userClaims(t, func(c jwt.MapClaims) {
		c["nbf"], c["exp"] = nbf.Unix(), exp.Unix()
	}))
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	if n, _ := v.cache.len(); n != 1 {
		t.Fatalf("%d cached tokens, want 1", n)
	}
	for _, tc := range []struct {
		at      time.Time
		message string // "" for valid
	}{
		{exp.Add(10*time.Second - time.Nanosecond), ""},
		{exp.Add(10 * time.Second), vibepass.ErrTokenExpired.Message},
		{nbf.Add(-10 * time.Second), ""},
		{nbf.Add(-10*time.Second - time.Second), msgNotYetValid},
		{testNow, ""},
	} {
		clock.set(tc.at)
		_, err := v.Verify(ctx, token)
		switch {
		case tc.message == "" && err != nil:
			t.Errorf("at %s: %v, want valid", tc.at, err)
		case tc.message != "":
			wantError(t, err, vibepass.EUNAUTHORIZED, tc.message)
		}
	}
	// Misses: the first sight, the two entries dropped for their window, and the two
	// verifications in full that followed a drop; the one hit is the first re-check.
	if st, _ := v.CacheStats(); st.Hits != 1 || st.Misses != 5 || st.Evictions != 0 {
		t.Errorf("cache stats %+v, want 1 hit, 5 misses, no evictions", st)
	}
}

// TestCachedTokenEndsWithItsKey: once the key that signed a cached token leaves the
// JWKS, or is published for another use, the token is refused at once.
func TestCachedTokenEndsWithItsKey(t *testing.T) {
	for _, method := range []jwt.SigningMethod{jwt.SigningMethodES256, jwt.SigningMethodRS256} {
		t.Run(method.Alg(), func(t *testing.T) {
			old := newSigningKey(t, method, "key-1")
			jwks, v := newJWKSVerifier(t, old)
			ctx := context.Background()
			token := old.sign(t, userClaims(t, nil))
			for range 2 {
				if _, err := v.Verify(ctx, token); err != nil {
					t.Fatalf("token of the published key: %v", err)
				}
			}
			if n, _ := v.cache.len(); n != 1 {
				t.Fatalf("%d cached tokens, want 1", n)
			}

			// Key-1 is replaced by another key under the same kid, then removed: a token of
			// the new key makes the verifier fetch the set again, as a refresh would.
			reused := newSigningKey(t, method, "key-1")
			jwks.publish(t, reused)
			if _, err := v.Verify(ctx, signWith(t, method, reused.key, "key-9", userClaims(t, nil))); err == nil {
				t.Fatal("a token of an unpublished kid was accepted")
			}
			_, err := v.Verify(ctx, token)
			wantError(t, err, vibepass.EUNAUTHORIZED, msgBadSignature)
			if n, _ := v.cache.len(); n != 0 {
				t.Fatalf("%d cached tokens after the key changed, want 0", n)
			}
		})
	}
}

// TestCachedTokenEndsWhenItsKeyIsRemoved: a JWKS refresh that drops the key ends a
// cached token of it, and the token is refused as a fresh one of an unknown key.
func TestCachedTokenEndsWhenItsKeyIsRemoved(t *testing.T) {
	old := newSigningKey(t, jwt.SigningMethodES256, "key-1")
	next := newSigningKey(t, jwt.SigningMethodES256, "key-2")
	jwks, v := newJWKSVerifier(t, old)
	ctx := context.Background()
	token := old.sign(t, userClaims(t, nil))
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	jwks.publish(t, next)
	// key-2 is unknown to the verifier: it fetches the set, which no longer holds key-1.
	if _, err := v.Verify(ctx, next.sign(t, userClaims(t, nil))); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	_, err := v.Verify(ctx, token)
	wantError(t, err, vibepass.EUNAUTHORIZED, msgUnknownKey)
}

// TestCachedTokensNeverShareAnEntry: tokens that differ anywhere, even in one
// signature character or only in their claims, each get their own verification.
func TestCachedTokensNeverShareAnEntry(t *testing.T) {
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret)})
	ctx := context.Background()
	subs := []string{testSub, "00000000-0000-4000-8000-000000000002"}
	var tokens []string
	for _, sub := range subs {
		token := signWith(t, jwt.SigningMethodHS256, []byte(devtoken.Secret), "", userClaims(t, func(c jwt.MapClaims) { c["sub"] = sub }))
		tokens = append(tokens, token)
		for range 2 {
			who, err := v.Verify(ctx, token)
			if err != nil || who.UserID != sub || who.Token != token || !strings.Contains(string(who.Claims), sub) {
				t.Fatalf("Verify = %+v, %v, want %s", who, err, sub)
			}
		}
	}
	// The same token with its signature changed (its first character: the last one
	// may carry only padding bits, which base64 decoders ignore), a byte longer, or cut short.
	valid := tokens[0]
	dot := strings.LastIndexByte(valid, '.')
	flipped := "A"
	if valid[dot+1] == 'A' {
		flipped = "B"
	}
	for _, forged := range []string{valid[:dot+1] + flipped + valid[dot+2:], valid + "A", valid[:len(valid)-1],
		valid[:dot+1] + strings.Repeat("A", len(valid)-dot-1)} {
		if _, err := v.Verify(ctx, forged); err == nil {
			t.Errorf("forged token %q accepted", forged)
		}
	}
	if n, _ := v.cache.len(); n != len(subs) {
		t.Errorf("%d cached tokens, want %d", n, len(subs))
	}
}

// TestTokenCacheIsBounded: however many tokens are verified, the cache stays within its
// bytes, evicting others; an evicted token verifies again as usual.
func TestTokenCacheIsBounded(t *testing.T) {
	const limit = 16 << 10
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), CacheBytes: limit})
	ctx := context.Background()
	var tokens []string
	for i := range 200 {
		sub := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		token := signWith(t, jwt.SigningMethodHS256, []byte(devtoken.Secret), "", userClaims(t, func(c jwt.MapClaims) { c["sub"] = sub }))
		tokens = append(tokens, token)
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
		if _, bytes := v.cache.len(); bytes > limit {
			t.Fatalf("after %d tokens the cache holds %d bytes, over its %d", i+1, bytes, limit)
		}
	}
	entries, _ := v.cache.len()
	if entries == 0 || entries >= len(tokens) {
		t.Fatalf("%d of %d tokens cached, want some evicted", entries, len(tokens))
	}
	if st, _ := v.CacheStats(); st.Misses != uint64(len(tokens)) || st.Hits != 0 || st.Evictions != uint64(len(tokens)-entries) || st.LimitBytes != limit {
		t.Errorf("cache stats %+v after %d new tokens, %d of them held, want that many misses and the rest evicted", st, len(tokens), entries)
	}
	for i, token := range tokens {
		if who, err := v.Verify(ctx, token); err != nil || who.Token != token {
			t.Fatalf("token %d after eviction: %+v, %v", i, who, err)
		}
	}
	if st, _ := v.CacheStats(); st.Hits+st.Misses != uint64(2*len(tokens)) {
		t.Errorf("cache stats %+v, want one lookup per verification (%d)", st, 2*len(tokens))
	}

	off := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), CacheBytes: -1})
	if _, err := off.Verify(ctx, tokens[0]); err != nil || off.cache != nil {
		t.Fatalf("with the cache off: %v, cache %v", err, off.cache)
	}
	if _, on := off.CacheStats(); on {
		t.Error("CacheStats reports a cache that is off")
	}
}

// TestTokenCacheUnderConcurrentUse: goroutines verifying overlapping tokens through a
// cache too small for them all each get their own token's caller (run with -race).
func TestTokenCacheUnderConcurrentUse(t *testing.T) {
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), CacheBytes: 8 << 10})
	ctx := context.Background()
	tokens := make([]string, 32)
	for i := range tokens {
		sub := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		tokens[i] = signWith(t, jwt.SigningMethodHS256, []byte(devtoken.Secret), "", userClaims(t, func(c jwt.MapClaims) { c["sub"] = sub }))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				token := tokens[(g+i)%len(tokens)]
				if who, err := v.Verify(ctx, token); err != nil || who.Token != token {
					t.Errorf("Verify = %+v, %v", who, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, bytes := v.cache.len(); bytes > 8<<10 {
		t.Errorf("the cache holds %d bytes, over its %d", bytes, 8<<10)
	}
}

package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass/internal/benchcpu"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// benchTokens is how many distinct tokens a miss benchmark cycles through: more than
// missCacheBytes holds, so that (almost) every Verify finds its token evicted.
const (
	benchTokens    = 1024
	missCacheBytes = 8 << 10
)

// benchVerify reports the cost of verifying one user token, as every user request pays
// it: "hit" sends one token again and again, as a client polling with its token does;
// "miss" cycles through benchTokens tokens, each seen for the first time as far as a
// small cache can tell.
func benchVerify(b *testing.B, opts Options, sign func(sub string) string) {
	b.Run("hit", func(b *testing.B) {
		runVerify(b, newTestVerifier(b, opts), []string{sign(testSub)})
	})
	b.Run("miss", func(b *testing.B) {
		opts.CacheBytes = missCacheBytes
		tokens := make([]string, benchTokens)
		for i := range tokens {
			tokens[i] = sign(fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
		}
		runVerify(b, newTestVerifier(b, opts), tokens)
	})
}

func runVerify(b *testing.B, v *Verifier, tokens []string) {
	ctx := context.Background()
	for _, token := range tokens {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	defer benchcpu.PerOp(b)()
	i := 0
	for b.Loop() {
		if _, err := v.Verify(ctx, tokens[i%len(tokens)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// signedBy returns a function that signs a Supabase user token for a sub with key.
func signedBy(b *testing.B, key signingKey) func(string) string {
	return func(sub string) string {
		return key.sign(b, userClaims(b, func(c jwt.MapClaims) { c["sub"] = sub }))
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	benchVerify(b, Options{HS256Secret: []byte(devtoken.Secret)}, func(sub string) string {
		token, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: sub, Email: "ada@example.com"}, testNow)
		if err != nil {
			b.Fatal(err)
		}
		return token
	})
}

func BenchmarkVerifyES256(b *testing.B) {
	key := newSigningKey(b, jwt.SigningMethodES256, "es-1")
	benchVerify(b, Options{JWKSURL: newJWKSServer(b, key).jwksURL()}, signedBy(b, key))
}

func BenchmarkVerifyRS256(b *testing.B) {
	key := newSigningKey(b, jwt.SigningMethodRS256, "rs-1")
	benchVerify(b, Options{JWKSURL: newJWKSServer(b, key).jwksURL()}, signedBy(b, key))
}

// BenchmarkTokenClaims reports the cost of reading a Supabase token's claims exactly
// (tokenClaims.UnmarshalJSON), which every verification that misses the cache pays.
func BenchmarkTokenClaims(b *testing.B) {
	token, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: testSub, Email: "ada@example.com"}, testNow)
	if err != nil {
		b.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var c tokenClaims
		if err := c.UnmarshalJSON(payload); err != nil {
			b.Fatal(err)
		}
	}
}

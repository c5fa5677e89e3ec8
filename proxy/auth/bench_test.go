package auth

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// benchVerify reports the cost of verifying one user token, as every user request pays it.
func benchVerify(b *testing.B, v *Verifier, token string) {
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	v := newTestVerifier(b, Options{HS256Secret: []byte(devtoken.Secret)})
	token, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: testSub, Email: "ada@example.com"}, testNow)
	if err != nil {
		b.Fatal(err)
	}
	benchVerify(b, v, token)
}

func BenchmarkVerifyES256(b *testing.B) {
	key := newSigningKey(b, jwt.SigningMethodES256, "es-1")
	v := newTestVerifier(b, Options{JWKSURL: newJWKSServer(b, key).jwksURL()})
	benchVerify(b, v, key.sign(b, userClaims(b, nil)))
}

func BenchmarkVerifyRS256(b *testing.B) {
	key := newSigningKey(b, jwt.SigningMethodRS256, "rs-1")
	v := newTestVerifier(b, Options{JWKSURL: newJWKSServer(b, key).jwksURL()})
	benchVerify(b, v, key.sign(b, userClaims(b, nil)))
}

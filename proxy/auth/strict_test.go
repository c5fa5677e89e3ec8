package auth

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/internal/benchcpu"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// otherSub is the user a forged duplicate claim would make the proxy see.
const otherSub = "00000000-0000-4000-8000-00000000beef"

// hsHeader is the JOSE header devtoken and Supabase's legacy secret produce.
const hsHeader = `{"alg":"HS256","typ":"JWT"}`

// rawClaims returns valid user claims as JSON text, changed by edit, with extra
// members (raw JSON, duplicates allowed) appended after the others.
func rawClaims(t testing.TB, edit func(jwt.MapClaims), extra string) string {
	t.Helper()
	b, err := json.Marshal(userClaims(t, edit))
	if err != nil {
		t.Fatal(err)
	}
	if extra == "" {
		return string(b)
	}
	return strings.TrimSuffix(string(b), "}") + "," + extra + "}"
}

// A payload that encoding/json and Postgres's jsonb would read differently is refused:
// exact and case-variant duplicate keys, and claims spelled in another case are not the
// claim. The proxy must never see one user or role while the database sees another.
func TestVerifyReadsClaimsExactly(t *testing.T) {
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret)})
	secret := []byte(devtoken.Secret)
	noMetadata := func(c jwt.MapClaims) { delete(c, "user_metadata") }
	cases := []struct {
		name, header, payload, message string
	}{
		{"case-variant duplicate sub", hsHeader, rawClaims(t, nil, `"SUB":"`+otherSub+`"`), msgDuplicateKey},
		{"case-variant sub before sub", hsHeader, `{"SUB":"` + otherSub + `",` + strings.TrimPrefix(rawClaims(t, nil, ""), "{"), msgDuplicateKey},
		{"sub only in capitals", hsHeader, rawClaims(t, func(c jwt.MapClaims) { delete(c, "sub") }, `"SUB":"`+otherSub+`"`), msgBadSubject},
		{"sub spelled with a long s", hsHeader, rawClaims(t, nil, `"ſub":"`+otherSub+`"`), msgDuplicateKey},
		{"case-variant duplicate role", hsHeader,
			rawClaims(t, func(c jwt.MapClaims) { c["role"] = "service_role" }, `"Role":"authenticated"`), msgDuplicateKey},
		{"role only capitalised", hsHeader, rawClaims(t, func(c jwt.MapClaims) { delete(c, "role") }, `"Role":"authenticated"`), msgWrongRole},
		{"aud only capitalised", hsHeader, rawClaims(t, func(c jwt.MapClaims) { delete(c, "aud") }, `"AUD":"authenticated"`), msgWrongAudience},
		{"exact duplicate sub", hsHeader, rawClaims(t, nil, `"sub":"`+otherSub+`"`), msgDuplicateKey},
		{"duplicate sub by escape", hsHeader, rawClaims(t, nil, `"s\u0075b":"`+otherSub+`"`), msgDuplicateKey},
		{"duplicate key in user_metadata", hsHeader, rawClaims(t, noMetadata, `"user_metadata":{"a":1,"a":2}`), msgDuplicateKey},
		{"duplicate key deep in an array", hsHeader, rawClaims(t, noMetadata, `"user_metadata":{"l":[{"x":{"k":1,"k":1}}]}`), msgDuplicateKey},
		{"duplicate header key", `{"alg":"HS256","typ":"JWT","typ":"JWT"}`, rawClaims(t, nil, ""), msgDuplicateKey},
		{"crit header", `{"alg":"HS256","typ":"JWT","crit":["exp"],"exp":1}`, rawClaims(t, nil, ""), msgCritical},
		{"empty crit header", `{"alg":"HS256","typ":"JWT","crit":[]}`, rawClaims(t, nil, ""), msgCritical},
		{"null crit header", `{"alg":"HS256","typ":"JWT","crit":null}`, rawClaims(t, nil, ""), msgCritical},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			caller, err := v.Verify(context.Background(), signRaw(t, jwt.SigningMethodHS256, secret, tc.header, tc.payload))
			wantError(t, err, vibepass.EUNAUTHORIZED, tc.message)
			if caller.UserID != "" {
				t.Errorf("caller = %+v on failure", caller)
			}
		})
	}

	// What stays accepted: case variants below the top level (user metadata is the user's
	// own, and the proxy reads nothing there), and a "Crit" that is not the crit header.
	for name, tc := range map[string]struct{ header, payload string }{
		"case variants in user_metadata": {hsHeader, rawClaims(t, noMetadata, `"user_metadata":{"Name":"a","name":"b"}`)},
		"header key Crit":                {`{"alg":"HS256","typ":"JWT","Crit":["exp"]}`, rawClaims(t, nil, "")},
	} {
		t.Run(name, func(t *testing.T) {
			caller, err := v.Verify(context.Background(), signRaw(t, jwt.SigningMethodHS256, secret, tc.header, tc.payload))
			if err != nil || caller.UserID != testSub || string(caller.Claims) != tc.payload {
				t.Fatalf("Verify = %+v, %v; want %s with the payload as signed", caller, err, testSub)
			}
		})
	}
}

// A JWKS key meant for encryption (use "enc"), or whose key_ops leave out "verify", never
// verifies a token, even one it signed, whether the token names its kid or not.
func TestVerifyOnlyWithSigningKeys(t *testing.T) {
	enc := newSigningKey(t, jwt.SigningMethodES256, "enc-1")
	enc.use = jwkset.UseEnc
	signOnly := newSigningKey(t, jwt.SigningMethodES256, "ops-sign")
	signOnly.ops = []jwkset.KEYOPS{jwkset.KeyOpsSign}
	good := newSigningKey(t, jwt.SigningMethodES256, "sig-1")
	good.ops = []jwkset.KEYOPS{jwkset.KeyOpsVerify}
	v := newTestVerifier(t, Options{JWKSURL: newJWKSServer(t, enc, signOnly, good).jwksURL()})
	ctx := context.Background()

	for _, k := range []signingKey{enc, signOnly} {
		_, err := v.Verify(ctx, k.sign(t, userClaims(t, nil)))
		wantError(t, err, vibepass.EUNAUTHORIZED, msgUnknownKey)
		// Without a kid every usable key is tried: only the signing key is, and it did not sign.
		_, err = v.Verify(ctx, signWith(t, k.method, k.key, "", userClaims(t, nil)))
		wantError(t, err, vibepass.EUNAUTHORIZED, msgBadSignature)
	}
	for _, kid := range []string{good.kid, ""} {
		if _, err := v.Verify(ctx, signWith(t, good.method, good.key, kid, userClaims(t, nil))); err != nil {
			t.Fatalf("token of the signing key (kid %q): %v", kid, err)
		}
	}
}

// BenchmarkReadClaims reports the cost of reading a Supabase user token's payload as
// Verify does on a cache miss: every object checked for duplicate names, the top-level
// names for case variants, and the claims Verify uses decoded.
func BenchmarkReadClaims(b *testing.B) {
	payload, err := json.Marshal(userClaims(b, func(c jwt.MapClaims) {
		c["user_metadata"] = map[string]any{"display_name": "Ada", "avatar_url": "https://example.com/a.png", "email_verified": true,
			"preferences": []float64{0.5, 0.25, 0.1, 0.9, 0.7}}
	}))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer benchcpu.PerOp(b)()
	for b.Loop() {
		var c tokenClaims
		if err := c.UnmarshalJSON(payload); err != nil || c.Subject != testSub {
			b.Fatalf("%v: %+v", err, c)
		}
	}
}

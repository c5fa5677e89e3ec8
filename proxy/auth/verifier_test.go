package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

func TestVerifyHS256(t *testing.T) {
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret)})
	token, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: testSub, Email: "ada@example.com"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	caller, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if caller.UserID != testSub || caller.Token != token {
		t.Fatalf("caller = %q %q, want %q and the token", caller.UserID, caller.Token, testSub)
	}

	// Claims are the payload as signed, ready for request.jwt.claims.
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	if string(caller.Claims) != string(payload) {
		t.Fatalf("claims = %s, want the payload %s", caller.Claims, payload)
	}
	var claims map[string]any
	if err := json.Unmarshal(caller.Claims, &claims); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]any{"sub": testSub, "role": "authenticated", "aud": "authenticated", "email": "ada@example.com"} {
		if claims[name] != want {
			t.Errorf("claims[%s] = %v, want %v", name, claims[name], want)
		}
	}
}

// TestVerifyOneSpellingPerToken: an HS256 signature is 32 bytes, 43 base64url characters
// whose last one carries 2 unused bits. The three other values of those bits decode to the
// same signature; each must be refused, so a token has one spelling.
func TestVerifyOneSpellingPerToken(t *testing.T) {
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret)})
	token, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: testSub}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, token[len(token)-1])
	for low := range 4 {
		other := last&^3 | low
		if other == last {
			continue
		}
		respelled := token[:len(token)-1] + alphabet[other:other+1]
		if _, err := v.Verify(context.Background(), respelled); vibepass.ErrorCode(err) != vibepass.EUNAUTHORIZED {
			t.Errorf("the token respelled with last character %q: %v, want 401", alphabet[other], err)
		}
	}
}

func TestVerifyFailures(t *testing.T) {
	es := newSigningKey(t, jwt.SigningMethodES256, "es-1")
	jwks := newJWKSServer(t, es)
	both := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), JWKSURL: jwks.jwksURL()})
	hsOnly := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret)})
	jwksOnly := newTestVerifier(t, Options{JWKSURL: jwks.jwksURL()})

	secret := []byte(devtoken.Secret)
	hs := func(edit func(jwt.MapClaims)) string {
		return signWith(t, jwt.SigningMethodHS256, secret, "", userClaims(t, edit))
	}
	valid := hs(nil)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
		[]byte(strings.Replace(string(mustDecode(t, parts[1])), testSub, "00000000-0000-4000-8000-000000000000", 1))) + "." + parts[2]
	noneToken := signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", userClaims(t, nil))
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustMarshalPKIX(t, es.key.Public())})
	confused := signWith(t, jwt.SigningMethodHS256, publicPEM, es.kid, userClaims(t, nil))
	unknownKid := newSigningKey(t, jwt.SigningMethodES256, "never-published").sign(t, userClaims(t, nil))
	wrongKeyForKid := signingKey{method: jwt.SigningMethodES256, kid: es.kid, key: newSigningKey(t, jwt.SigningMethodES256, "x").key}.sign(t, userClaims(t, nil))

	cases := []struct {
		name    string
		v       *Verifier
		token   string
		message string
	}{
		{"missing", both, "", msgMissing},
		{"one segment", both, "not-a-jwt", msgMalformed},
		{"garbage segments", both, "a.b.c", msgMalformed},
		{"payload not json", both, parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("{")) + "." + parts[2], msgMalformed},
		{"expired past leeway", both, hs(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-31 * time.Second).Unix() }), vibepass.ErrTokenExpired.Message},
		{"no exp", both, hs(func(c jwt.MapClaims) { delete(c, "exp") }), msgNoExpiry},
		{"nbf in the future", both, hs(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() }), msgNotYetValid},
		{"signed with another secret", both, signWith(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40)), "", userClaims(t, nil)), msgBadSignature},
		{"tampered payload", both, tampered, msgBadSignature},
		{"ES256 kid with another key", both, wrongKeyForKid, msgBadSignature},
		{"wrong audience", both, hs(func(c jwt.MapClaims) { c["aud"] = "anon" }), msgWrongAudience},
		{"no audience", both, hs(func(c jwt.MapClaims) { delete(c, "aud") }), msgWrongAudience},
		{"anon role", both, hs(func(c jwt.MapClaims) { c["role"] = "anon" }), msgWrongRole},
		{"service_role", both, hs(func(c jwt.MapClaims) { c["role"] = "service_role" }), msgWrongRole},
		{"no role", both, hs(func(c jwt.MapClaims) { delete(c, "role") }), msgWrongRole},
		{"sub not a uuid", both, hs(func(c jwt.MapClaims) { c["sub"] = "ada" }), msgBadSubject},
		{"no sub", both, hs(func(c jwt.MapClaims) { delete(c, "sub") }), msgBadSubject},
		{"unknown kid", both, unknownKid, msgUnknownKey},
		{"alg none", both, noneToken, msgUnsupportedAlg},
		{"HS512", both, signWith(t, jwt.SigningMethodHS512, secret, "", userClaims(t, nil)), msgUnsupportedAlg},
		{"HS256 without a secret", jwksOnly, valid, msgUnsupportedAlg},
		{"ES256 without a JWKS", hsOnly, es.sign(t, userClaims(t, nil)), msgUnsupportedAlg},
		{"HS256 signed with the public key", both, confused, msgBadSignature},
		{"HS256 signed with the public key, no secret", jwksOnly, confused, msgUnsupportedAlg},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			caller, err := tc.v.Verify(context.Background(), tc.token)
			wantError(t, err, vibepass.EUNAUTHORIZED, tc.message)
			if caller.UserID != "" {
				t.Errorf("caller = %+v on failure", caller)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret)})
	claims := userClaims(t, func(c jwt.MapClaims) { c["exp"] = testNow.Add(-29 * time.Second).Unix() })
	if _, err := v.Verify(context.Background(), signWith(t, jwt.SigningMethodHS256, []byte(devtoken.Secret), "", claims)); err != nil {
		t.Fatalf("token expired 29 s ago: %v, want accepted within the 30 s leeway", err)
	}
}

// An HS256 token naming a kid must still be checked with the secret, not looked up in the JWKS.
func TestVerifyHS256WithKid(t *testing.T) {
	jwks := newJWKSServer(t, newSigningKey(t, jwt.SigningMethodES256, "es-1"))
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), JWKSURL: jwks.jwksURL()})
	token := signWith(t, jwt.SigningMethodHS256, []byte(devtoken.Secret), "legacy", userClaims(t, nil))
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyLargeMetadata(t *testing.T) {
	es := newSigningKey(t, jwt.SigningMethodES256, "es-1")
	jwks := newJWKSServer(t, es)
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), JWKSURL: jwks.jwksURL()})
	metadata := map[string]any{"bio": strings.Repeat("vibes ", 8192/6+1)}

	hs, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: testSub, UserMetadata: metadata}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	ec := es.sign(t, userClaims(t, func(c jwt.MapClaims) { c["user_metadata"] = metadata }))
	for name, token := range map[string]string{"HS256": hs, "ES256": ec} {
		if len(token) < 8192 {
			t.Fatalf("%s token is %d bytes, want over 8 KB", name, len(token))
		}
		caller, err := v.Verify(context.Background(), token)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var claims struct {
			UserMetadata map[string]string `json:"user_metadata"`
		}
		if err := json.Unmarshal(caller.Claims, &claims); err != nil {
			t.Fatal(err)
		}
		if claims.UserMetadata["bio"] != metadata["bio"] {
			t.Fatalf("%s: user_metadata did not survive", name)
		}
	}
}

// A new key published by rotation is picked up on first sight of its kid; a kid
// never published fails fast and refetches the JWKS at most once a minute.
func TestJWKSRotation(t *testing.T) {
	for _, method := range []jwt.SigningMethod{jwt.SigningMethodES256, jwt.SigningMethodRS256} {
		t.Run(method.Alg(), func(t *testing.T) {
			old := newSigningKey(t, method, "key-1")
			jwks := newJWKSServer(t, old)
			v := newTestVerifier(t, Options{JWKSURL: jwks.jwksURL()})
			ctx := context.Background()

			if _, err := v.Verify(ctx, old.sign(t, userClaims(t, nil))); err != nil {
				t.Fatalf("token of the published key: %v", err)
			}

			rotated := newSigningKey(t, method, "key-2")
			jwks.publish(t, old, rotated)
			caller, err := v.Verify(ctx, rotated.sign(t, userClaims(t, nil)))
			if err != nil {
				t.Fatalf("token of the key published by rotation: %v", err)
			}
			if caller.UserID != testSub {
				t.Fatalf("caller = %q", caller.UserID)
			}
			if _, err := v.Verify(ctx, old.sign(t, userClaims(t, nil))); err != nil {
				t.Fatalf("token of the key still published: %v", err)
			}

			fetches := jwks.fetches.Load()
			stranger := newSigningKey(t, method, "never-published")
			for range 3 {
				start := time.Now()
				_, err = v.Verify(ctx, stranger.sign(t, userClaims(t, nil)))
				wantError(t, err, vibepass.EUNAUTHORIZED, msgUnknownKey)
				// A bound on stalling, not a benchmark: keyfunc's default would wait up to a minute.
				if took := time.Since(start); took > 2*time.Second {
					t.Fatalf("unknown kid took %s to refuse", took)
				}
			}
			if got := jwks.fetches.Load() - fetches; got > 1 {
				t.Fatalf("unknown kids fetched the JWKS %d times, want at most once a minute", got)
			}
		})
	}
}

// A JWKS that cannot be fetched at start leaves HS256 working, refuses ES256 with
// EUNAVAILABLE, and is fetched again in the background without a restart.
func TestJWKSUnreachableAtStart(t *testing.T) {
	es := newSigningKey(t, jwt.SigningMethodES256, "es-1")
	jwks := newJWKSServer(t, es)
	jwks.setFailing(true)
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), JWKSURL: jwks.jwksURL()})
	ctx := context.Background()
	ecToken := es.sign(t, userClaims(t, nil))

	wantError(t, v.Ready(), vibepass.EUNAVAILABLE, msgKeysUnavailable)
	_, err := v.Verify(ctx, ecToken)
	wantError(t, err, vibepass.EUNAVAILABLE, msgKeysUnavailable)
	if _, err := v.Verify(ctx, signWith(t, jwt.SigningMethodHS256, []byte(devtoken.Secret), "", userClaims(t, nil))); err != nil {
		t.Fatalf("HS256 while the JWKS is down: %v", err)
	}

	jwks.setFailing(false)
	deadline := time.Now().Add(10 * time.Second)
	for v.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the JWKS was not fetched again after it came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := v.Verify(ctx, ecToken); err != nil {
		t.Fatalf("ES256 after the JWKS came back: %v", err)
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	cases := map[string]Options{
		"no key source":   {},
		"short secret":    {HS256Secret: []byte("short")},
		"relative URL":    {JWKSURL: "/auth/v1/.well-known/jwks.json"},
		"not http":        {JWKSURL: "ftp://example.com/jwks.json"},
		"negative leeway": {HS256Secret: []byte(devtoken.Secret), Leeway: -time.Second},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			if v, err := NewVerifier(context.Background(), opts); err == nil {
				v.Close()
				t.Fatal("NewVerifier accepted it")
			}
		})
	}
}

// TestNewVerifierRefusesCredentialsInTheJWKSURL: the JWKS URL is logged on every
// failed fetch, so a user:password@ in it would end up in the logs; it is refused,
// and neither the refusal nor a log line repeats the credentials.
func TestNewVerifierRefusesCredentialsInTheJWKSURL(t *testing.T) {
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable) // every fetch fails, and is logged
	}))
	defer jwks.Close()
	var logs bytes.Buffer
	opts := Options{
		JWKSURL: strings.Replace(jwks.URL, "http://", "http://jwksuser:jwkspass@", 1) + "/jwks.json",
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
	}
	v, err := NewVerifier(context.Background(), opts)
	if v != nil {
		v.Close() // after which nothing logs any more
	}
	if err == nil || !strings.Contains(err.Error(), "must not carry credentials") {
		t.Errorf("NewVerifier error = %v, want a refusal of the credentials", err)
	}
	for _, leak := range []string{"jwksuser", "jwkspass"} {
		if strings.Contains(fmt.Sprint(err), leak) || strings.Contains(logs.String(), leak) {
			t.Errorf("%q was repeated: error %v, logs %s", leak, err, logs.String())
		}
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc.def.ghi": "abc.def.ghi",
		"bearer abc.def.ghi": "abc.def.ghi",
		"Bearer  abc ":       "abc",
		"Basic dXNlcjpwYXNz": "",
		"Bearer":             "",
		"abc.def.ghi":        "",
		"":                   "",
	} {
		if got := BearerToken(header); got != want {
			t.Errorf("BearerToken(%q) = %q, want %q", header, got, want)
		}
	}
}

func mustDecode(t testing.TB, segment string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMarshalPKIX(t testing.TB, key any) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Supabase's JWKS entries carry "ext" and "key_ops" next to the usual fields;
// keyfunc must accept them as served.
func TestSupabaseShapedJWKS(t *testing.T) {
	key := newSigningKey(t, jwt.SigningMethodES256, "b81269f1-21d8-4f2e-b719-c2240a840d90")
	point, err := key.key.Public().(*ecdsa.PublicKey).Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	doc := fmt.Sprintf(`{"keys":[{"alg":"ES256","crv":"P-256","ext":true,"key_ops":["verify"],"kid":%q,"kty":"EC","use":"sig","x":%q,"y":%q}]}`,
		key.kid, b64(point[1:33]), b64(point[33:]))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, doc)
	}))
	t.Cleanup(srv.Close)

	v := newTestVerifier(t, Options{JWKSURL: srv.URL + "/auth/v1/.well-known/jwks.json"})
	if err := v.Ready(); err != nil {
		t.Fatalf("Supabase-shaped JWKS not loaded: %v", err)
	}
	if _, err := v.Verify(context.Background(), key.sign(t, userClaims(t, nil))); err != nil {
		t.Fatal(err)
	}
}

// A minted token is refused once its TTL has passed.
func TestMintTTL(t *testing.T) {
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret)})
	token, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: testSub, TTL: 5 * time.Minute}, testNow.Add(-6*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(t.Context(), token)
	wantError(t, err, vibepass.EUNAUTHORIZED, vibepass.ErrTokenExpired.Message)
}

// TestJWKSState checks what the metrics report of the JWKS: nothing without a JWKS
// URL; failed fetches counted and no keys while it is down; the keys and the time of
// the fetch once it answers.
func TestJWKSState(t *testing.T) {
	if _, ok := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret)}).JWKSState(context.Background()); ok {
		t.Error("JWKSState reports a JWKS without a JWKS URL")
	}
	es := newSigningKey(t, jwt.SigningMethodES256, "es-1")
	rs := newSigningKey(t, jwt.SigningMethodRS256, "rs-1")
	jwks := newJWKSServer(t, es, rs)
	jwks.setFailing(true)
	v := newTestVerifier(t, Options{JWKSURL: jwks.jwksURL()})
	st, ok := v.JWKSState(context.Background())
	if !ok || st.Failures == 0 || st.Keys != 0 || !st.LastRefresh.IsZero() {
		t.Errorf("while the JWKS is down: %+v, %v; want failures, no keys, no refresh", st, ok)
	}
	jwks.setFailing(false)
	deadline := time.Now().Add(time.Minute) // the retry waits 1 s, then 2 s...
	for v.Ready() != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	st, _ = v.JWKSState(context.Background())
	if st.Keys != 2 || !st.LastRefresh.Equal(testNow) {
		t.Errorf("once fetched: %+v; want 2 keys refreshed at the clock's %s", st, testNow)
	}
}

// TestVerifySupabaseAuthTokens: every kind of access token Supabase Auth issues is
// accepted, signed HS256 with the secret or ES256 with a key from the JWKS (served on
// loopback as Supabase Auth serves it): a signed-up user's with the user_metadata
// sign-up fills, one with a session_id, an anonymous user's, and one with no iss (Auth
// with no issuer configured). The claims reach the caller as signed.
func TestVerifySupabaseAuthTokens(t *testing.T) {
	key, err := devtoken.NewES256Key()
	if err != nil {
		t.Fatal(err)
	}
	auth := httptest.NewServer(key)
	t.Cleanup(auth.Close)
	v := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), JWKSURL: auth.URL + devtoken.JWKSPath})
	requests := map[string]devtoken.Request{
		"signed up": {Sub: testSub, Email: "ada@example.com",
			UserMetadata: devtoken.SignUpMetadata(testSub, "ada@example.com", map[string]any{"display_name": "Ada"})},
		"with a session": {Sub: testSub, Email: "ada@example.com", SessionID: "0b5f7c1e-2d3a-4b6c-8d9e-1f2a3b4c5d6e"},
		"anonymous":      {Sub: testSub, Anonymous: true},
		"no iss":         {Sub: testSub, Email: "ada@example.com", NoIssuer: true},
	}
	signers := map[string]func(devtoken.Request) (string, error){
		"HS256": func(r devtoken.Request) (string, error) { return devtoken.Mint([]byte(devtoken.Secret), r, testNow) },
		"ES256": func(r devtoken.Request) (string, error) { return key.Mint(r, testNow) },
	}
	for alg, sign := range signers {
		for name, req := range requests {
			t.Run(alg+"/"+name, func(t *testing.T) {
				token, err := sign(req)
				if err != nil {
					t.Fatal(err)
				}
				caller, err := v.Verify(context.Background(), token)
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if caller.UserID != testSub || string(caller.Claims) != string(mustDecode(t, strings.Split(token, ".")[1])) {
					t.Fatalf("caller = %q with claims %s, want %s and the payload as signed", caller.UserID, caller.Claims, testSub)
				}
			})
		}
	}
}

// TestVerifyIssuer: with Options.Issuer a token's iss must be exactly it (no trailing
// slash, case or missing-iss leniency), and a refusal is the usual invalid-token 401;
// without it iss is not looked at, so a token with none, or with another, passes.
func TestVerifyIssuer(t *testing.T) {
	const hosted = "https://abcdefghijklmnopqrst.supabase.co/auth/v1"
	key, err := devtoken.NewES256Key()
	if err != nil {
		t.Fatal(err)
	}
	auth := httptest.NewServer(key)
	t.Cleanup(auth.Close)
	jwksURL := auth.URL + devtoken.JWKSPath
	pinned := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), JWKSURL: jwksURL, Issuer: hosted})
	open := newTestVerifier(t, Options{HS256Secret: []byte(devtoken.Secret), JWKSURL: jwksURL})
	hs := func(edit func(jwt.MapClaims)) string {
		return signWith(t, jwt.SigningMethodHS256, []byte(devtoken.Secret), "", userClaims(t, edit))
	}
	es, err := key.Mint(devtoken.Request{Sub: testSub, Issuer: hosted}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	esNoIss, err := key.Mint(devtoken.Request{Sub: testSub, NoIssuer: true}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		token        string
		pinnedPasses bool
	}{
		{"the issuer", hs(func(c jwt.MapClaims) { c["iss"] = hosted }), true},
		{"the issuer, ES256", es, true},
		{"a trailing slash", hs(func(c jwt.MapClaims) { c["iss"] = hosted + "/" }), false},
		{"another case", hs(func(c jwt.MapClaims) { c["iss"] = strings.ToUpper(hosted) }), false},
		{"another project", hs(func(c jwt.MapClaims) { c["iss"] = "https://tsrqponmlkjihgfedcba.supabase.co/auth/v1" }), false},
		{"the local stack", hs(nil), false},
		{"an empty iss", hs(func(c jwt.MapClaims) { c["iss"] = "" }), false},
		{"a null iss", hs(func(c jwt.MapClaims) { c["iss"] = nil }), false},
		{"no iss", hs(func(c jwt.MapClaims) { delete(c, "iss") }), false},
		{"no iss, ES256", esNoIss, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caller, err := pinned.Verify(context.Background(), tc.token)
			switch {
			case tc.pinnedPasses && err != nil:
				t.Errorf("with the issuer set: %v, want accepted", err)
			case tc.pinnedPasses && caller.UserID != testSub:
				t.Errorf("with the issuer set: caller %q", caller.UserID)
			case !tc.pinnedPasses:
				wantError(t, err, vibepass.EUNAUTHORIZED, msgWrongIssuer)
				if e := err.(*vibepass.Error); e.Reason != vibepass.RINVALIDTOKEN {
					t.Errorf("reason = %q, want %q like every refused token", e.Reason, vibepass.RINVALIDTOKEN)
				}
			}
			if _, err := open.Verify(context.Background(), tc.token); err != nil {
				t.Errorf("with no issuer set: %v, want accepted whatever the iss", err)
			}
		})
	}
	// A token wrong in role and iss alike names its role, as the anon key's would.
	_, err = pinned.Verify(context.Background(), hs(func(c jwt.MapClaims) { c["role"] = "anon" }))
	wantError(t, err, vibepass.EUNAUTHORIZED, msgWrongRole)
}

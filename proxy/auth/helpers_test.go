package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// testNow is the fixed time the tests' clocks and tokens agree on.
var testNow = time.Date(2025, 11, 9, 15, 0, 0, 0, time.UTC)

const testSub = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"

func testClock() time.Time { return testNow }

// quietLogger drops the JWKS failures some tests provoke on purpose.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// signingKey is an asymmetric key as Supabase Auth would hold it.
type signingKey struct {
	method jwt.SigningMethod
	kid    string
	key    crypto.Signer
	// use and ops are what its JWK says it is for; use "" publishes it as "sig".
	use jwkset.USE
	ops []jwkset.KEYOPS
}

func newSigningKey(t testing.TB, method jwt.SigningMethod, kid string) signingKey {
	t.Helper()
	var (
		key crypto.Signer
		err error
	)
	switch method {
	case jwt.SigningMethodES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwt.SigningMethodRS256:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no key type for %s", method.Alg())
	}
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{method: method, kid: kid, key: key}
}

// sign signs claims with the key, naming its kid in the header.
func (k signingKey) sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return signWith(t, k.method, k.key, k.kid, claims)
}

// signWith signs claims with any method and key; kid "" leaves the header without one.
func signWith(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	token := jwt.NewWithClaims(method, claims)
	if kid != "" {
		token.Header["kid"] = kid
	}
	s, err := token.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signRaw signs header and payload as given, byte for byte (duplicate keys and all),
// which jwt.NewWithClaims cannot: it encodes from a Go map.
func signRaw(t testing.TB, method jwt.SigningMethod, key any, header, payload string) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := method.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// userClaims are valid Supabase user claims at testNow, changed by edit.
func userClaims(t testing.TB, edit func(jwt.MapClaims)) jwt.MapClaims {
	t.Helper()
	c, err := devtoken.Claims(devtoken.Request{Sub: testSub, Email: "ada@example.com"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// jwksServer serves a JWK Set that a test can rotate or make fail.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    jwkset.JWKSMarshal
	failing bool
	fetches atomic.Int64
}

func newJWKSServer(t testing.TB, keys ...signingKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.publish(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.failing {
			http.Error(w, "auth is down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(s.keys); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// publish replaces the served key set with the public halves of keys.
func (s *jwksServer) publish(t testing.TB, keys ...signingKey) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		use := k.use
		if use == "" {
			use = jwkset.UseSig
		}
		jwk, err := jwkset.NewJWKFromKey(k.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
			ALG: jwkset.ALG(k.method.Alg()), KID: k.kid, USE: use, KEYOPS: k.ops,
		}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	s.mu.Lock()
	s.keys = set
	s.mu.Unlock()
}

func (s *jwksServer) setFailing(failing bool) {
	s.mu.Lock()
	s.failing = failing
	s.mu.Unlock()
}

func (s *jwksServer) jwksURL() string { return s.URL + "/auth/v1/.well-known/jwks.json" }

// newTestVerifier builds a Verifier on the test clock (unless opts has its own), closed
// when the test ends.
func newTestVerifier(t testing.TB, opts Options) *Verifier {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = testClock
	}
	opts.Logger = quietLogger
	v, err := NewVerifier(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// wantError fails unless err is a *vibepass.Error with code and message.
func wantError(t testing.TB, err error, code, message string) {
	t.Helper()
	var e *vibepass.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want *vibepass.Error %s %q", err, code, message)
	}
	if e.Code != code || e.Message != message {
		t.Fatalf("error = %s %q, want %s %q", e.Code, e.Message, code, message)
	}
}

package devtoken

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass"
)

// Minted tokens carry every claim Supabase Auth puts in an access token.
func TestMintShape(t *testing.T) {
	const session = "0b5f7c1e-2d3a-4b6c-8d9e-1f2a3b4c5d6e"
	token, err := Mint([]byte(Secret), Request{Sub: testSub, Email: "ada@example.com", SessionID: session}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	header := mustDecode(t, strings.Split(token, ".")[0])
	if !strings.Contains(string(header), `"alg":"HS256"`) {
		t.Fatalf("header = %s", header)
	}
	claims := decodeClaims(t, token)
	switch {
	case claims.Iss == nil || *claims.Iss != Issuer, claims.Sub != testSub, claims.Aud != "authenticated", claims.Role != "authenticated":
		t.Fatalf("iss/sub/aud/role = %v %q %q %q", claims.Iss, claims.Sub, claims.Aud, claims.Role)
	case claims.Iat != testNow.Unix(), claims.Exp != testNow.Unix()+3600:
		t.Fatalf("iat/exp = %d %d, want now and an hour later", claims.Iat, claims.Exp)
	case claims.Email == nil || *claims.Email != "ada@example.com", claims.Phone == nil || *claims.Phone != "":
		t.Fatalf("email/phone = %v %v", claims.Email, claims.Phone)
	case claims.SessionID == nil || *claims.SessionID != session, claims.IsAnonymous == nil || *claims.IsAnonymous, claims.AAL != "aal1":
		t.Fatalf("session_id/is_anonymous/aal = %v %v %q", claims.SessionID, claims.IsAnonymous, claims.AAL)
	case len(claims.AMR) != 1 || claims.AMR[0].Method != "password" || claims.AMR[0].Timestamp != testNow.Unix():
		t.Fatalf("amr = %+v", claims.AMR)
	case claims.AppMetadata["provider"] != "email", claims.UserMetadata == nil || len(claims.UserMetadata) != 0:
		t.Fatalf("app_metadata/user_metadata = %v %v", claims.AppMetadata, claims.UserMetadata)
	}

	// Without a SessionID there is no session_id claim at all.
	again, err := Mint([]byte(Secret), Request{Sub: testSub}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if c := decodeClaims(t, again); c.SessionID != nil {
		t.Fatalf("session_id = %q without a SessionID, want none", *c.SessionID)
	}
}

// mintedClaims are the claims of a minted token; a pointer is nil when the claim is absent.
type mintedClaims struct {
	Iss          *string        `json:"iss"`
	Sub          string         `json:"sub"`
	Aud          string         `json:"aud"`
	Role         string         `json:"role"`
	Exp          int64          `json:"exp"`
	Iat          int64          `json:"iat"`
	Email        *string        `json:"email"`
	Phone        *string        `json:"phone"`
	SessionID    *string        `json:"session_id"`
	IsAnonymous  *bool          `json:"is_anonymous"`
	AAL          string         `json:"aal"`
	AMR          []amrEntry     `json:"amr"`
	AppMetadata  map[string]any `json:"app_metadata"`
	UserMetadata map[string]any `json:"user_metadata"`
}

// decodeClaims reads a token's payload without verifying it.
func decodeClaims(t testing.TB, token string) mintedClaims {
	t.Helper()
	var c mintedClaims
	if err := json.Unmarshal(mustDecode(t, strings.Split(token, ".")[1]), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// An anonymous sign-in's token: role and aud authenticated, is_anonymous true, an empty
// email, empty app_metadata, amr "anonymous"; user_metadata what the sign-in sent.
func TestMintAnonymous(t *testing.T) {
	token, err := Mint([]byte(Secret), Request{Sub: testSub, Anonymous: true, UserMetadata: map[string]any{"display_name": "Guest"}}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	c := decodeClaims(t, token)
	switch {
	case c.Role != "authenticated", c.Aud != "authenticated", c.IsAnonymous == nil || !*c.IsAnonymous:
		t.Fatalf("role/aud/is_anonymous = %q %q %v", c.Role, c.Aud, c.IsAnonymous)
	case c.Email == nil || *c.Email != "", c.AppMetadata == nil || len(c.AppMetadata) != 0:
		t.Fatalf("email/app_metadata = %v %v, want \"\" and {}", c.Email, c.AppMetadata)
	case len(c.AMR) != 1 || c.AMR[0].Method != "anonymous" || c.AMR[0].Timestamp != testNow.Unix():
		t.Fatalf("amr = %+v, want one anonymous entry at now", c.AMR)
	case len(c.UserMetadata) != 1 || c.UserMetadata["display_name"] != "Guest":
		t.Fatalf("user_metadata = %v", c.UserMetadata)
	}
}

// Issuer names the iss; NoIssuer leaves it out, as Supabase Auth does with no issuer configured.
func TestMintIssuer(t *testing.T) {
	const hosted = "https://abcdefghijklmnopqrst.supabase.co/auth/v1"
	for name, tc := range map[string]struct {
		req  Request
		want *string
	}{
		"default": {Request{Sub: testSub}, ptr(Issuer)},
		"hosted":  {Request{Sub: testSub, Issuer: hosted}, ptr(hosted)},
		"none":    {Request{Sub: testSub, NoIssuer: true}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			token, err := Mint([]byte(Secret), tc.req, testNow)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeClaims(t, token).Iss
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Fatalf("iss = %v, want %v", deref(got), deref(tc.want))
			}
			if tc.want == nil && strings.Contains(string(mustDecode(t, strings.Split(token, ".")[1])), `"iss"`) {
				t.Fatal(`the payload names "iss"`)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return "<absent>"
	}
	return *s
}

// SignUpMetadata is what an email sign-up leaves in user_metadata: the data sent, plus
// the identity's sub, email, email_verified and phone_verified, which win over sent keys.
func TestSignUpMetadata(t *testing.T) {
	sent := map[string]any{"display_name": "Ada", "email_verified": false, "sub": "forged"}
	got := SignUpMetadata(testSub, "Ada@Example.com", sent)
	want := map[string]any{"display_name": "Ada", "email": "ada@example.com", "email_verified": true, "phone_verified": false, "sub": testSub}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SignUpMetadata = %v, want %v", got, want)
	}
	if sent["sub"] != "forged" {
		t.Fatal("SignUpMetadata changed the map it was given")
	}
	if got := SignUpMetadata(testSub, "", nil); !reflect.DeepEqual(got, map[string]any{"email_verified": true, "phone_verified": false, "sub": testSub}) {
		t.Fatalf("SignUpMetadata without email or data = %v", got)
	}
}

// An ES256 token names its key's kid, carries the same claims as an HS256 one, and
// verifies with the key its JWKS publishes, served at JWKSPath as Supabase Auth serves it.
func TestES256Key(t *testing.T) {
	key, err := NewES256Key()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewES256Key()
	if err != nil {
		t.Fatal(err)
	}
	if !vibepass.IsUUID(key.KID()) || key.KID() == other.KID() {
		t.Fatalf("kids %q and %q, want two different UUIDs", key.KID(), other.KID())
	}
	req := Request{Sub: testSub, Email: "ada@example.com", UserMetadata: SignUpMetadata(testSub, "ada@example.com", map[string]any{"display_name": "Ada"})}
	token, err := key.Mint(req, testNow)
	if err != nil {
		t.Fatal(err)
	}
	var header map[string]any
	if err := json.Unmarshal(mustDecode(t, strings.Split(token, ".")[0]), &header); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(header, map[string]any{"alg": "ES256", "kid": key.KID(), "typ": "JWT"}) {
		t.Fatalf("header = %v", header)
	}
	hs, err := Mint([]byte(Secret), req, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if es, want := string(mustDecode(t, strings.Split(token, ".")[1])), string(mustDecode(t, strings.Split(hs, ".")[1])); es != want {
		t.Fatalf("ES256 payload %s differs from HS256's %s", es, want)
	}

	srv := httptest.NewServer(key)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(served, key.JWKS()) {
		t.Fatalf("GET %s = %d %q %s, want the JWKS", JWKSPath, resp.StatusCode, resp.Header.Get("Content-Type"), served)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(served, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS = %s, want one key", served)
	}
	jwk := set.Keys[0]
	for name, want := range map[string]any{"alg": "ES256", "crv": "P-256", "ext": true, "kid": key.KID(), "kty": "EC", "use": "sig"} {
		if jwk[name] != want {
			t.Errorf("JWK %s = %v, want %v", name, jwk[name], want)
		}
	}
	if !reflect.DeepEqual(jwk["key_ops"], []any{"verify"}) || jwk["d"] != nil {
		t.Errorf("JWK = %v, want key_ops [verify] and no private part", jwk)
	}
	kf, err := keyfunc.NewJWKSetJSON(served)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(token, kf.Keyfunc, jwt.WithTimeFunc(testClock), jwt.WithValidMethods([]string{"ES256"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("the token does not verify with its JWKS: %v", err)
	}
	if forged, err := other.Mint(req, testNow); err != nil {
		t.Fatal(err)
	} else if _, err := jwt.Parse(forged, kf.Keyfunc, jwt.WithTimeFunc(testClock)); err == nil {
		t.Fatal("another key's token verifies with this JWKS")
	}

	resp, err = http.Get(srv.URL + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /jwks.json = %d, want 404: the JWKS is served at %s only", resp.StatusCode, JWKSPath)
	}
}

type amrEntry struct {
	Method    string `json:"method"`
	Timestamp int64  `json:"timestamp"`
}

func TestMintRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		secret string
		req    Request
	}{
		"no secret":               {"", Request{Sub: testSub}},
		"sub not uuid":            {Secret, Request{Sub: "ada"}},
		"negative ttl":            {Secret, Request{Sub: testSub, TTL: -1}},
		"session_id not uuid":     {Secret, Request{Sub: testSub, SessionID: "session-1"}},
		"issuer and no issuer":    {Secret, Request{Sub: testSub, Issuer: Issuer, NoIssuer: true}},
		"anonymous with an email": {Secret, Request{Sub: testSub, Anonymous: true, Email: "ada@example.com"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Mint([]byte(tc.secret), tc.req, testNow); err == nil {
				t.Fatal("Mint accepted it")
			}
		})
	}
	// A wrong sub is the caller's input, reported as such to `vibepass token`.
	_, err := Mint([]byte(Secret), Request{Sub: "ada"}, testNow)
	wantError(t, err, vibepass.EINVALID, "sub must be a UUID")
}

// The minted claims parse as jwt.MapClaims with the types golang-jwt expects.
func TestMintVerifiesWithGolangJWT(t *testing.T) {
	token, err := Mint([]byte(Secret), Request{Sub: testSub}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return []byte(Secret), nil },
		jwt.WithTimeFunc(testClock), jwt.WithAudience("authenticated"), jwt.WithIssuer(Issuer))
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt refused a minted token: %v", err)
	}
}

var testNow = time.Date(2025, 11, 9, 15, 0, 0, 0, time.UTC)

const testSub = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"

func testClock() time.Time { return testNow }

func mustDecode(t testing.TB, segment string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantError fails unless err is a *vibepass.Error with code and message.
func wantError(t testing.TB, err error, code, message string) {
	t.Helper()
	var e *vibepass.Error
	if !errors.As(err, &e) || e.Code != code || e.Message != message {
		t.Fatalf("error = %v, want *vibepass.Error %s %q", err, code, message)
	}
}

package devtoken

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass"
)

// Minted tokens carry every claim Supabase Auth puts in an access token.
func TestMintShape(t *testing.T) {
	token, err := Mint([]byte(Secret), Request{Sub: testSub, Email: "ada@example.com"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	header := mustDecode(t, strings.Split(token, ".")[0])
	if !strings.Contains(string(header), `"alg":"HS256"`) {
		t.Fatalf("header = %s", header)
	}
	var claims struct {
		Iss          string         `json:"iss"`
		Sub          string         `json:"sub"`
		Aud          string         `json:"aud"`
		Role         string         `json:"role"`
		Exp          int64          `json:"exp"`
		Iat          int64          `json:"iat"`
		Email        string         `json:"email"`
		Phone        *string        `json:"phone"`
		SessionID    string         `json:"session_id"`
		IsAnonymous  *bool          `json:"is_anonymous"`
		AAL          string         `json:"aal"`
		AMR          []amrEntry     `json:"amr"`
		AppMetadata  map[string]any `json:"app_metadata"`
		UserMetadata map[string]any `json:"user_metadata"`
	}
	if err := json.Unmarshal(mustDecode(t, strings.Split(token, ".")[1]), &claims); err != nil {
		t.Fatal(err)
	}
	switch {
	case claims.Iss != Issuer, claims.Sub != testSub, claims.Aud != "authenticated", claims.Role != "authenticated":
		t.Fatalf("iss/sub/aud/role = %q %q %q %q", claims.Iss, claims.Sub, claims.Aud, claims.Role)
	case claims.Iat != testNow.Unix(), claims.Exp != testNow.Unix()+3600:
		t.Fatalf("iat/exp = %d %d, want now and an hour later", claims.Iat, claims.Exp)
	case claims.Email != "ada@example.com", claims.Phone == nil || *claims.Phone != "":
		t.Fatalf("email/phone = %q %v", claims.Email, claims.Phone)
	case !vibepass.IsUUID(claims.SessionID), claims.IsAnonymous == nil || *claims.IsAnonymous, claims.AAL != "aal1":
		t.Fatalf("session_id/is_anonymous/aal = %q %v %q", claims.SessionID, claims.IsAnonymous, claims.AAL)
	case len(claims.AMR) != 1 || claims.AMR[0].Method != "password":
		t.Fatalf("amr = %+v", claims.AMR)
	case claims.AppMetadata["provider"] != "email", claims.UserMetadata == nil || len(claims.UserMetadata) != 0:
		t.Fatalf("app_metadata/user_metadata = %v %v", claims.AppMetadata, claims.UserMetadata)
	}

	again, err := Mint([]byte(Secret), Request{Sub: testSub}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	var second struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(mustDecode(t, strings.Split(again, ".")[1]), &second); err != nil {
		t.Fatal(err)
	}
	if second.SessionID == claims.SessionID {
		t.Fatal("two tokens share a session_id")
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
		"no secret":    {"", Request{Sub: testSub}},
		"sub not uuid": {Secret, Request{Sub: "ada"}},
		"negative ttl": {Secret, Request{Sub: testSub, TTL: -1}},
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

// Package devtoken mints access tokens shaped like Supabase Auth's, signed with an
// HS256 secret, for local use (`vibepass token`, dev's sign-in links) and tests. It
// is kept out of the verifier's package: production code verifies tokens, it never
// makes them.
package devtoken

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass"
)

// Secret is the legacy JWT secret of the Supabase CLI's local stack: public, so only
// for local use.
const Secret = "super-secret-jwt-token-with-at-least-32-characters-long"

// NewSecret returns a fresh random HS256 secret (48 random bytes, base64url), for
// the tests and the benchmark that run serve, which refuses the public Secret.
func NewSecret() string {
	b := make([]byte, 48)
	rand.Read(b) // never fails: it crashes the program instead (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Issuer is the iss claim of tokens from the Supabase CLI's local Auth server.
const Issuer = "http://127.0.0.1:54321/auth/v1"

// defaultTokenTTL matches Supabase Auth's default jwt_expiry (3600 s).
const defaultTokenTTL = time.Hour

// Request describes the user a minted token speaks for.
type Request struct {
	// Sub is the user's id, a UUID.
	Sub string
	// Email is the email claim; may be empty.
	Email string
	// TTL is the token's lifetime; 0 means one hour.
	TTL time.Duration
	// UserMetadata is the user_metadata claim; nil means {}.
	UserMetadata map[string]any
}

// Mint returns an HS256 access token shaped like one from Supabase Auth, issued at now.
func Mint(secret []byte, req Request, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("devtoken: no secret to sign the token with")
	}
	claims, err := Claims(req, now)
	if err != nil {
		return "", err
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// Claims are the claims Supabase Auth puts in a user's access token, for req at now.
func Claims(req Request, now time.Time) (jwt.MapClaims, error) {
	if !vibepass.IsUUID(req.Sub) {
		return nil, vibepass.Errorf(vibepass.EINVALID, "sub must be a UUID")
	}
	if req.TTL < 0 {
		return nil, vibepass.Errorf(vibepass.EINVALID, "token lifetime must not be negative")
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = defaultTokenTTL
	}
	metadata := req.UserMetadata
	if metadata == nil {
		metadata = map[string]any{}
	}
	return jwt.MapClaims{
		"iss":           Issuer,
		"sub":           req.Sub,
		"aud":           vibepass.RoleAuthenticated,
		"exp":           now.Add(ttl).Unix(),
		"iat":           now.Unix(),
		"email":         req.Email,
		"phone":         "",
		"app_metadata":  map[string]any{"provider": "email", "providers": []string{"email"}},
		"user_metadata": metadata,
		"role":          vibepass.RoleAuthenticated,
		"aal":           "aal1",
		"amr":           []map[string]any{{"method": "password", "timestamp": now.Unix()}},
		"session_id":    newUUID(),
		"is_anonymous":  false,
	}, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])         // never fails: it crashes the program instead (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Package devtoken mints access tokens shaped like Supabase Auth's, for local use
// (`vibepass token`, dev's sign-in links) and tests: signed HS256 with a secret, or
// ES256 with a key named by a kid whose public half it serves in a JWKS, as Supabase
// Auth signs them; for signed-up or anonymous users, with or without an iss. It is
// kept out of the verifier's package: production code verifies tokens, it never
// makes them.
//
// What it restates of Supabase Auth was read in its source at v2.196.0 (commit
// 0204331ca41a5b49f076b6fa3dc6c0d20b996590); each such comment names the file.
package devtoken

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
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
	// Email is the email claim; may be empty, and must be for an anonymous user.
	Email string
	// TTL is the token's lifetime; 0 means one hour.
	TTL time.Duration
	// UserMetadata is the user_metadata claim; nil means {}.
	UserMetadata map[string]any
	// SessionID is the session_id claim: the id of the user's row in auth.sessions, which
	// Supabase Auth makes at sign-in and deletes at sign-out. Empty leaves the claim out, as
	// in tokens from the third-party auth providers Supabase accepts (no Supabase session).
	SessionID string
	// Issuer is the iss claim; "" means Issuer, the local stack's. A hosted project's is
	// https://<ref>.supabase.co/auth/v1.
	Issuer string
	// NoIssuer leaves iss out, as Supabase Auth does when no issuer is configured
	// (GOTRUE_JWT_ISSUER unset: the claim is jwt.RegisteredClaims' Issuer, omitempty;
	// internal/tokens/service.go, GenerateAccessToken). Issuer must then be "".
	NoIssuer bool
	// Anonymous makes the token of an anonymous sign-in (signInAnonymously()): role and
	// aud stay "authenticated", is_anonymous is true, email "" (Email must be empty),
	// app_metadata {} and amr [{"method": "anonymous", …}]. Supabase Auth's
	// SignupAnonymously (internal/api/anonymous.go) makes a user with no email and no
	// provider in app_metadata (internal/api/signup.go, ToUserModel), and signs in with
	// models.Anonymous, whose amr method is "anonymous" (internal/models/factor.go).
	// Its user_metadata is what the sign-in sent: UserMetadata.
	Anonymous bool
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
	if req.NoIssuer && req.Issuer != "" {
		return nil, vibepass.Errorf(vibepass.EINVALID, "a token with no iss has no issuer to name")
	}
	if req.Anonymous && req.Email != "" {
		return nil, vibepass.Errorf(vibepass.EINVALID, "an anonymous user has no email")
	}
	metadata := req.UserMetadata
	if metadata == nil {
		metadata = map[string]any{}
	}
	appMetadata := map[string]any{"provider": "email", "providers": []string{"email"}}
	method := "password"
	if req.Anonymous {
		appMetadata, method = map[string]any{}, "anonymous"
	}
	claims := jwt.MapClaims{
		"sub":           req.Sub,
		"aud":           vibepass.RoleAuthenticated,
		"exp":           now.Add(ttl).Unix(),
		"iat":           now.Unix(),
		"email":         req.Email,
		"phone":         "",
		"app_metadata":  appMetadata,
		"user_metadata": metadata,
		"role":          vibepass.RoleAuthenticated,
		"aal":           "aal1",
		"amr":           []map[string]any{{"method": method, "timestamp": now.Unix()}},
		"is_anonymous":  req.Anonymous,
	}
	switch {
	case req.Issuer != "":
		claims["iss"] = req.Issuer
	case !req.NoIssuer:
		claims["iss"] = Issuer
	}
	if req.SessionID != "" {
		if !vibepass.IsUUID(req.SessionID) {
			return nil, vibepass.Errorf(vibepass.EINVALID, "session_id must be a UUID")
		}
		claims["session_id"] = req.SessionID
	}
	return claims, nil
}

// SignUpMetadata is the user_metadata of a user who signed up with email and password
// and confirmed the address (the local stack confirms at once): what sign-up sent as
// its data (e.g. display_name), plus the sign-up identity's sub, email (lowercased;
// left out when ""), email_verified (true, once confirmed) and phone_verified (false),
// which win over sent keys of the same names. Supabase Auth's Signup
// (internal/api/signup.go) builds the identity data from provider.Claims{Subject,
// Email} (whose structs tags keep email_verified and phone_verified even when false:
// internal/api/provider/provider.go) plus the sent keys it lacks; the identity
// lowercases the email (internal/models/identity.go, BeforeUpdate);
// RemoveUnconfirmedIdentities makes that data the user_metadata, and Confirm sets
// email_verified to true (internal/models/user.go).
func SignUpMetadata(sub, email string, sent map[string]any) map[string]any {
	metadata := maps.Clone(sent)
	if metadata == nil {
		metadata = map[string]any{}
	}
	metadata["sub"] = sub
	if email != "" {
		metadata["email"] = strings.ToLower(email)
	}
	metadata["email_verified"] = true
	metadata["phone_verified"] = false
	return metadata
}

// JWKSPath is where Supabase Auth publishes its signing keys, under the project URL.
const JWKSPath = "/auth/v1/.well-known/jwks.json"

// ES256Key is an asymmetric signing key as Supabase Auth holds one (new projects and
// the CLI's local stack sign user tokens ES256): a P-256 key pair named by a kid,
// whose public half it publishes in a JWKS at JWKSPath.
type ES256Key struct {
	kid     string
	private *ecdsa.PrivateKey
	jwks    []byte
}

// NewES256Key makes a fresh P-256 key pair named by a random UUID, as Supabase's kids are.
func NewES256Key() (*ES256Key, error) {
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devtoken: %w", err)
	}
	point, err := private.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, fmt.Errorf("devtoken: %w", err)
	}
	k := &ES256Key{kid: newUUID(), private: private}
	b64 := base64.RawURLEncoding.EncodeToString
	k.jwks, err = json.Marshal(map[string][]jwk{"keys": {{
		Alg: "ES256", Crv: "P-256", Ext: true, KeyOps: []string{"verify"}, Kid: k.kid, Kty: "EC", Use: "sig",
		X: b64(point[1:33]), Y: b64(point[33:]),
	}}})
	if err != nil {
		return nil, fmt.Errorf("devtoken: %w", err)
	}
	return k, nil
}

// KID returns the key's id, which its tokens' headers and its JWK name.
func (k *ES256Key) KID() string { return k.kid }

// Mint returns an ES256 access token for req issued at now, with the claims Mint's
// HS256 tokens carry, signed with k and naming its kid in the header, as Supabase
// Auth's SignJWT does (internal/tokens/service.go).
func (k *ES256Key) Mint(req Request, now time.Time) (string, error) {
	claims, err := Claims(req, now)
	if err != nil {
		return "", err
	}
	token := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	token.Header["kid"] = k.kid
	return token.SignedString(k.private)
}

// jwk is an EC public key as Supabase's JWKS lists it, members in its order.
type jwk struct {
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	Ext    bool     `json:"ext"`
	KeyOps []string `json:"key_ops"`
	Kid    string   `json:"kid"`
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// JWKS returns the JSON Web Key Set that publishes k's public half, shaped as Supabase
// serves it: {"keys": [{"alg": "ES256", "crv": "P-256", "ext": true, "key_ops": ["verify"],
// "kid": …, "kty": "EC", "use": "sig", "x": …, "y": …}]}.
func (k *ES256Key) JWKS() []byte { return bytes.Clone(k.jwks) }

// ServeHTTP answers a request for JWKSPath with k's JWKS, as Supabase Auth's
// WellKnownJwks does (cached up to 10 minutes; internal/api/jwks.go), and any other
// path with 404; so a server of k on loopback stands in for a project's Auth, and
// auth.jwks_url is its URL plus JWKSPath.
func (k *ES256Key) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != JWKSPath {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=600")
	_, _ = w.Write(k.jwks)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])         // never fails: it crashes the program instead (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

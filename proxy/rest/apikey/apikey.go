// Package apikey knows Supabase's API keys as far as a client can without PostgREST: the
// current keys by their prefix, the legacy ones (JWTs) by their unverified role claim.
// The PostgREST upstream and its stand-in both follow it.
package apikey

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// The prefixes of Supabase's current API keys, which are not JWTs.
const (
	// PublishablePrefix starts a publishable key (role anon).
	PublishablePrefix = "sb_publishable_"
	// SecretPrefix starts a secret key (role service_role).
	SecretPrefix = "sb_secret_"
)

// LegacyRole returns the role claim of a legacy, JWT-shaped key, read without verifying
// it (only PostgREST can), or "" when key is not one.
func LegacyRole(key string) string {
	parts := strings.Split(key, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Role string `json:"role"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Role
}

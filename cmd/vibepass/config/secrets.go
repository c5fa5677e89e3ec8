package config

import (
	"fmt"
	"net/url"

	"github.com/vibepass/vibepass/proxy/auth"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// The secret policy serve applies on top of Validate: a secret that guards the proxy
// (the JWT secret: whoever knows it signs in as anyone; a model key: it reads every
// active user) must not be published, guessable at a glance, or shared with another
// secret. dev skips it: it signs with the public dev secret on purpose.
const (
	// The fewest different characters a secret may have. A random secret of the
	// minimum length misses them less than once in a million draws even in hex
	// (32 hex characters: about 4·10⁻⁸; 16: about 4·10⁻⁷); 32 × "a" has one.
	minJWTSecretDistinct = 8
	minModelKeyDistinct  = 5
	// What the refusals tell the operator to do.
	jwtSecretAdvice = "use the project's own JWT secret (Supabase dashboard: Project Settings → JWT Keys), " +
		"generate one with `openssl rand -base64 48` for a self-hosted Auth, or verify with jwks_url alone"
	modelKeyAdvice = "generate one with `openssl rand -hex 24`"
)

// publicSecrets are JWT secrets printed in Supabase's code and docs, with where they
// come from; tokens signed with them prove nothing.
var publicSecrets = map[string]string{
	devtoken.Secret: "the Supabase CLI's local default, which vibepass dev uses",
	"your-super-secret-jwt-token-with-at-least-32-characters-long": "the example in Supabase's self-hosting .env",
}

// checkSecrets applies the secret policy to a validated config. Its errors name the
// key and what to do, never the value.
func (c *Config) checkSecrets() error {
	if s := c.Auth.JWTSecret; s != "" {
		if why := weakness(s, auth.MinHS256SecretLen, minJWTSecretDistinct); why != "" {
			return fmt.Errorf("auth.jwt_secret: %s, so anyone could sign a token for any user; %s", why, jwtSecretAdvice)
		}
	}
	for i, k := range c.ModelAPIKeys {
		if why := weakness(k, auth.MinAPIKeyLen, minModelKeyDistinct); why != "" {
			return fmt.Errorf("%s: key #%d %s; %s", ModelKeysEnv, i+1, why, modelKeyAdvice)
		}
		for _, o := range c.otherSecrets() {
			if k == o.value {
				return fmt.Errorf("%s: key #%d is the same as %s: the model must hold no other secret; %s", ModelKeysEnv, i+1, o.key, modelKeyAdvice)
			}
		}
	}
	return nil
}

// namedSecret is a configured secret and the key it came from.
type namedSecret struct{ key, value string }

// otherSecrets are the configured secrets a model key must not equal; unset ones
// are "", which no model key is.
func (c *Config) otherSecrets() []namedSecret {
	var dbPassword string
	if u, err := url.Parse(c.Upstream.DBURL); err == nil {
		dbPassword, _ = u.User.Password()
	}
	return []namedSecret{
		{"auth.jwt_secret", c.Auth.JWTSecret},
		{"upstream.anon_key", c.Upstream.AnonKey},
		{"upstream.service_role_key", c.Upstream.ServiceRoleKey},
		{"the password in upstream.db_url", dbPassword},
	}
}

// weakness says why secret s is unfit to guard anything, or "" when it passes:
// published, shorter than minLen, fewer than minDistinct different characters, or
// one short piece repeated ("abcabcabc…").
func weakness(s string, minLen, minDistinct int) string {
	if where, ok := publicSecrets[s]; ok {
		return "is a published secret (" + where + ")"
	}
	if len(s) < minLen {
		return fmt.Sprintf("is shorter than %d characters", minLen)
	}
	distinct := map[rune]bool{}
	for _, r := range s {
		distinct[r] = true
	}
	if len(distinct) < minDistinct {
		return fmt.Sprintf("has fewer than %d different characters", minDistinct)
	}
	if period(s) <= len(s)/2 {
		return "is one short piece repeated"
	}
	return ""
}

// period returns the length of the shortest p with s[i] == s[i+p] throughout: s is a
// piece of that length repeated (the last copy possibly cut short). It is the
// Knuth–Morris–Pratt border computation, linear in len(s).
func period(s string) int {
	if s == "" {
		return 0
	}
	border := make([]int, len(s)) // border[i]: the longest proper prefix of s[:i+1] that is also its suffix
	for i := 1; i < len(s); i++ {
		k := border[i-1]
		for k > 0 && s[i] != s[k] {
			k = border[k-1]
		}
		if s[i] == s[k] {
			k++
		}
		border[i] = k
	}
	return len(s) - border[len(s)-1]
}

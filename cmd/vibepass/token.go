package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// token prints a Supabase-shaped HS256 access token for a user, for local use
// (curl, Postman, the spec's examples). By default it signs with the secret dev uses.
func token(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", stderr)
	sub := fs.String("sub", "", "user id (UUID), required")
	email := fs.String("email", "", "email claim")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	secretEnv := fs.String("secret-env", "", "environment variable holding the HS256 secret (default: the local stack's dev secret)")
	issuer := fs.String("issuer", devtoken.Issuer, "iss claim, e.g. the auth.issuer serve checks; '' leaves it out, as Supabase Auth does with no issuer configured")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !vibepass.IsUUID(*sub) {
		return usageError("--sub must be a UUID")
	}
	if *ttl <= 0 {
		return usageError("--ttl must be positive")
	}
	secret := devtoken.Secret
	if *secretEnv != "" {
		if secret = os.Getenv(*secretEnv); secret == "" {
			return fmt.Errorf("--secret-env: environment variable %s is not set", *secretEnv)
		}
	}
	req := devtoken.Request{Sub: *sub, Email: *email, TTL: *ttl, Issuer: *issuer, NoIssuer: *issuer == ""}
	tok, err := devtoken.Mint([]byte(secret), req, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

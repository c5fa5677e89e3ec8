package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/vibepass/vibepass/proxy/auth"
)

// uuidPattern matches a UUID in its canonical text form.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func init() {
	register("token", "print a user access token for local use (--sub UUID)", token)
}

// token prints a Supabase-shaped HS256 access token for a user, for local use
// (curl, Postman, the spec's examples). By default it signs with the secret dev uses.
func token(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "", "user id (UUID), required")
	email := fs.String("email", "", "email claim")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	secretEnv := fs.String("secret-env", "", "environment variable holding the HS256 secret (default: the local stack's dev secret)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !uuidPattern.MatchString(*sub) {
		return errors.New("--sub must be a UUID")
	}
	if *ttl <= 0 {
		return errors.New("--ttl must be positive")
	}
	secret := auth.DevJWTSecret
	if *secretEnv != "" {
		if secret = os.Getenv(*secretEnv); secret == "" {
			return fmt.Errorf("--secret-env: environment variable %s is not set", *secretEnv)
		}
	}
	tok, err := auth.Mint([]byte(secret), auth.TokenRequest{Sub: *sub, Email: *email, TTL: *ttl}, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

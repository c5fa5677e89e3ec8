package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// tokenKind is how the bench's user tokens are signed: with the legacy HS256 secret, or
// with an ES256 key published in a JWKS, as Supabase projects sign them by default now.
type tokenKind string

const (
	hs256 tokenKind = "HS256"
	es256 tokenKind = "ES256"
)

// benchSigner signs the bench's tokens of both kinds and serves the ES256 key's JWKS
// on loopback, which the proxy fetches through its auth.jwks_url as it would
// Supabase's.
type benchSigner struct {
	secret  string // HS256; a fresh one per run, as serve refuses the public dev secret
	key     *devtoken.ES256Key
	jwksURL string
	server  *http.Server
	// minted counts the token sets minted, so that each set differs from the last.
	minted int
}

// newBenchSigner makes the keys and starts serving the JWKS.
func newBenchSigner() (*benchSigner, error) {
	key, err := devtoken.NewES256Key()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &benchSigner{secret: devtoken.NewSecret(), key: key, jwksURL: "http://" + ln.Addr().String() + devtoken.JWKSPath}
	s.server = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: key}
	go func() { _ = s.server.Serve(ln) }()
	return s, nil
}

// close stops serving the JWKS.
func (s *benchSigner) close() {
	_ = s.server.Shutdown(context.Background())
}

// mint gives every user a new token of kind, valid for the rest of the run. Each set
// differs from the ones before (its expiry is a second later), so the proxy's cache
// of verified tokens knows none of them: the figure that follows measures tokens seen
// for the first time, until it has gone through every user.
func (s *benchSigner) mint(users []benchUser, kind tokenKind) error {
	s.minted++
	now := time.Now()
	for i := range users {
		req := devtoken.Request{Sub: users[i].id, Email: users[i].email, SessionID: users[i].session, TTL: 6*time.Hour + time.Duration(s.minted)*time.Second}
		var err error
		switch kind {
		case hs256:
			users[i].token, err = devtoken.Mint([]byte(s.secret), req, now)
		case es256:
			users[i].token, err = s.key.Mint(req, now)
		default:
			err = fmt.Errorf("no token kind %q", kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
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
	// ttl is how long minted tokens last: the whole run.
	ttl time.Duration
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
	s := &benchSigner{secret: devtoken.NewSecret(), key: key, ttl: 6 * time.Hour, jwksURL: "http://" + ln.Addr().String() + devtoken.JWKSPath}
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
//
// The users are split among as many goroutines as there are CPUs: a million ES256
// signatures take a while.
func (s *benchSigner) mint(users []benchUser, kind tokenKind) error {
	s.minted++
	now := time.Now()
	ttl := s.ttl + time.Duration(s.minted)*time.Second
	parts := runtime.NumCPU()
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < len(users) && errs[p] == nil; i += parts {
				req := devtoken.Request{Sub: users[i].id, Email: users[i].email, SessionID: users[i].session, TTL: ttl}
				switch kind {
				case hs256:
					users[i].token, errs[p] = devtoken.Mint([]byte(s.secret), req, now)
				case es256:
					users[i].token, errs[p] = s.key.Mint(req, now)
				default:
					errs[p] = fmt.Errorf("no token kind %q", kind)
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

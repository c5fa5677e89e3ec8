package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
)

// tokenKind is how the bench's user tokens are signed: with the legacy HS256 secret, or
// with an ES256 key published in a JWKS, as Supabase projects sign them by default now.
type tokenKind string

const (
	hs256 tokenKind = "HS256"
	es256 tokenKind = "ES256"
)

// benchKID names the bench's ES256 key in its JWKS and in every ES256 token.
const benchKID = "vibepass-bench-es256"

// benchSigner signs the bench's tokens of both kinds and serves the ES256 key's JWKS
// on loopback, which the proxy fetches through its auth.jwks_url as it would
// Supabase's.
type benchSigner struct {
	secret  string // HS256; a fresh one per run, as serve refuses the public dev secret
	key     *ecdsa.PrivateKey
	jwksURL string
	server  *http.Server
	// minted counts the token sets minted, so that each set differs from the last.
	minted int
}

// newBenchSigner makes the keys and starts serving the JWKS.
func newBenchSigner() (*benchSigner, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		ALG: jwkset.AlgES256, KID: benchKID, USE: jwkset.UseSig,
	}})
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &benchSigner{secret: devtoken.NewSecret(), key: key, jwksURL: "http://" + ln.Addr().String() + "/auth/v1/.well-known/jwks.json"}
	s.server = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
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
		req := devtoken.Request{Sub: users[i].id, Email: users[i].email, TTL: 6*time.Hour + time.Duration(s.minted)*time.Second}
		var err error
		switch kind {
		case hs256:
			users[i].token, err = devtoken.Mint([]byte(s.secret), req, now)
		case es256:
			users[i].token, err = s.signES256(req, now)
		default:
			err = fmt.Errorf("no token kind %q", kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// signES256 signs req's claims with the JWKS key, naming its kid, as Supabase Auth does.
func (s *benchSigner) signES256(req devtoken.Request, now time.Time) (string, error) {
	claims, err := devtoken.Claims(req, now)
	if err != nil {
		return "", err
	}
	token := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	token.Header[jwkset.HeaderKID] = benchKID
	signed, err := token.SignedString(s.key)
	if err != nil {
		return "", errors.Join(errors.New("signing an ES256 bench token"), err)
	}
	return signed, nil
}

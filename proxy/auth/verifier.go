// Package auth checks who a request comes from: users by their Supabase access
// token (ES256/RS256 through the project's JWKS, or the legacy HS256 secret) and
// the model by its API key. Its subpackage devtoken mints Supabase-shaped tokens
// for local use and tests.
package auth

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/vibepass/vibepass"
)

// Messages of the errors Verify returns; each names what was wrong, never the token.
const (
	msgMissing         = "Missing bearer token"
	msgMalformed       = "Malformed token"
	msgNoExpiry        = "Token has no expiry"
	msgNotYetValid     = "Token not valid yet"
	msgBadSignature    = "Invalid token signature"
	msgWrongAudience   = "Invalid token audience"
	msgWrongIssuer     = "Invalid token issuer"
	msgWrongRole       = "Invalid token role"
	msgBadSubject      = "Invalid token subject"
	msgUnknownKey      = "Unknown token signing key"
	msgUnsupportedAlg  = "Unsupported token algorithm"
	msgKeysUnavailable = "Token signing keys are not loaded yet"
	msgDuplicateKey    = "Token has duplicate keys"
	msgCritical        = "Token has an unsupported critical header"
)

// JWKS behaviour. Supabase caches its JWKS for 10 minutes at the edge, so
// refreshing more often gains nothing, and less often keeps a revoked key longer.
const (
	jwksRefreshInterval = 10 * time.Minute
	jwksHTTPTimeout     = 5 * time.Second
	// A token with an unknown kid triggers at most one JWKS fetch a minute, and a
	// request waits at most this long for it: a flood of bad kids cannot stall anyone.
	unknownKIDRefreshEvery = time.Minute
	unknownKIDWaitMax      = time.Second
	// Retry schedule when the JWKS could not be fetched at start.
	jwksRetryFirst = time.Second
	jwksRetryMax   = 30 * time.Second
)

// MinHS256SecretLen is the shortest HS256 secret accepted: Supabase's legacy secrets are
// at least 32 characters, and shorter ones are guessable.
const MinHS256SecretLen = 32

var (
	errUnknownKey      = errors.New("no JWKS key for the token")
	errKeysUnavailable = errors.New("JWKS not loaded yet")
	errWrongRole       = errors.New("role is not authenticated")
	errWrongIssuer     = errors.New("iss is not the configured issuer")
	errBadSubject      = errors.New("sub is not a UUID")
	errCritical        = errors.New("crit header present")
)

// Options configure a Verifier. At least one of HS256Secret and JWKSURL is required.
type Options struct {
	// HS256Secret is the project's legacy JWT secret; HS256 tokens are refused without it.
	HS256Secret []byte
	// JWKSURL is <SUPABASE_URL>/auth/v1/.well-known/jwks.json; ES256/RS256 tokens are refused without it.
	JWKSURL string
	// Issuer, when set, is the iss every token must carry, byte for byte (a hosted
	// project's Auth: https://<ref>.supabase.co/auth/v1); a token without iss is refused
	// too. "" checks no iss: Supabase Auth sends none when no issuer is configured.
	Issuer string
	// Leeway is the clock skew allowed on exp and nbf; 0 means 30 s.
	Leeway time.Duration
	// Clock tells the time; nil means vibepass.SystemClock.
	Clock vibepass.Clock
	// HTTPClient fetches the JWKS; nil means http.DefaultClient (each fetch has its own timeout).
	HTTPClient *http.Client
	// Logger receives JWKS fetch failures; nil means slog.Default().
	Logger *slog.Logger
	// CacheBytes bounds the cache of verified tokens; 0 means defaultCacheBytes, and a
	// negative value turns the cache off.
	CacheBytes int
}

// Verifier checks user access tokens. It is safe for concurrent use.
type Verifier struct {
	secret  []byte
	jwksURL string
	issuer  string
	parser  *jwt.Parser
	client  *http.Client
	logger  *slog.Logger
	allowed map[string]bool
	clock   vibepass.Clock
	leeway  time.Duration
	// cache is nil when Options.CacheBytes is negative.
	cache *tokenCache

	// jwks is nil until the key set has been fetched once.
	jwks atomic.Pointer[keySet]
	// fetched and fetchFailures record every JWKS fetch, for JWKSState.
	fetched       atomic.Int64 // Unix nanoseconds of the last successful fetch; 0: none yet
	fetchFailures atomic.Uint64
	cancel        context.CancelFunc
	wg            sync.WaitGroup
}

// keySet is a fetched JWKS kept fresh by keyfunc's refresh goroutine.
type keySet struct {
	storage jwkset.Storage
	// stop ends the refresh goroutine.
	stop context.CancelFunc
}

// NewVerifier builds a Verifier; ctx (or Close) ends its background JWKS refresh.
//
// When the JWKS cannot be fetched at start, NewVerifier still succeeds: it logs
// the failure and keeps retrying in the background (1 s doubling to 30 s), while
// ES256/RS256 tokens get EUNAVAILABLE and Ready reports the problem. A proxy that
// refused to start during a brief Supabase Auth outage would turn it into a crash
// loop; HS256 tokens, /healthz and the model endpoint keep working meanwhile.
// Configuration mistakes (no key source, short secret, bad URL or one with
// credentials) fail at once.
func NewVerifier(ctx context.Context, opts Options) (*Verifier, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	leeway := opts.Leeway
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	clock := opts.Clock
	if clock == nil {
		clock = vibepass.SystemClock
	}
	v := &Verifier{
		secret:  bytes.Clone(opts.HS256Secret),
		jwksURL: opts.JWKSURL,
		issuer:  opts.Issuer,
		client:  opts.HTTPClient,
		logger:  opts.Logger,
		allowed: map[string]bool{},
		clock:   clock,
		leeway:  leeway,
	}
	switch {
	case opts.CacheBytes == 0:
		v.cache = newTokenCache(defaultCacheBytes)
	case opts.CacheBytes > 0:
		v.cache = newTokenCache(opts.CacheBytes)
	}
	if v.logger == nil {
		v.logger = slog.Default()
	}
	if v.jwksURL != "" {
		v.client = v.recordingClient(clock)
	}
	if len(v.secret) > 0 {
		v.allowed[jwt.SigningMethodHS256.Alg()] = true
	}
	if v.jwksURL != "" {
		v.allowed[jwt.SigningMethodES256.Alg()] = true
		v.allowed[jwt.SigningMethodRS256.Alg()] = true
	}
	v.parser = newParser(v.allowed, leeway, clock)

	ctx, v.cancel = context.WithCancel(ctx)
	if err := v.startJWKS(ctx); err != nil {
		v.cancel()
		return nil, err
	}
	return v, nil
}

// checkOptions refuses the configuration mistakes: no key source, a short secret, a
// JWKS URL that is not http(s) or carries credentials, a negative leeway.
func checkOptions(opts Options) error {
	if len(opts.HS256Secret) == 0 && opts.JWKSURL == "" {
		return errors.New("auth: configure an HS256 secret, a JWKS URL, or both")
	}
	if len(opts.HS256Secret) > 0 && len(opts.HS256Secret) < MinHS256SecretLen {
		return fmt.Errorf("auth: the HS256 secret must be at least %d bytes", MinHS256SecretLen)
	}
	if opts.JWKSURL != "" {
		// The URL is logged on every failed fetch: it must hold nothing secret, and
		// an unparsable one is not quoted in case it does.
		switch err := vibepass.CheckServiceURL(opts.JWKSURL); {
		case errors.Is(err, vibepass.ErrURLCredentials):
			return errors.New("auth: the JWKS URL must not carry credentials (user:password@): a JWKS is public")
		case err != nil:
			return errors.New("auth: the JWKS URL is not an absolute http(s) URL")
		}
	}
	if opts.Leeway < 0 {
		return errors.New("auth: leeway must not be negative")
	}
	return nil
}

// newParser is the token parser: the allowed algorithms only, exp required, the
// authenticated audience, leeway on the times read from clock.
func newParser(allowed map[string]bool, leeway time.Duration, clock vibepass.Clock) *jwt.Parser {
	methods := make([]string, 0, len(allowed))
	for alg := range allowed {
		methods = append(methods, alg)
	}
	return jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(vibepass.RoleAuthenticated),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(clock),
		// One spelling per token: base64url's unused low bits in a part's last character
		// must be zero, so no other string verifies as the same token (and takes a cache
		// entry of its own, or slips past a list of refused tokens).
		jwt.WithStrictDecoding(),
	)
}

// startJWKS fetches the JWKS, when one is configured, and keeps it fresh until ctx ends.
// A failed first fetch is logged and retried in the background; only ctx ending fails.
func (v *Verifier) startJWKS(ctx context.Context) error {
	if v.jwksURL == "" {
		return nil
	}
	ks, err := v.loadJWKS(ctx)
	switch {
	case err == nil:
		v.jwks.Store(ks)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		v.logger.ErrorContext(ctx, "JWKS fetch failed at start; ES256/RS256 tokens are refused until it succeeds",
			"url", v.jwksURL, "error", err)
		v.wg.Add(1)
		go v.retryJWKS(ctx)
	}
	return nil
}

// loadJWKS fetches the key set once and starts keyfunc's background refresh.
func (v *Verifier) loadJWKS(ctx context.Context) (*keySet, error) {
	ctx, stop := context.WithCancel(ctx)
	failFirst := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{v.jwksURL}, keyfunc.Override{
		Client:                    v.client,
		HTTPTimeout:               jwksHTTPTimeout,
		NoErrorReturnFirstHTTPReq: &failFirst,
		RateLimitWaitMax:          unknownKIDWaitMax,
		RefreshInterval:           jwksRefreshInterval,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(unknownKIDRefreshEvery), 1),
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				v.logger.WarnContext(ctx, "JWKS refresh failed; keeping the keys already fetched", "url", u, "error", err)
			}
		},
	})
	if err != nil {
		stop() // ends the refresh goroutine keyfunc started before its first fetch failed
		return nil, err
	}
	return &keySet{storage: kf.Storage(), stop: stop}, nil
}

// retryJWKS keeps fetching the key set after a failed start until it succeeds.
func (v *Verifier) retryJWKS(ctx context.Context) {
	defer v.wg.Done()
	wait := jwksRetryFirst
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		ks, err := v.loadJWKS(ctx)
		if err == nil {
			v.jwks.Store(ks)
			v.logger.InfoContext(ctx, "JWKS fetched", "url", v.jwksURL)
			return
		}
		if ctx.Err() != nil {
			return
		}
		v.logger.WarnContext(ctx, "JWKS fetch failed; retrying", "url", v.jwksURL, "in", wait, "error", err)
		wait = min(2*wait, jwksRetryMax)
	}
}

// Ready reports whether the Verifier can check every algorithm it is configured
// for: an EUNAVAILABLE error while the JWKS has not been fetched yet.
func (v *Verifier) Ready() error {
	if v.jwksURL != "" && v.jwks.Load() == nil {
		return keysUnavailable()
	}
	return nil
}

// JWKSState is the state of a Verifier's JWKS, for the metrics.
type JWKSState struct {
	// LastRefresh is when the JWKS was last fetched successfully; zero: never.
	LastRefresh time.Time
	// Keys is how many keys the key set now held has.
	Keys int
	// Failures counts the fetches that failed: a transport error or a status other than 200.
	Failures uint64
}

// JWKSState reports the JWKS's state, and false when no JWKS URL is configured.
func (v *Verifier) JWKSState(ctx context.Context) (JWKSState, bool) {
	if v.jwksURL == "" {
		return JWKSState{}, false
	}
	st := JWKSState{Failures: v.fetchFailures.Load()}
	if ns := v.fetched.Load(); ns != 0 {
		st.LastRefresh = time.Unix(0, ns)
	}
	if ks := v.jwks.Load(); ks != nil {
		if keys, err := ks.storage.KeyReadAll(ctx); err == nil { // memory storage: it does not fail
			st.Keys = len(keys)
		}
	}
	return st, true
}

// recordingClient returns the JWKS client with a transport that records each
// fetch's outcome: keyfunc reports failed refreshes but not successful ones.
func (v *Verifier) recordingClient(clock vibepass.Clock) *http.Client {
	c := http.Client{}
	if v.client != nil {
		c = *v.client
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			v.fetchFailures.Add(1)
		} else {
			v.fetched.Store(clock().UnixNano())
		}
		return resp, err
	})
	return &c
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

// RoundTrip implements http.RoundTripper.
func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// Close ends the background JWKS refresh and waits for it.
func (v *Verifier) Close() {
	v.cancel()
	if ks := v.jwks.Load(); ks != nil {
		ks.stop()
	}
	v.wg.Wait()
}

// BearerToken returns the token of an "Authorization: Bearer <token>" header
// value, or "" when the header is absent or of another scheme.
func BearerToken(authorization string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// Verify checks an access token and returns the user it speaks for. Failures are
// *vibepass.Error: EUNAUTHORIZED naming what was wrong, or EUNAVAILABLE while the
// JWKS has not been fetched yet. ctx bounds the JWKS refresh an unknown kid causes.
// The Caller's Claims may be shared with other calls for the same token: read only.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (vibepass.Caller, error) {
	if rawToken == "" {
		return vibepass.Caller{}, &vibepass.Error{Code: vibepass.EUNAUTHORIZED, Message: msgMissing, Reason: vibepass.RMISSINGTOKEN}
	}
	if who, ok := v.cached(ctx, rawToken); ok {
		return who, nil
	}
	var used verifiedToken // the key keyFor picked
	claims := tokenClaims{wantIssuer: v.issuer}
	token, err := v.parser.ParseWithClaims(rawToken, &claims, v.keyFor(ctx, &used))
	if err != nil {
		return vibepass.Caller{}, v.explain(err, token, &claims)
	}
	used.caller = vibepass.Caller{
		UserID: claims.Subject,
		// Callers may pass strings that alias reused buffers (fiber); the Caller outlives them.
		Token:  strings.Clone(rawToken),
		Claims: claims.raw,
	}
	// A JWKS token without a kid was checked against every key: it is not kept, as
	// there is no one key whose removal would end it.
	if v.cache != nil && (used.alg == jwt.SigningMethodHS256.Alg() || used.key != nil) {
		used.expires = claims.ExpiresAt.Add(v.leeway)
		if claims.NotBefore != nil {
			used.notBefore = claims.NotBefore.Add(-v.leeway)
		}
		v.cache.put(&used)
	}
	return used.caller, nil
}

// cached returns the Caller of a token verified before, when it is still valid now
// (the same exp and nbf checks, with the same leeway, as the parser's) and, for a
// JWKS token, the key that verified it is still published for its alg. An entry
// that fails either is dropped, and the caller verifies the token afresh.
func (v *Verifier) cached(ctx context.Context, rawToken string) (vibepass.Caller, bool) {
	if v.cache == nil {
		return vibepass.Caller{}, false
	}
	e := v.cache.get(rawToken)
	if e == nil {
		v.cache.misses.Add(1)
		return vibepass.Caller{}, false
	}
	now := v.clock()
	if !now.Before(e.expires) || now.Before(e.notBefore) || !v.keyStillPublished(ctx, e) {
		v.cache.drop(e)
		v.cache.misses.Add(1)
		return vibepass.Caller{}, false
	}
	v.cache.hits.Add(1)
	return e.caller, true
}

// CacheStats reports the cache of verified tokens, and false when it is off.
func (v *Verifier) CacheStats() (CacheStats, bool) {
	if v.cache == nil {
		return CacheStats{}, false
	}
	return v.cache.stats(), true
}

// keyStillPublished reports whether the JWKS key that verified e is still in the key
// set now held, unchanged and usable for e's alg; always true for HS256.
func (v *Verifier) keyStillPublished(ctx context.Context, e *verifiedToken) bool {
	if e.key == nil {
		return true
	}
	ks := v.jwks.Load()
	if ks == nil {
		return false
	}
	key, err := ks.namedKey(ctx, e.alg, e.kid)
	if err != nil {
		return false
	}
	// The key set hands out the same parsed key until a refresh parses it anew; Equal
	// copies the key's numbers to compare them. (e.key is a pointer, so == cannot panic.)
	if key == e.key {
		return true
	}
	same, ok := key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && same.Equal(e.key)
}

// keyFor checks the header and picks the key by the token's alg: HS256 tokens carry
// no kid the JWKS knows, and an ES256/RS256 token must never be checked against the secret.
// It records in used the alg and the one JWKS key picked, if one was.
func (v *Verifier) keyFor(ctx context.Context, used *verifiedToken) jwt.Keyfunc {
	return func(token *jwt.Token) (any, error) {
		if err := checkHeader(token); err != nil {
			return nil, err
		}
		// The parser has already refused algorithms not in v.allowed.
		used.alg = token.Method.Alg()
		if used.alg == jwt.SigningMethodHS256.Alg() {
			return v.secret, nil
		}
		ks := v.jwks.Load()
		if ks == nil {
			return nil, errKeysUnavailable
		}
		key, err := ks.keyFor(ctx, token)
		if _, set := key.(jwt.VerificationKeySet); err == nil && !set {
			used.kid, _ = token.Header[jwkset.HeaderKID].(string)
			used.key = key
		}
		return key, err
	}
}

// checkHeader refuses what golang-jwt lets through in the JOSE header: duplicate
// names, and "crit" (RFC 7515 §4.1.11: a recipient must refuse extensions it does not
// implement; vibepass implements none, and an empty list is invalid anyway).
func checkHeader(token *jwt.Token) error {
	if _, ok := token.Header["crit"]; ok {
		return errCritical
	}
	segment, _, _ := strings.Cut(token.Raw, ".")
	header, err := base64.RawURLEncoding.DecodeString(segment) // the parser has decoded it already
	if err != nil {
		return err
	}
	_, err = objectMembers(header)
	return err
}

// keyFor returns the JWKS key for token: the one its kid names (the lookup refreshes the
// set at most once a minute for an unknown kid), or every usable key when it names none.
func (ks *keySet) keyFor(ctx context.Context, token *jwt.Token) (any, error) {
	alg := token.Method.Alg()
	kid, named := token.Header[jwkset.HeaderKID]
	if !named {
		all, err := ks.storage.KeyReadAll(ctx)
		if err != nil {
			return nil, errors.Join(errUnknownKey, err)
		}
		var set jwt.VerificationKeySet
		for _, jwk := range all {
			if verifies(jwk, alg) {
				set.Keys = append(set.Keys, publicKey(jwk))
			}
		}
		if len(set.Keys) == 0 {
			return nil, errUnknownKey
		}
		return set, nil
	}
	id, ok := kid.(string)
	if !ok {
		return nil, errUnknownKey
	}
	return ks.namedKey(ctx, alg, id)
}

// namedKey returns the JWKS key with kid id when it may verify alg (the lookup
// refreshes the set at most once a minute for an unknown kid).
func (ks *keySet) namedKey(ctx context.Context, alg, id string) (any, error) {
	jwk, err := ks.storage.KeyRead(ctx, id)
	if err != nil {
		return nil, errors.Join(errUnknownKey, err)
	}
	if !verifies(jwk, alg) {
		return nil, errUnknownKey
	}
	return publicKey(jwk), nil
}

// verifies reports whether jwk may check a signature of alg: it is not meant for
// encryption (use "sig" or none), its key_ops (if any) include "verify", and it was not
// published for another alg (RFC 7517 §4.2-4.4). keyfunc checks only the alg, and only
// when the token names a kid.
func verifies(jwk jwkset.JWK, alg string) bool {
	m := jwk.Marshal()
	return (m.USE == "" || m.USE == jwkset.UseSig) &&
		(len(m.KEYOPS) == 0 || slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify)) &&
		(m.ALG == "" || m.ALG.String() == alg)
}

// publicKey is jwk's key for verifying: the public half if the JWKS published a private one.
func publicKey(jwk jwkset.JWK) any {
	if private, ok := jwk.Key().(crypto.Signer); ok {
		return private.Public()
	}
	return jwk.Key()
}

// explain turns a parse failure into the client-safe error that names its cause.
func (v *Verifier) explain(err error, token *jwt.Token, claims *tokenClaims) error {
	switch {
	case errors.Is(err, errDuplicateKey):
		return unauthorized(msgDuplicateKey)
	case errors.Is(err, jwt.ErrTokenMalformed), token == nil:
		return unauthorized(msgMalformed)
	case token.Method == nil || !v.allowed[token.Method.Alg()]:
		return unauthorized(msgUnsupportedAlg)
	case errors.Is(err, errCritical):
		return unauthorized(msgCritical)
	case errors.Is(err, errKeysUnavailable):
		return keysUnavailable()
	case errors.Is(err, errUnknownKey):
		return unauthorized(msgUnknownKey)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized(msgBadSignature)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return unauthorized(msgUnknownKey) // e.g. no kid and an empty key set
	case errors.Is(err, jwt.ErrTokenExpired):
		return vibepass.ErrTokenExpired
	case claims.ExpiresAt == nil:
		return unauthorized(msgNoExpiry)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthorized(msgNotYetValid)
	// Role before audience: the anon or service_role key sent as a user token lacks both.
	case errors.Is(err, errWrongRole):
		return unauthorized(msgWrongRole)
	case errors.Is(err, jwt.ErrTokenInvalidAudience), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return unauthorized(msgWrongAudience)
	case errors.Is(err, errWrongIssuer):
		return unauthorized(msgWrongIssuer)
	case errors.Is(err, errBadSubject):
		return unauthorized(msgBadSubject)
	default:
		return unauthorized(msgMalformed)
	}
}

// unauthorized is a fresh EUNAUTHORIZED error for a token that was sent but is
// not valid, so no caller can alter a shared one.
func unauthorized(msg string) error {
	return &vibepass.Error{Code: vibepass.EUNAUTHORIZED, Message: msg, Reason: vibepass.RINVALIDTOKEN}
}

// keysUnavailable is a fresh EUNAVAILABLE error while the JWKS has not been fetched.
func keysUnavailable() error {
	return &vibepass.Error{Code: vibepass.EUNAVAILABLE, Message: msgKeysUnavailable, Reason: vibepass.RKEYSLOADING}
}

// tokenClaims is what Verify reads from a token, plus the payload as sent.
type tokenClaims struct {
	jwt.RegisteredClaims
	Role string
	// raw is the verified payload, passed on to Postgres untouched.
	raw json.RawMessage
	// wantIssuer is the Verifier's Options.Issuer, which Validate holds iss to.
	wantIssuer string
}

// UnmarshalJSON reads the claims as Postgres's jsonb does, keys matched exactly, and
// refuses a payload that JSON readers could read differently (errDuplicateKey): decoded
// into a struct, encoding/json takes a later "SUB" for "sub", so the proxy would log and
// rate-limit one user while auth.uid() checks in another; and parsers differ on which of
// two equal keys wins. Case variants are refused only at the top level, where the claims
// live; below it (user_metadata) they are the user's own data, and an exact reading is
// enough. It keeps the payload bytes so Verify needs no second decode or re-encode.
func (c *tokenClaims) UnmarshalJSON(data []byte) error {
	members, err := objectMembers(data)
	if err != nil {
		return err
	}
	if err := checkFoldedKeys(members); err != nil {
		return err
	}
	// The claims Verify reads, matched by exact name, each decoded by its own type's
	// decoder (what encoding/json would call after finding the type by reflection).
	for _, m := range members {
		var err error
		switch string(m.key) {
		case "iss":
			err = decodeString(m.value, &c.Issuer)
		case "sub":
			err = decodeString(m.value, &c.Subject)
		case "jti":
			err = decodeString(m.value, &c.ID)
		case "role":
			err = decodeString(m.value, &c.Role)
		case "aud":
			c.Audience, err = decodeAudience(m.value)
		case "exp":
			c.ExpiresAt, err = decodeNumericDate(m.value)
		case "nbf":
			c.NotBefore, err = decodeNumericDate(m.value)
		case "iat":
			c.IssuedAt, err = decodeNumericDate(m.value)
		}
		if err != nil {
			return err
		}
	}
	c.raw = bytes.Clone(data)
	return nil
}

// isPlainString reports whether a JSON value is a string that reads as written between
// its quotes: no escapes, valid UTF-8.
func isPlainString(value []byte) bool {
	return len(value) >= 2 && value[0] == '"' && bytes.IndexByte(value, '\\') < 0 && utf8.Valid(value)
}

// decodeString decodes a JSON value known to be valid into s as encoding/json does:
// a plain string (no escapes, valid UTF-8) is taken as written, and anything else (an
// escape, a number, null) goes through encoding/json for its exact result or error.
func decodeString(value []byte, s *string) error {
	if isPlainString(value) {
		*s = string(value[1 : len(value)-1])
		return nil
	}
	return json.Unmarshal(value, s)
}

// decodeAudience decodes aud as jwt.ClaimStrings' UnmarshalJSON does, reading a
// plain string (Supabase's "authenticated") without it.
func decodeAudience(value []byte) (jwt.ClaimStrings, error) {
	if isPlainString(value) {
		return jwt.ClaimStrings{string(value[1 : len(value)-1])}, nil
	}
	var aud jwt.ClaimStrings
	err := aud.UnmarshalJSON(value)
	return aud, err
}

// decodeNumericDate decodes a JSON value known to be valid as encoding/json decodes it
// into a *jwt.NumericDate: null is nil, a number is read as NumericDate's UnmarshalJSON
// reads it (strconv.ParseFloat, then whole seconds and the fraction at TimePrecision),
// and anything else goes through that UnmarshalJSON for its error.
func decodeNumericDate(value []byte) (*jwt.NumericDate, error) {
	if string(value) == "null" {
		return nil, nil
	}
	if value[0] == '-' || '0' <= value[0] && value[0] <= '9' {
		if f, err := strconv.ParseFloat(string(value), 64); err == nil {
			whole, frac := math.Modf(f)
			return jwt.NewNumericDate(time.Unix(int64(whole), int64(frac*1e9))), nil
		}
	}
	d := new(jwt.NumericDate)
	if err := d.UnmarshalJSON(value); err != nil {
		return nil, err
	}
	return d, nil
}

// Validate adds Supabase's user-token rules to jwt's exp/nbf/aud checks, and iss
// when an issuer is configured: equal to it exactly, no missing iss, no trailing-slash
// or case leniency (jwt.WithIssuer would report a missing iss as a missing claim, which
// explain could not tell from a missing aud).
func (c *tokenClaims) Validate() error {
	var errs []error
	if c.Role != vibepass.RoleAuthenticated {
		errs = append(errs, errWrongRole)
	}
	if c.wantIssuer != "" && c.Issuer != c.wantIssuer {
		errs = append(errs, errWrongIssuer)
	}
	if !vibepass.IsUUID(c.Subject) {
		errs = append(errs, errBadSubject)
	}
	return errors.Join(errs...)
}

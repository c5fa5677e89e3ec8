// Package config reads vibepass's configuration: config.toml and VIBEPASS_<SECTION>_<KEY>
// variables over it, with secrets from the environment only (those variables, env(NAME)
// values and MODEL_API_KEY), validated once at start so that every error names the key
// at fault and where it was set.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/presence"
	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/auth"
)

// Upstream kinds accepted in upstream.kind.
const (
	UpstreamPostgres  = "postgres"
	UpstreamPostgREST = "postgrest"
)

// ModelKeysEnv names the environment variable holding the model API keys, comma-separated.
const ModelKeysEnv = "MODEL_API_KEY"

// Config is the whole configuration, read from a TOML file and the environment by Read.
type Config struct {
	// Listen is the host:port the server binds.
	Listen   string         `toml:"listen"`
	Upstream UpstreamConfig `toml:"upstream"` // [upstream]
	Auth     AuthConfig     `toml:"auth"`     // [auth]
	Log      LogConfig      `toml:"log"`      // [log]
	Metrics  MetricsConfig  `toml:"metrics"`  // [metrics]
	// Config holds the HTTP server's sections: [cors], [timeouts], [rate_limit],
	// [limits], [page], [client_ip] and [feed].
	proxy.Config
	// ModelAPIKeys are the keys the model endpoint accepts; from MODEL_API_KEY, never the file.
	ModelAPIKeys []string `toml:"-"`
	// File is the config file read; "" when the environment and defaults gave everything.
	File string `toml:"-"`
	// Warnings say what the file or the environment should change, e.g. a renamed key;
	// serve logs them at start.
	Warnings []string `toml:"-"`
}

// renamedKeys maps keys that were renamed to their new names. The old name still works,
// with a warning, unless the new one is set too.
var renamedKeys = map[string]string{
	// It only ever counted failed authentications, as its limiter's name says.
	"rate_limit.ip_per_minute": "rate_limit.failed_auth_per_minute",
}

// UpstreamConfig says where the vibepass functions live.
type UpstreamConfig struct {
	// Kind is "postgres" (a pgx pool, DBURL) or "postgrest" (Supabase's REST API, URL and keys).
	Kind string `toml:"kind"`
	// DBURL is the Postgres URL of the authenticator role (kind postgres).
	DBURL string `toml:"db_url"`
	// URL is the Supabase project URL, e.g. http://127.0.0.1:54321 (kind postgrest).
	URL string `toml:"url"`
	// AnonKey is sent as apikey with user requests (kind postgrest).
	AnonKey string `toml:"anon_key"`
	// ServiceRoleKey authorizes the model's read (kind postgrest).
	ServiceRoleKey string `toml:"service_role_key"`
	// PoolMaxConns is the most database connections user calls and /readyz hold at
	// once (kind postgres); model reads have their own pool of limits.model_streams.
	PoolMaxConns int32 `toml:"pool_max_conns"`
}

// DefaultPoolMaxConns is upstream.pool_max_conns when the file leaves it out:
// PostgREST's own default pool size.
const DefaultPoolMaxConns = 10

// AuthConfig says how user access tokens are verified; at least one of JWTSecret and
// JWKSURL is set.
type AuthConfig struct {
	// JWTSecret is the legacy HS256 secret.
	JWTSecret string `toml:"jwt_secret"`
	// JWKSURL serves the project's ES256/RS256 public keys.
	JWKSURL string `toml:"jwks_url"`
	// Issuer, when set, is the iss every token must carry exactly, e.g.
	// https://<ref>.supabase.co/auth/v1; "" checks no iss.
	Issuer string `toml:"issuer"`
}

// LogConfig configures the JSON logs on stderr.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
}

// MetricsConfig says where serve exposes GET /metrics.
type MetricsConfig struct {
	// Listen is the host:port of a listener for /metrics alone, apart from the API,
	// so that metrics never reach the API's public address; "" serves none.
	Listen string `toml:"listen"`
}

// DefaultMetricsListen is metrics.listen when the file leaves it out: loopback,
// so that nothing is exposed unless the operator says so.
const DefaultMetricsListen = "127.0.0.1:9464"

// Default returns the values used for every key the file leaves out.
func Default() Config {
	return Config{
		Listen:   "127.0.0.1:3000",
		Upstream: UpstreamConfig{PoolMaxConns: DefaultPoolMaxConns},
		Log:      LogConfig{Level: "info"},
		Metrics:  MetricsConfig{Listen: DefaultMetricsListen},
		Config:   proxy.DefaultConfig(),
	}
}

// Sources says where Read takes the configuration from besides the environment.
type Sources struct {
	// Path is the config file; "" reads none.
	Path string
	// Optional lets the file at Path be missing: serve's default config.toml, absent
	// from a container configured by its environment alone.
	Optional bool
	// Listen is serve's --listen flag, over every other source; "" when not given.
	Listen string
}

// Read reads the configuration, each source over the next: flags, the environment
// (VIBEPASS_<SECTION>_<KEY>, then PORT for listen alone), the file, the defaults, as
// the Supabase CLI layers its own. Then it resolves, validates and checks the secrets
// as Parse does; an error names the key, and the variable or flag that set it.
func Read(s Sources) (Config, error) {
	var data []byte
	path := s.Path
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && s.Optional:
			path = ""
		case err != nil:
			return Config{}, err // it names the file
		}
	}
	return parse(path, data, s.Listen)
}

// Parse reads a config file's contents over DefaultConfig and the VIBEPASS_*
// variables over those, resolves env(NAME) values, reads the model keys from
// MODEL_API_KEY, validates the result and applies the secret policy (see
// checkSecrets). Every error names the key at fault and where it was set (the file,
// path, or a variable), never a secret's value.
func Parse(path string, data []byte) (Config, error) {
	return parse(path, data, "")
}

// parse is Parse with serve's --listen flag.
func parse(path string, data []byte, listenFlag string) (Config, error) {
	cfg := Default()
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	undecoded, err := cfg.applyRenamedKeys(md, data, path)
	if err != nil {
		return Config{}, err
	}
	if len(undecoded) > 0 {
		if undecoded[0][0] == "pass" {
			return Config{}, fmt.Errorf("%s: [pass] is no longer read: the pass length is the database's vibepass.settings.pass_length alone; delete the section", path)
		}
		return Config{}, fmt.Errorf("%s: %s: unknown key", path, undecoded[0])
	}
	cfg.File = path
	origin := map[string]string{} // key -> the variable or flag that set it
	if err := cfg.applyEnv(origin); err != nil {
		return Config{}, err
	}
	switch {
	case listenFlag != "":
		cfg.Listen, origin["listen"] = listenFlag, "--listen"
	case origin["listen"] == "" && !md.IsDefined("listen"):
		if err := cfg.applyPort(origin); err != nil {
			return Config{}, err
		}
	}
	cfg.ModelAPIKeys = ModelKeysFromEnv()
	err = cfg.resolveEnv(origin)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		err = cfg.checkSecrets()
	}
	if err != nil {
		return Config{}, blame(err, path, origin)
	}
	return cfg, nil
}

// applyRenamedKeys sets the new key of every renamed key the file still uses, with a
// warning, and returns the keys the file has that name nothing. Setting both names is
// refused: the file would say two things.
func (c *Config) applyRenamedKeys(md toml.MetaData, data []byte, path string) ([]toml.Key, error) {
	var unknown []toml.Key
	var raw map[string]any
	for _, key := range md.Undecoded() {
		newKey, renamed := renamedKeys[key.String()]
		if !renamed {
			unknown = append(unknown, key)
			continue
		}
		if md.IsDefined(strings.Split(newKey, ".")...) {
			return nil, fmt.Errorf("%s: %s: renamed to %s, which is set too; keep only %s", path, key, newKey, newKey)
		}
		if raw == nil {
			if _, err := toml.Decode(string(data), &raw); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
		value := any(raw)
		for _, part := range key {
			value = value.(map[string]any)[part]
		}
		if err := c.setKey(newKey, fmt.Sprint(value)); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, key, err)
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %s is now %s: rename it", path, key, newKey))
	}
	return unknown, nil
}

// setKey sets config.toml key to raw, as its variable would.
func (c *Config) setKey(key, raw string) error {
	for _, v := range Variables() {
		if v.Key == key {
			return setField(reflect.ValueOf(c).Elem().FieldByIndex(v.path), raw)
		}
	}
	return fmt.Errorf("no key %s", key)
}

// blame prefixes a problem ("key: what is wrong") with where that key was set: its
// variable or flag, else the file. With no file, a key left at its default is
// followed by the variable that sets it.
func blame(err error, path string, origin map[string]string) error {
	key, _, _ := strings.Cut(err.Error(), ": ")
	if src, ok := origin[key]; ok {
		return fmt.Errorf("%s: %w", src, err)
	}
	if path != "" {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, v := range Variables() {
		if v.Key == key {
			return fmt.Errorf("%w (no config file: set %s)", err, v.Name)
		}
	}
	return err
}

// ModelKeysFromEnv returns the model API keys in MODEL_API_KEY: comma-separated,
// so that old and new key both work during a rotation; blanks are dropped.
func ModelKeysFromEnv() []string {
	return splitList(os.Getenv(ModelKeysEnv))
}

// splitList splits a comma-separated list, trimming each item and dropping blanks; nil
// when none is left.
func splitList(s string) []string {
	var items []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// envRef matches Supabase's env(NAME) form.
var envRef = regexp.MustCompile(`^env\(([A-Za-z_][A-Za-z0-9_]*)\)$`)

// configString is one string key that may be given as env(NAME).
type configString struct {
	key    string
	value  *string
	secret bool // a literal value is refused: the file is meant to be committed
}

// stringKeys lists the string keys that accept env(NAME).
func (c *Config) stringKeys() []configString {
	return []configString{
		{"listen", &c.Listen, false},
		{"metrics.listen", &c.Metrics.Listen, false},
		{"upstream.db_url", &c.Upstream.DBURL, false}, // secret only when it holds a password; see Validate
		{"upstream.url", &c.Upstream.URL, false},
		{"upstream.anon_key", &c.Upstream.AnonKey, true},
		{"upstream.service_role_key", &c.Upstream.ServiceRoleKey, true},
		{"auth.jwt_secret", &c.Auth.JWTSecret, true},
		{"auth.jwks_url", &c.Auth.JWKSURL, false},
		{"auth.issuer", &c.Auth.Issuer, false},
	}
}

// resolveEnv replaces env(NAME) values with the variable's value and refuses
// secrets written in the file; a key set from the environment (one in origin) may
// hold its secret itself, since the environment is where secrets belong.
func (c *Config) resolveEnv(origin map[string]string) error {
	for _, s := range c.stringKeys() {
		raw := *s.value
		if raw == "" {
			continue
		}
		m := envRef.FindStringSubmatch(raw)
		if m == nil {
			if origin[s.key] != "" {
				continue
			}
			if s.secret {
				return fmt.Errorf("%s: secrets must be given as env(NAME), not written in the file", s.key)
			}
			if s.key == "upstream.db_url" && urlHasPassword(raw) {
				return fmt.Errorf("%s: a URL with a password must be given as env(NAME), not written in the file", s.key)
			}
			continue
		}
		v, ok := os.LookupEnv(m[1])
		if !ok || v == "" {
			return fmt.Errorf("%s: environment variable %s is not set", s.key, m[1])
		}
		*s.value = v
	}
	return nil
}

// urlHasPassword reports whether a URL carries a password.
func urlHasPassword(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return strings.Contains(raw, "password=")
	}
	_, ok := u.User.Password()
	return ok || u.Query().Get("password") != ""
}

// Validate checks every key and returns the first problem, naming its key.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: must be host:port, e.g. 127.0.0.1:3000")
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics.listen: must be host:port, e.g. %s, or \"\" for none", DefaultMetricsListen)
		}
		// Port 0 asks the system for a free port, a different one for each listener.
		if _, port, _ := net.SplitHostPort(c.Listen); c.Metrics.Listen == c.Listen && port != "0" {
			return fmt.Errorf("metrics.listen: must differ from listen")
		}
	}
	if err := c.Upstream.validate(); err != nil {
		return err
	}
	if err := c.Auth.validate(); err != nil {
		return err
	}
	if len(c.ModelAPIKeys) == 0 {
		return fmt.Errorf("%s: environment variable must hold at least one model API key (comma-separated for rotation)", ModelKeysEnv)
	}
	if err := validateOrigins(c.CORS.Origins); err != nil {
		return err
	}
	if err := validateTimeouts(c.Timeouts); err != nil {
		return err
	}
	for _, limit := range []struct {
		key string
		n   int
	}{
		{"rate_limit.user_per_minute", c.RateLimit.UserPerMinute},
		{"rate_limit.failed_auth_per_minute", c.RateLimit.FailedAuthPerMinute},
		{"rate_limit.model_key_per_minute", c.RateLimit.ModelKeyPerMinute},
	} {
		if limit.n < 1 {
			return fmt.Errorf("%s: must be at least 1", limit.key)
		}
	}
	if c.Limits.BodyBytes < 1 || c.Limits.BodyBytes > 64<<20 {
		return errors.New("limits.body_bytes: must be between 1 and 67108864")
	}
	if c.Limits.HeaderBytes < 4096 || c.Limits.HeaderBytes > 1<<20 {
		return errors.New("limits.header_bytes: must be between 4096 and 1048576")
	}
	if c.Limits.ModelStreams < 1 || c.Limits.ModelStreams > 100 {
		return errors.New("limits.model_streams: must be between 1 and 100")
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if err := validateFeed(c.Feed); err != nil {
		return err
	}
	return validateClientIP(c.ClientIP)
}

// validateFeed bounds [feed]: a poll is a database query per proxy, and the buffer
// and subscriber cap are the feed's memory and connections.
func validateFeed(f presence.FeedConfig) error {
	switch {
	case f.Poll < 100*time.Millisecond || f.Poll > time.Minute:
		return errors.New(`feed.poll: must be between "100ms" and "1m"`)
	case f.Heartbeat < time.Second || f.Heartbeat > 5*time.Minute:
		return errors.New(`feed.heartbeat: must be between "1s" and "5m"`)
	case f.Buffer < presence.FeedPage || f.Buffer > 1<<20:
		return fmt.Errorf("feed.buffer: must be between %d (one poll's page of changes, which a follower gets at once) and 1048576", presence.FeedPage)
	case f.Subscribers < 1 || f.Subscribers > 100000:
		return errors.New("feed.subscribers: must be between 1 and 100000")
	case f.SubscribersPerKey < 1 || f.SubscribersPerKey > 100000:
		return errors.New("feed.subscribers_per_key: must be between 1 and 100000")
	}
	return nil
}

func validateClientIP(c proxy.ClientIPConfig) error {
	if c.Header != "" && len(c.TrustedProxies) == 0 {
		return errors.New("client_ip.trusted_proxies: required with client_ip.header, or anyone could pick their IP")
	}
	if strings.EqualFold(c.Header, "Forwarded") {
		return errors.New(`client_ip.header: "Forwarded" (RFC 7239) is not supported: use X-Forwarded-For or a header holding one IP, such as X-Real-IP`)
	}
	if _, err := proxy.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("client_ip.trusted_proxies: %w", err)
	}
	return nil
}

func (u *UpstreamConfig) validate() error {
	switch u.Kind {
	case UpstreamPostgres:
		if u.DBURL == "" {
			return errors.New(`upstream.db_url: required when upstream.kind is "postgres"`)
		}
		p, err := url.Parse(u.DBURL)
		if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
			return errors.New("upstream.db_url: must be a postgres:// URL")
		}
		if strings.Count(authority(u.DBURL), "@") > 1 {
			// Go's URL parser and pgx's split user:password@host at different @s,
			// so pgx would take part of the password for the host and print it.
			return errors.New("upstream.db_url: an @ in the user name or password must be written %40")
		}
		if p.Query().Has("pool_max_conns") {
			return errors.New("upstream.db_url: drop pool_max_conns from the URL and set upstream.pool_max_conns")
		}
		if u.PoolMaxConns < 1 || u.PoolMaxConns > 1000 {
			return errors.New("upstream.pool_max_conns: must be between 1 and 1000")
		}
	case UpstreamPostgREST:
		if err := validateHTTPURL("upstream.url", u.URL); err != nil {
			return err
		}
		if u.AnonKey == "" {
			return errors.New(`upstream.anon_key: required when upstream.kind is "postgrest"`)
		}
		if u.ServiceRoleKey == "" {
			return errors.New(`upstream.service_role_key: required when upstream.kind is "postgrest"`)
		}
	default:
		return errors.New(`upstream.kind: must be "postgres" or "postgrest"`)
	}
	return nil
}

func (a *AuthConfig) validate() error {
	if a.JWTSecret == "" && a.JWKSURL == "" {
		return errors.New("auth: set jwt_secret, jwks_url or both")
	}
	if a.JWTSecret != "" && len(a.JWTSecret) < auth.MinHS256SecretLen {
		return fmt.Errorf("auth.jwt_secret: must be at least %d characters", auth.MinHS256SecretLen)
	}
	if a.JWKSURL != "" {
		if err := validateHTTPURL("auth.jwks_url", a.JWKSURL); err != nil {
			return err
		}
	}
	if a.Issuer != "" {
		return validateHTTPURL("auth.issuer", a.Issuer)
	}
	return nil
}

func validateTimeouts(t proxy.TimeoutsConfig) error {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"timeouts.upstream", t.Upstream}, {"timeouts.ready", t.Ready}, {"timeouts.read", t.Read},
		{"timeouts.write", t.Write}, {"timeouts.idle", t.Idle}, {"timeouts.shutdown", t.Shutdown},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s: must be a positive duration like \"5s\"", d.key)
		}
	}
	if t.Upstream >= t.Write {
		return errors.New("timeouts.upstream: must be shorter than timeouts.write")
	}
	return nil
}

// validateHTTPURL requires an absolute http(s) URL without credentials: neither
// the JWKS, the issuer nor the project URL needs them, and URLs end up in logs.
func validateHTTPURL(key, raw string) error {
	switch err := vibepass.CheckServiceURL(raw); {
	case errors.Is(err, vibepass.ErrURLCredentials):
		return fmt.Errorf("%s: must not carry credentials (user:password@); remove them", key)
	case err != nil:
		return fmt.Errorf("%s: must be an http:// or https:// URL", key)
	}
	return nil
}

// authority returns the user:password@host:port part of a URL.
func authority(raw string) string {
	_, rest, _ := strings.Cut(raw, "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// validateOrigins accepts exact origins (scheme://host[:port]) or a lone "*";
// Fiber's cors middleware panics on anything else.
func validateOrigins(origins []string) error {
	for _, o := range origins {
		if o == "*" && len(origins) == 1 {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("cors.origins: %q is not an origin like https://app.example.com (or a lone \"*\")", o)
		}
	}
	return nil
}

// Logger returns the JSON slog logger log.level asks for, writing to w.
func (l LogConfig) Logger(w io.Writer) *slog.Logger {
	level, err := parseLevel(l.Level)
	if err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// parseLevel reads log.level.
func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log.level: must be debug, info, warn or error")
}

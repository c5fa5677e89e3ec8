package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vibepass/vibepass/cmd/vibepass/config"
	"github.com/vibepass/vibepass/presence"
)

// rootConfigEnv is what `supabase status -o env` would give the root config.toml,
// with a project's own JWT secret (the local stack's is public: serve refuses it),
// and no PORT, which a CI machine may set.
var rootConfigEnv = map[string]string{
	config.PortEnv:              "",
	"SUPABASE_ANON_KEY":         "anon-key-value",
	"SUPABASE_SERVICE_ROLE_KEY": "service-role-key-value",
	"SUPABASE_JWT_SECRET":       "project-jwt-secret-9f3c1a7e5b2d8046",
	config.ModelKeysEnv:         "new-model-key-7f3a9c, old-model-key-2b8e4d,",
}

// secretValues are values no error may contain: the environment's and the test cases'.
var secretValues = []string{
	"hunter2", "service-role-key-value", "anon-key-value", "project-jwt-secret", "eyJhbGciOiJIUzI1NiJ9.literal",
	"super-secret-jwt-token", "new-model-key", "jwksuser", "restuser",
}

// assertNoSecret fails t when err repeats one of secretValues or extra.
// load reads the file at path and the environment, as serve does.
func load(path string) (config.Config, error) {
	return config.Read(config.Sources{Path: path})
}

func assertNoSecret(t *testing.T, err error, extra ...string) {
	t.Helper()
	for _, secret := range append(extra, secretValues...) {
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error %q echoes the secret %q", err, secret)
		}
	}
}

func setEnv(t *testing.T, env map[string]string) {
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigRootExample(t *testing.T) {
	setEnv(t, rootConfigEnv)
	cfg, err := load("../../../config.toml")
	if err != nil {
		t.Fatalf("the root config.toml must load: %v", err)
	}
	if cfg.Upstream.Kind != config.UpstreamPostgREST || cfg.Upstream.URL != "http://127.0.0.1:54321" {
		t.Errorf("upstream = %+v, want postgrest at the local stack", cfg.Upstream)
	}
	if cfg.Upstream.ServiceRoleKey != "service-role-key-value" || cfg.Upstream.AnonKey != "anon-key-value" {
		t.Errorf("env(NAME) values not resolved: %+v", cfg.Upstream)
	}
	// The local stack's legacy secret is public, so the example verifies its ES256 tokens only.
	if cfg.Auth.JWTSecret != "" || cfg.Auth.JWKSURL != "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json" {
		t.Errorf("auth = %+v, want the local stack's jwks_url alone", cfg.Auth)
	}
	if want := []string{"new-model-key-7f3a9c", "old-model-key-2b8e4d"}; !reflect.DeepEqual(cfg.ModelAPIKeys, want) {
		t.Errorf("ModelAPIKeys = %q, want %q (comma-separated, blanks dropped)", cfg.ModelAPIKeys, want)
	}
	if cfg.Limits.HeaderBytes < 16<<10 {
		t.Errorf("limits.header_bytes = %d: too small for tokens with 8 KB of metadata", cfg.Limits.HeaderBytes)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	setEnv(t, rootConfigEnv)
	cfg, err := load(writeConfig(t, `
[upstream]
kind = "postgres"
db_url = "postgres://authenticator@127.0.0.1:5432/postgres"
[auth]
jwt_secret = "env(SUPABASE_JWT_SECRET)"
`))
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	if cfg.Listen != def.Listen || cfg.Upstream.PoolMaxConns != config.DefaultPoolMaxConns || cfg.Timeouts != def.Timeouts ||
		cfg.RateLimit != def.RateLimit || cfg.Limits != def.Limits || cfg.Feed != def.Feed || cfg.Log.Level != "info" || cfg.Page.Enabled {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

// TestLoadConfigAnyFreePort: port 0 is a free port chosen at bind time, a different one for
// each listener, so listen and metrics.listen may both ask for one (as the tests do).
func TestLoadConfigAnyFreePort(t *testing.T) {
	setEnv(t, rootConfigEnv)
	cfg, err := load(writeConfig(t, withBase(`"127.0.0.1:3000"`, `"127.0.0.1:0"`)+"[metrics]\nlisten = \"127.0.0.1:0\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:0" || cfg.Metrics.Listen != "127.0.0.1:0" {
		t.Errorf("listen %q, metrics.listen %q; want both 127.0.0.1:0", cfg.Listen, cfg.Metrics.Listen)
	}
}

// TestLoadConfigFeed: the [feed] keys reach the server's FeedConfig.
func TestLoadConfigFeed(t *testing.T) {
	setEnv(t, rootConfigEnv)
	cfg, err := load(writeConfig(t, baseConfig+"[feed]\npoll = \"250ms\"\nheartbeat = \"20s\"\nbuffer = 1000\nsubscribers = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (presence.FeedConfig{Poll: 250 * time.Millisecond, Heartbeat: 20 * time.Second, Buffer: 1000, Subscribers: 3, SubscribersPerKey: 100}); cfg.Feed != want {
		t.Errorf("feed = %+v, want %+v", cfg.Feed, want)
	}
}

// TestLoadConfigIssuer: auth.issuer is optional (unset, iss is not checked), is kept
// exactly as written (a trailing slash is not trimmed: the verifier compares byte for
// byte), may be env(NAME), and VIBEPASS_AUTH_ISSUER beats the file.
func TestLoadConfigIssuer(t *testing.T) {
	const hosted = "https://abcdefghijklmnopqrst.supabase.co/auth/v1"
	for _, tc := range []struct {
		name, toml string
		env        map[string]string
		want       string
	}{
		{"unset", baseConfig, nil, ""},
		{"from the file", baseConfig + "issuer = \"" + hosted + "\"\n", nil, hosted},
		{"kept as written", baseConfig + "issuer = \"" + hosted + "/\"\n", nil, hosted + "/"},
		{"env(NAME)", baseConfig + "issuer = \"env(CFG_TEST_ISSUER)\"\n", map[string]string{"CFG_TEST_ISSUER": hosted}, hosted},
		{"the variable over the file", baseConfig + "issuer = \"http://127.0.0.1:54321/auth/v1\"\n", map[string]string{"VIBEPASS_AUTH_ISSUER": hosted}, hosted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, rootConfigEnv)
			setEnv(t, tc.env)
			cfg, err := load(writeConfig(t, tc.toml))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Auth.Issuer != tc.want {
				t.Errorf("auth.issuer = %q, want %q", cfg.Auth.Issuer, tc.want)
			}
		})
	}
}

// baseConfig is a valid postgrest config the error cases below alter.
const baseConfig = `
listen = "127.0.0.1:3000"
[upstream]
kind = "postgrest"
url = "http://127.0.0.1:54321"
anon_key = "env(SUPABASE_ANON_KEY)"
service_role_key = "env(SUPABASE_SERVICE_ROLE_KEY)"
[auth]
jwt_secret = "env(SUPABASE_JWT_SECRET)"
`

// withBase returns baseConfig with old replaced by new.
func withBase(old, new string) string { return strings.Replace(baseConfig, old, new, 1) }

// loadErrorCase is a config that Load must refuse, with the message it must give.
type loadErrorCase struct {
	name string
	toml string
	env  map[string]string // set over rootConfigEnv; "" unsets
	want string
}

// loadErrorCases are also FuzzLoad's seeds.
var loadErrorCases = []loadErrorCase{
	{"unknown kind", withBase(`kind = "postgrest"`, `kind = "mysql"`), nil, `config.toml: upstream.kind: must be "postgres" or "postgrest"`},
	{"missing kind", withBase(`kind = "postgrest"`, ``), nil, `upstream.kind: must be`},
	{"bad listen", withBase(`"127.0.0.1:3000"`, `"3000"`), nil, "listen: must be host:port"},
	{"metrics on the API's address", baseConfig + "[metrics]\nlisten = \"127.0.0.1:3000\"\n", nil, "metrics.listen: must differ from listen"},
	{"postgres without url", withBase(`kind = "postgrest"`, `kind = "postgres"`), nil, "upstream.db_url: required"},
	{"postgres bad url", withBase(`kind = "postgrest"`, "kind = \"postgres\"\ndb_url = \"mysql://x\""), nil, "upstream.db_url: must be a postgres:// URL"},
	{"db_url with literal password", withBase(`kind = "postgrest"`, "kind = \"postgres\"\ndb_url = \"postgres://authenticator:hunter2@h/db\""), nil, "upstream.db_url: a URL with a password must be given as env(NAME)"},
	{"pool size zero", withBase(`kind = "postgrest"`, "kind = \"postgres\"\ndb_url = \"postgres://authenticator@h/db\"\npool_max_conns = 0"), nil, "upstream.pool_max_conns: must be between 1 and 1000"},
	{"pool size in db_url", withBase(`kind = "postgrest"`, "kind = \"postgres\"\ndb_url = \"postgres://authenticator@h/db?pool_max_conns=50\""), nil, "upstream.db_url: drop pool_max_conns from the URL and set upstream.pool_max_conns"},
	// Go's URL parser and pgx split at different @s: pgx would print "hunter2@h" as the host.
	{"db_url with a raw @ in the password", withBase(`kind = "postgrest"`, "kind = \"postgres\"\ndb_url = \"env(CFG_TEST_DB_URL)\""),
		map[string]string{"CFG_TEST_DB_URL": "postgres://authenticator:pass@hunter2@127.0.0.1:5432/postgres?sslmode=disable"}, "upstream.db_url: an @ in the user name or password must be written %40"},
	{"bad postgrest url", withBase(`"http://127.0.0.1:54321"`, `"127.0.0.1:54321"`), nil, "upstream.url: must be an http:// or https:// URL"},
	{"credentials in the postgrest url", withBase(`"http://127.0.0.1:54321"`, `"http://restuser:hunter2@127.0.0.1:54321"`), nil, "upstream.url: must not carry credentials"},
	{"literal service role key", withBase(`"env(SUPABASE_SERVICE_ROLE_KEY)"`, `"eyJhbGciOiJIUzI1NiJ9.literal"`), nil, "upstream.service_role_key: secrets must be given as env(NAME)"},
	{"literal jwt secret", withBase(`"env(SUPABASE_JWT_SECRET)"`, `"super-secret-jwt-token-with-at-least-32-characters-long"`), nil, "auth.jwt_secret: secrets must be given as env(NAME)"},
	{"env var missing", baseConfig, map[string]string{"SUPABASE_SERVICE_ROLE_KEY": ""}, "upstream.service_role_key: environment variable SUPABASE_SERVICE_ROLE_KEY is not set"},
	{"anon key missing", withBase(`anon_key = "env(SUPABASE_ANON_KEY)"`, ``), nil, "upstream.anon_key: required"},
	{"no auth", withBase(`jwt_secret = "env(SUPABASE_JWT_SECRET)"`, ``), nil, "auth: set jwt_secret, jwks_url or both"},
	{"bad jwks url", baseConfig + "jwks_url = \"ftp://x\"\n", nil, "auth.jwks_url: must be an http:// or https:// URL"},
	{"credentials in the jwks url", baseConfig + "jwks_url = \"https://jwksuser:hunter2@example.supabase.co/auth/v1/.well-known/jwks.json\"\n", nil, "auth.jwks_url: must not carry credentials"},
	{"issuer not a url", baseConfig + "issuer = \"example.supabase.co/auth/v1\"\n", nil, "config.toml: auth.issuer: must be an http:// or https:// URL"},
	{"issuer not http", baseConfig + "issuer = \"supabase\"\n", nil, "auth.issuer: must be an http:// or https:// URL"},
	{"credentials in the issuer", baseConfig + "issuer = \"https://jwksuser:hunter2@example.supabase.co/auth/v1\"\n", nil, "auth.issuer: must not carry credentials"},
	{"issuer variable not a url", baseConfig, map[string]string{"VIBEPASS_AUTH_ISSUER": "supabase"}, "VIBEPASS_AUTH_ISSUER: auth.issuer: must be an http:// or https:// URL"},
	{"no model keys", baseConfig, map[string]string{config.ModelKeysEnv: ""}, "MODEL_API_KEY: environment variable must hold at least one model API key"},
	{"pass length", baseConfig + "[pass]\nlength_minutes = 60\n", nil, "[pass] is no longer read: the pass length is the database's vibepass.settings.pass_length alone"},
	{"cors origin with path", baseConfig + "[cors]\norigins = [\"https://app.example.com/\"]\n", nil, `cors.origins: "https://app.example.com/" is not an origin`},
	{"negative timeout", baseConfig + "[timeouts]\nupstream = \"-1s\"\n", nil, "timeouts.upstream: must be a positive duration"},
	{"upstream not under write", baseConfig + "[timeouts]\nupstream = \"90s\"\n", nil, "timeouts.upstream: must be shorter than timeouts.write"},
	{"bad duration", baseConfig + "[timeouts]\nread = \"soon\"\n", nil, "read"},
	{"rate limit zero", baseConfig + "[rate_limit]\nuser_per_minute = 0\n", nil, "rate_limit.user_per_minute: must be at least 1"},
	{"header limit too small", baseConfig + "[limits]\nheader_bytes = 1024\n", nil, "limits.header_bytes: must be between 4096 and 1048576"},
	{"model streams zero", baseConfig + "[limits]\nmodel_streams = 0\n", nil, "limits.model_streams: must be between 1 and 100"},
	{"body limit zero", baseConfig + "[limits]\nbody_bytes = 0\n", nil, "limits.body_bytes: must be between"},
	{"feed poll too short", baseConfig + "[feed]\npoll = \"10ms\"\n", nil, `feed.poll: must be between "100ms" and "1m"`},
	{"feed heartbeat too long", baseConfig + "[feed]\nheartbeat = \"1h\"\n", nil, `feed.heartbeat: must be between "1s" and "5m"`},
	{"feed buffer too small", baseConfig + "[feed]\nbuffer = 1\n", nil, "feed.buffer: must be between 1000 (one poll's page of changes, which a follower gets at once) and 1048576"},
	{"feed buffer below a page", baseConfig + "[feed]\nbuffer = 999\n", nil, "feed.buffer: must be between 1000"},
	{"feed subscribers zero", baseConfig + "[feed]\nsubscribers = 0\n", nil, "feed.subscribers: must be between 1 and 100000"},
	{"feed subscribers per key zero", baseConfig + "[feed]\nsubscribers_per_key = 0\n", nil, "feed.subscribers_per_key: must be between 1 and 100000"},
	{"log level", baseConfig + "[log]\nlevel = \"loud\"\n", nil, "log.level: must be debug, info, warn or error"},
	{"unknown key", baseConfig + "[limits]\nbody_byte = 10\n", nil, "limits.body_byte: unknown key"},
	{"client ip header without proxies", baseConfig + "[client_ip]\nheader = \"X-Real-IP\"\n", nil, "client_ip.trusted_proxies: required with client_ip.header"},
	{"bad trusted proxy", baseConfig + "[client_ip]\nheader = \"X-Real-IP\"\ntrusted_proxies = [\"10.0.0.0/33\"]\n", nil, `client_ip.trusted_proxies: "10.0.0.0/33" is neither an IP nor a CIDR`},
	{"trust everyone", baseConfig + "[client_ip]\nheader = \"X-Forwarded-For\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::/0\"]\n", nil, `client_ip.trusted_proxies: "::/0" trusts every address`},
	{"forwarded header", baseConfig + "[client_ip]\nheader = \"forwarded\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n", nil, `client_ip.header: "Forwarded" (RFC 7239) is not supported`},
}

// loadWith writes body as a config file and loads it with env set over rootConfigEnv.
func loadWith(t *testing.T, body string, env map[string]string) error {
	t.Helper()
	setEnv(t, rootConfigEnv)
	setEnv(t, env) // an empty variable counts as unset
	_, err := load(writeConfig(t, body))
	return err
}

// TestLoadConfigErrors checks that each problem is reported naming its key.
func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range loadErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			err := loadWith(t, tc.toml, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig error = %v, want it to contain %q", err, tc.want)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestLoadConfigRefusesWeakSecrets: serve must not start with a JWT secret anyone
// could know or guess (they could sign a token for any user), nor with a model key
// that is guessable or doubles as another secret. The refusal names the key and
// what to do, never the value.
func TestLoadConfigRefusesWeakSecrets(t *testing.T) {
	const strong = "9c2f7a1e4b8d0635f1a7c3e9b2d4086a" // 32 hex characters, as `openssl rand -hex 16` prints
	postgres := "[upstream]\nkind = \"postgres\"\ndb_url = \"env(CFG_TEST_DB_URL)\"\n[auth]\njwt_secret = \"env(SUPABASE_JWT_SECRET)\"\n"
	dbURL := "postgres://authenticator:db-password-5e8a1c@127.0.0.1:5432/postgres"
	for _, tc := range []struct {
		name, toml string
		env        map[string]string
		secret     string // the value at fault, which the error must not repeat
		want       string
	}{
		{"the Supabase CLI's local JWT secret", baseConfig, nil, "super-secret-jwt-token-with-at-least-32-characters-long",
			"auth.jwt_secret: is a published secret (the Supabase CLI's local default"},
		{"the self-hosting example JWT secret", baseConfig, nil, "your-super-secret-jwt-token-with-at-least-32-characters-long",
			"auth.jwt_secret: is a published secret (the example in Supabase's self-hosting .env)"},
		{"32 × a as the JWT secret", baseConfig, nil, strings.Repeat("a", 32), "auth.jwt_secret: has fewer than 8 different characters"},
		{"a repeated JWT secret", baseConfig, nil, strings.Repeat("0123456789abcdef", 2), "auth.jwt_secret: is one short piece repeated"},
		{"a repeated JWT secret cut short", baseConfig, nil, strings.Repeat("vibepass-hs256-", 3)[:40], "auth.jwt_secret: is one short piece repeated"},
		{"16 × a as a model key", baseConfig, map[string]string{config.ModelKeysEnv: "aaaaaaaaaaaaaaaa"}, "aaaaaaaaaaaaaaaa",
			"MODEL_API_KEY: key #1 has fewer than 5 different characters"},
		{"a short model key", baseConfig, map[string]string{config.ModelKeysEnv: "new-model-key-7f3a9c,k3y-0f-15-chr"}, "k3y-0f-15-chr",
			"MODEL_API_KEY: key #2 is shorter than 16 characters"},
		{"a repeated model key", baseConfig, map[string]string{config.ModelKeysEnv: "abcdefabcdefabcdef"}, "abcdefabcdefabcdef",
			"MODEL_API_KEY: key #1 is one short piece repeated"},
		{"the public JWT secret as a model key", withBase(`jwt_secret = "env(SUPABASE_JWT_SECRET)"`, `jwks_url = "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json"`),
			map[string]string{config.ModelKeysEnv: "super-secret-jwt-token-with-at-least-32-characters-long"}, "super-secret-jwt-token", "MODEL_API_KEY: key #1 is a published secret"},
		{"a model key equal to the JWT secret", baseConfig, map[string]string{config.ModelKeysEnv: strong}, strong,
			"MODEL_API_KEY: key #1 is the same as auth.jwt_secret"},
		{"a model key equal to the service-role key", baseConfig, map[string]string{config.ModelKeysEnv: "new-model-key-7f3a9c", "SUPABASE_SERVICE_ROLE_KEY": "new-model-key-7f3a9c"}, "new-model-key",
			"MODEL_API_KEY: key #1 is the same as upstream.service_role_key"},
		{"a model key equal to the anon key", baseConfig, map[string]string{config.ModelKeysEnv: "old-model-key-2b8e4d", "SUPABASE_ANON_KEY": "old-model-key-2b8e4d"}, "old-model-key",
			"MODEL_API_KEY: key #1 is the same as upstream.anon_key"},
		{"a model key equal to the database password", postgres, map[string]string{config.ModelKeysEnv: "db-password-5e8a1c", "CFG_TEST_DB_URL": dbURL}, "db-password",
			"MODEL_API_KEY: key #1 is the same as the password in upstream.db_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SUPABASE_JWT_SECRET": strong, "CFG_TEST_DB_URL": dbURL}
			if strings.HasPrefix(tc.want, "auth.jwt_secret") {
				env["SUPABASE_JWT_SECRET"] = tc.secret
			}
			for k, v := range tc.env {
				env[k] = v
			}
			err := loadWith(t, tc.toml, env)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "openssl rand") {
				t.Fatalf("Load error = %v, want it to contain %q and say how to make a secret", err, tc.want)
			}
			assertNoSecret(t, err, tc.secret)
		})
	}
	// What the docs tell to run passes: `openssl rand -base64 48` and `openssl rand -hex 24`.
	err := loadWith(t, baseConfig, map[string]string{
		"SUPABASE_JWT_SECRET": "oJ3cN0u1Yv9wq+Qe7ZkT2m5r8XbF4sLhG6dPaW1nVyE0iR3tU7zC9xK2fM5gB8jD",
		config.ModelKeysEnv:   "5f0c8e2a9d7b41c63e8f0a2d5b9c7e1f4a6d8b0c2e4f6a8b",
	})
	if err != nil {
		t.Errorf("generated secrets refused: %v", err)
	}
}

// TestLoadConfigReportsTheSameErrorEachTime: with several mistakes, Load names the
// same one on every run (the rate limits were once checked in map order).
func TestLoadConfigReportsTheSameErrorEachTime(t *testing.T) {
	body := baseConfig + "[rate_limit]\nuser_per_minute = 0\nfailed_auth_per_minute = 0\nmodel_key_per_minute = 0\n" +
		"[limits]\nbody_bytes = 0\n[log]\nlevel = \"loud\"\n"
	setEnv(t, rootConfigEnv)
	path := writeConfig(t, body)
	_, first := load(path)
	if first == nil {
		t.Fatal("Load accepted a config with several mistakes")
	}
	for range 200 {
		if _, err := load(path); err == nil || err.Error() != first.Error() {
			t.Fatalf("Load said %q, then %v", first, err)
		}
	}
}

// TestRenamedKeyStillWorks: rate_limit.ip_per_minute, renamed failed_auth_per_minute,
// still sets the limit from the file and from the environment, with a warning; both
// names at once are refused.
func TestRenamedKeyStillWorks(t *testing.T) {
	setEnv(t, rootConfigEnv)
	path := writeConfig(t, baseConfig+"[rate_limit]\nip_per_minute = 17\n")
	cfg, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimit.FailedAuthPerMinute != 17 || len(cfg.Warnings) != 1 ||
		!strings.Contains(cfg.Warnings[0], "rate_limit.ip_per_minute is now rate_limit.failed_auth_per_minute") {
		t.Fatalf("failed_auth_per_minute = %d, warnings %q; want 17 and one warning to rename", cfg.RateLimit.FailedAuthPerMinute, cfg.Warnings)
	}
	if _, err := load(writeConfig(t, baseConfig+"[rate_limit]\nip_per_minute = 17\nfailed_auth_per_minute = 18\n")); err == nil ||
		!strings.Contains(err.Error(), "keep only rate_limit.failed_auth_per_minute") {
		t.Fatalf("both names in the file: %v, want a refusal", err)
	}

	t.Setenv("VIBEPASS_RATE_LIMIT_IP_PER_MINUTE", "19")
	cfg, err = load(writeConfig(t, baseConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimit.FailedAuthPerMinute != 19 || len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "VIBEPASS_RATE_LIMIT_FAILED_AUTH_PER_MINUTE") {
		t.Fatalf("from the old variable: failed_auth_per_minute = %d, warnings %q", cfg.RateLimit.FailedAuthPerMinute, cfg.Warnings)
	}
	t.Setenv("VIBEPASS_RATE_LIMIT_FAILED_AUTH_PER_MINUTE", "20")
	if _, err := load(writeConfig(t, baseConfig)); err == nil || !strings.Contains(err.Error(), "keep only VIBEPASS_RATE_LIMIT_FAILED_AUTH_PER_MINUTE") {
		t.Fatalf("both variables: %v, want a refusal", err)
	}
}

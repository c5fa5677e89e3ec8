package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/vibepass/vibepass/cmd/vibepass/config"
	"github.com/vibepass/vibepass/presence"
	"github.com/vibepass/vibepass/proxy"
)

// strongSecret passes the secret policy; it stands for a JWT secret a platform injects.
const strongSecret = "oJ3cN0u1Yv9wq+Qe7ZkT2m5r8XbF4sLhG6dPaW1nVyE0iR3tU7zC9xK2fM5gB8jD"

// everyVariable sets every key from the environment, each to a value other than its
// default, as a platform with no config file would.
var everyVariable = map[string]string{
	"VIBEPASS_LISTEN":                            "0.0.0.0:8080",
	"VIBEPASS_UPSTREAM_KIND":                     "postgres",
	"VIBEPASS_UPSTREAM_DB_URL":                   "postgres://authenticator:db-password-5e8a1c@db.internal:5432/postgres",
	"VIBEPASS_UPSTREAM_URL":                      "https://example.supabase.co",
	"VIBEPASS_UPSTREAM_ANON_KEY":                 "anon-key-value",
	"VIBEPASS_UPSTREAM_SERVICE_ROLE_KEY":         "service-role-key-value",
	"VIBEPASS_UPSTREAM_POOL_MAX_CONNS":           "25",
	"VIBEPASS_AUTH_JWT_SECRET":                   strongSecret,
	"VIBEPASS_AUTH_JWKS_URL":                     "https://example.supabase.co/auth/v1/.well-known/jwks.json",
	"VIBEPASS_AUTH_ISSUER":                       "https://example.supabase.co/auth/v1",
	"VIBEPASS_LOG_LEVEL":                         "warn",
	"VIBEPASS_METRICS_LISTEN":                    "0.0.0.0:9464",
	"VIBEPASS_FEED_POLL":                         "2s",
	"VIBEPASS_FEED_HEARTBEAT":                    "30s",
	"VIBEPASS_FEED_BUFFER":                       "1024",
	"VIBEPASS_FEED_SUBSCRIBERS":                  "500",
	"VIBEPASS_FEED_SUBSCRIBERS_PER_KEY":          "50",
	"VIBEPASS_CORS_ORIGINS":                      "https://app.example.com, https://admin.example.com,",
	"VIBEPASS_TIMEOUTS_UPSTREAM":                 "3s",
	"VIBEPASS_TIMEOUTS_READY":                    "1500ms",
	"VIBEPASS_TIMEOUTS_READ":                     "7s",
	"VIBEPASS_TIMEOUTS_WRITE":                    "90s",
	"VIBEPASS_TIMEOUTS_IDLE":                     "1m",
	"VIBEPASS_TIMEOUTS_SHUTDOWN":                 "25s",
	"VIBEPASS_RATE_LIMIT_USER_PER_MINUTE":        "30",
	"VIBEPASS_RATE_LIMIT_FAILED_AUTH_PER_MINUTE": "40",
	"VIBEPASS_RATE_LIMIT_MODEL_KEY_PER_MINUTE":   "50",
	"VIBEPASS_LIMITS_BODY_BYTES":                 "2048",
	"VIBEPASS_LIMITS_HEADER_BYTES":               "65536",
	"VIBEPASS_LIMITS_MODEL_STREAMS":              "4",
	"VIBEPASS_PAGE_ENABLED":                      "true",
	"VIBEPASS_CLIENT_IP_HEADER":                  "X-Forwarded-For",
	"VIBEPASS_CLIENT_IP_TRUSTED_PROXIES":         "10.0.0.0/8,192.168.0.0/16",
}

// TestEnvironmentSetsEveryKey: with no file, the VIBEPASS_* variables alone give a
// whole configuration, every key of config.toml included (the table must list each
// variable Variables names, so a new key cannot miss its variable or this test).
func TestEnvironmentSetsEveryKey(t *testing.T) {
	var names []string
	for _, v := range config.Variables() {
		names = append(names, v.Name)
		if _, ok := everyVariable[v.Name]; !ok {
			t.Errorf("%s (%s) is missing from everyVariable", v.Name, v.Key)
		}
	}
	if len(names) != len(everyVariable) {
		t.Errorf("Variables() = %q; everyVariable has %d", names, len(everyVariable))
	}
	setEnv(t, rootConfigEnv)
	setEnv(t, everyVariable)
	cfg, err := config.Read(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default() // keys config.toml does not have (toml:"-") keep their defaults
	want.Listen = "0.0.0.0:8080"
	want.Upstream = config.UpstreamConfig{Kind: "postgres", DBURL: everyVariable["VIBEPASS_UPSTREAM_DB_URL"],
		URL: "https://example.supabase.co", AnonKey: "anon-key-value", ServiceRoleKey: "service-role-key-value", PoolMaxConns: 25}
	want.Auth = config.AuthConfig{JWTSecret: strongSecret, JWKSURL: everyVariable["VIBEPASS_AUTH_JWKS_URL"], Issuer: everyVariable["VIBEPASS_AUTH_ISSUER"]}
	want.Log = config.LogConfig{Level: "warn"}
	want.Metrics = config.MetricsConfig{Listen: "0.0.0.0:9464"}
	want.CORS = proxy.CORSConfig{Origins: []string{"https://app.example.com", "https://admin.example.com"}}
	want.Timeouts = proxy.TimeoutsConfig{Upstream: 3 * time.Second, Ready: 1500 * time.Millisecond, Read: 7 * time.Second,
		Write: 90 * time.Second, Idle: time.Minute, Shutdown: 25 * time.Second}
	want.RateLimit = proxy.RateLimitConfig{UserPerMinute: 30, FailedAuthPerMinute: 40, ModelKeyPerMinute: 50}
	want.Limits = proxy.LimitsConfig{BodyBytes: 2048, HeaderBytes: 65536, ModelStreams: 4}
	want.Page = proxy.PageConfig{Enabled: true}
	want.Feed = presence.FeedConfig{Poll: 2 * time.Second, Heartbeat: 30 * time.Second, Buffer: 1024, Subscribers: 500, SubscribersPerKey: 50}
	want.ClientIP = proxy.ClientIPConfig{Header: "X-Forwarded-For", TrustedProxies: []string{"10.0.0.0/8", "192.168.0.0/16"}}
	want.ModelAPIKeys = []string{"new-model-key-7f3a9c", "old-model-key-2b8e4d"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Read from the environment alone =\n%+v\nwant\n%+v", cfg, want)
	}
}

// TestVariablesNameEveryFileKey: each key the documented config.toml writes has a
// variable, and no two keys share one.
func TestVariablesNameEveryFileKey(t *testing.T) {
	byKey := map[string]string{}
	byName := map[string]string{}
	for _, v := range config.Variables() {
		byKey[v.Key] = v.Name
		if other, ok := byName[v.Name]; ok {
			t.Errorf("%s sets both %s and %s", v.Name, other, v.Key)
		}
		byName[v.Name] = v.Key
	}
	var file map[string]any
	if _, err := toml.DecodeFile("../../../config.toml", &file); err != nil {
		t.Fatal(err)
	}
	for name, value := range file {
		keys := []string{name}
		if section, ok := value.(map[string]any); ok {
			keys = nil
			for k := range section {
				keys = append(keys, name+"."+k)
			}
		}
		for _, k := range keys {
			if byKey[k] == "" {
				t.Errorf("config.toml's %s has no VIBEPASS_* variable", k)
			}
		}
	}
	if byKey["rate_limit.user_per_minute"] != "VIBEPASS_RATE_LIMIT_USER_PER_MINUTE" || byKey["upstream.kind"] != "VIBEPASS_UPSTREAM_KIND" {
		t.Errorf("variables = %v, want VIBEPASS_<SECTION>_<KEY>", byKey)
	}
}

// TestSourcesPrecedence: a flag beats the environment, the environment beats the
// file, the file beats the defaults; PORT sets listen (on every interface) only when
// nothing else does.
func TestSourcesPrecedence(t *testing.T) {
	setEnv(t, rootConfigEnv)
	body := baseConfig + "[rate_limit]\nuser_per_minute = 11\nfailed_auth_per_minute = 12\n"
	file, noListen := writeConfig(t, body), writeConfig(t, strings.Replace(body, `listen = "127.0.0.1:3000"`, "", 1))
	t.Setenv("VIBEPASS_RATE_LIMIT_USER_PER_MINUTE", "21")
	t.Setenv("VIBEPASS_LISTEN", "127.0.0.1:4001")
	t.Setenv(config.PortEnv, "8080")
	for _, tc := range []struct {
		name       string
		sources    config.Sources
		unset      string
		wantListen string
	}{
		{"flag over all", config.Sources{Path: file, Listen: "127.0.0.1:4000"}, "", "127.0.0.1:4000"},
		{"environment over the file", config.Sources{Path: file}, "", "127.0.0.1:4001"},
		{"the file over PORT", config.Sources{Path: file}, "VIBEPASS_LISTEN", "127.0.0.1:3000"},
		{"PORT over the default", config.Sources{Path: noListen}, "VIBEPASS_LISTEN", "0.0.0.0:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.unset != "" {
				t.Setenv(tc.unset, "")
			}
			cfg, err := config.Read(tc.sources)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tc.wantListen {
				t.Errorf("listen = %q, want %q", cfg.Listen, tc.wantListen)
			}
			if cfg.RateLimit.UserPerMinute != 21 || cfg.RateLimit.FailedAuthPerMinute != 12 || cfg.RateLimit.ModelKeyPerMinute != 120 {
				t.Errorf("rate_limit = %+v, want 21 from the environment, 12 from the file, 120 by default", cfg.RateLimit)
			}
		})
	}
	// serve's default config.toml may be missing; a file it was told to read may not.
	missing := writeConfig(t, "") + ".missing"
	t.Setenv("VIBEPASS_UPSTREAM_KIND", "postgres")
	t.Setenv("VIBEPASS_UPSTREAM_DB_URL", "postgres://authenticator@db.internal/postgres")
	t.Setenv("VIBEPASS_AUTH_JWT_SECRET", strongSecret)
	if cfg, err := config.Read(config.Sources{Path: missing, Optional: true}); err != nil || cfg.File != "" {
		t.Errorf("optional missing file: %+v, %v; want the environment alone", cfg.File, err)
	}
	if _, err := config.Read(config.Sources{Path: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("a missing file that was asked for: %v, want an error naming it", err)
	}
}

// envOnly is a whole environment-only configuration that the error cases alter.
var envOnly = map[string]string{
	"VIBEPASS_UPSTREAM_KIND":   "postgres",
	"VIBEPASS_UPSTREAM_DB_URL": "postgres://authenticator:hunter2@db.internal:5432/postgres",
	"VIBEPASS_AUTH_JWT_SECRET": strongSecret,
}

// TestEnvironmentErrorsNameTheVariable: a problem with a key set from the
// environment names the key and the variable, never a secret; with no file, a key left
// unset is followed by the variable that sets it.
func TestEnvironmentErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"not a number", map[string]string{"VIBEPASS_RATE_LIMIT_USER_PER_MINUTE": "sixty"}, "VIBEPASS_RATE_LIMIT_USER_PER_MINUTE: rate_limit.user_per_minute: must be a whole number"},
		{"out of range", map[string]string{"VIBEPASS_RATE_LIMIT_USER_PER_MINUTE": "0"}, "VIBEPASS_RATE_LIMIT_USER_PER_MINUTE: rate_limit.user_per_minute: must be at least 1"},
		{"not a duration", map[string]string{"VIBEPASS_TIMEOUTS_READ": "soon"}, `VIBEPASS_TIMEOUTS_READ: timeouts.read: must be a duration like "5s"`},
		{"not a bool", map[string]string{"VIBEPASS_PAGE_ENABLED": "yes"}, "VIBEPASS_PAGE_ENABLED: page.enabled: must be true or false"},
		{"bad kind", map[string]string{"VIBEPASS_UPSTREAM_KIND": "mysql"}, `VIBEPASS_UPSTREAM_KIND: upstream.kind: must be "postgres" or "postgrest"`},
		{"no kind", map[string]string{"VIBEPASS_UPSTREAM_KIND": ""}, `upstream.kind: must be "postgres" or "postgrest" (no config file: set VIBEPASS_UPSTREAM_KIND)`},
		{"a typo", map[string]string{"VIBEPASS_RATE_LIMIT_USER_PER_MINUT": "5"}, "VIBEPASS_RATE_LIMIT_USER_PER_MINUT: names no config.toml key"},
		{"bad port", map[string]string{config.PortEnv: "80a"}, "PORT: must be a port number between 0 and 65535"},
		{"port out of range", map[string]string{config.PortEnv: "65536"}, "PORT: must be a port number between 0 and 65535"},
		{"bad listen", map[string]string{"VIBEPASS_LISTEN": "3000"}, "VIBEPASS_LISTEN: listen: must be host:port"},
		{"weak secret", map[string]string{"VIBEPASS_AUTH_JWT_SECRET": strings.Repeat("hunter2-", 5)}, "VIBEPASS_AUTH_JWT_SECRET: auth.jwt_secret: is one short piece repeated"},
		{"public secret", map[string]string{"VIBEPASS_AUTH_JWT_SECRET": "super-secret-jwt-token-with-at-least-32-characters-long"}, "VIBEPASS_AUTH_JWT_SECRET: auth.jwt_secret: is a published secret"},
		{"missing indirection", map[string]string{"VIBEPASS_AUTH_JWT_SECRET": "env(CFG_TEST_UNSET)"}, "VIBEPASS_AUTH_JWT_SECRET: auth.jwt_secret: environment variable CFG_TEST_UNSET is not set"},
		{"raw @ in the password", map[string]string{"VIBEPASS_UPSTREAM_DB_URL": "postgres://authenticator:pass@hunter2@db.internal/postgres"}, "VIBEPASS_UPSTREAM_DB_URL: upstream.db_url: an @ in the user name or password must be written %40"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, rootConfigEnv)
			setEnv(t, envOnly)
			setEnv(t, tc.env)
			_, err := config.Read(config.Sources{})
			if err == nil || err.Error() != tc.want && !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Read error = %v, want %q", err, tc.want)
			}
			assertNoSecret(t, err, strongSecret)
		})
	}
}

// TestEnvironmentSecrets: a secret key's variable holds the secret itself (the
// environment is where secrets belong), or env(NAME) to read another variable; the
// same secret written in the file is still refused.
func TestEnvironmentSecrets(t *testing.T) {
	setEnv(t, rootConfigEnv)
	setEnv(t, envOnly)
	t.Setenv("VIBEPASS_AUTH_JWT_SECRET", "env(SUPABASE_JWT_SECRET)")
	cfg, err := config.Read(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Upstream.DBURL != envOnly["VIBEPASS_UPSTREAM_DB_URL"] || cfg.Auth.JWTSecret != rootConfigEnv["SUPABASE_JWT_SECRET"] {
		t.Errorf("secrets from the environment: db_url %q, jwt_secret %q", cfg.Upstream.DBURL, cfg.Auth.JWTSecret)
	}
	t.Setenv("VIBEPASS_AUTH_JWT_SECRET", "")
	t.Setenv("VIBEPASS_UPSTREAM_DB_URL", "")
	_, err = load(writeConfig(t, "[upstream]\nkind = \"postgres\"\ndb_url = \"postgres://authenticator:hunter2@h/db\"\n[auth]\njwt_secret = \"env(SUPABASE_JWT_SECRET)\"\n"))
	if err == nil || !strings.Contains(err.Error(), "config.toml: upstream.db_url: a URL with a password must be given as env(NAME)") {
		t.Errorf("a password in the file: %v", err)
	}
	assertNoSecret(t, err)
}

// TestEnvironmentLeavesOtherVariablesAlone: VIBEPASS_* names outside the config's
// sections (an env(NAME) target, the model client's VIBEPASS_URL) are not typos.
func TestEnvironmentLeavesOtherVariablesAlone(t *testing.T) {
	setEnv(t, rootConfigEnv)
	setEnv(t, envOnly)
	t.Setenv("VIBEPASS_URL", "http://127.0.0.1:3000")
	t.Setenv("VIBEPASS_DB_URL", "postgres://authenticator@db.internal/postgres")
	if _, err := config.Read(config.Sources{}); err != nil {
		t.Error(err)
	}
}

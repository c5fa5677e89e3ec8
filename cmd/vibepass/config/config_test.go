package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vibepass/vibepass/cmd/vibepass/config"
)

// rootConfigEnv is what `supabase status -o env` would give the root config.toml.
var rootConfigEnv = map[string]string{
	"SUPABASE_ANON_KEY":         "anon-key-value",
	"SUPABASE_SERVICE_ROLE_KEY": "service-role-key-value",
	"SUPABASE_JWT_SECRET":       "super-secret-jwt-token-with-at-least-32-characters-long",
	config.ModelKeysEnv:         "new-model-key, old-model-key,",
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
	cfg, err := config.Load("../../../config.toml")
	if err != nil {
		t.Fatalf("the root config.toml must load: %v", err)
	}
	if cfg.Upstream.Kind != config.UpstreamPostgREST || cfg.Upstream.URL != "http://127.0.0.1:54321" {
		t.Errorf("upstream = %+v, want postgrest at the local stack", cfg.Upstream)
	}
	if cfg.Upstream.ServiceRoleKey != "service-role-key-value" || cfg.Upstream.AnonKey != "anon-key-value" ||
		cfg.Auth.JWTSecret != rootConfigEnv["SUPABASE_JWT_SECRET"] {
		t.Errorf("env(NAME) values not resolved: %+v %+v", cfg.Upstream, cfg.Auth)
	}
	if want := []string{"new-model-key", "old-model-key"}; !reflect.DeepEqual(cfg.ModelAPIKeys, want) {
		t.Errorf("ModelAPIKeys = %q, want %q (comma-separated, blanks dropped)", cfg.ModelAPIKeys, want)
	}
	if cfg.Limits.HeaderBytes < 16<<10 {
		t.Errorf("limits.header_bytes = %d: too small for tokens with 8 KB of metadata", cfg.Limits.HeaderBytes)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	setEnv(t, rootConfigEnv)
	cfg, err := config.Load(writeConfig(t, `
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
		cfg.RateLimit != def.RateLimit || cfg.Limits != def.Limits || cfg.Log.Level != "info" || cfg.Page.Enabled {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

// TestLoadConfigErrors checks that each problem is reported naming its key.
func TestLoadConfigErrors(t *testing.T) {
	const base = `
listen = "127.0.0.1:3000"
[upstream]
kind = "postgrest"
url = "http://127.0.0.1:54321"
anon_key = "env(SUPABASE_ANON_KEY)"
service_role_key = "env(SUPABASE_SERVICE_ROLE_KEY)"
[auth]
jwt_secret = "env(SUPABASE_JWT_SECRET)"
`
	cases := []struct {
		name  string
		toml  string
		unset string // an environment variable to remove
		want  string
	}{
		{"unknown kind", strings.Replace(base, `kind = "postgrest"`, `kind = "mysql"`, 1), "", `config.toml: upstream.kind: must be "postgres" or "postgrest"`},
		{"missing kind", strings.Replace(base, `kind = "postgrest"`, ``, 1), "", `upstream.kind: must be`},
		{"bad listen", strings.Replace(base, `"127.0.0.1:3000"`, `"3000"`, 1), "", "listen: must be host:port"},
		{"postgres without url", strings.Replace(base, `kind = "postgrest"`, `kind = "postgres"`, 1), "", "upstream.db_url: required"},
		{"postgres bad url", strings.Replace(base, `kind = "postgrest"`, "kind = \"postgres\"\ndb_url = \"mysql://x\"", 1), "", "upstream.db_url: must be a postgres:// URL"},
		{"db_url with literal password", strings.Replace(base, `kind = "postgrest"`, "kind = \"postgres\"\ndb_url = \"postgres://authenticator:hunter2@h/db\"", 1), "", "upstream.db_url: a URL with a password must be given as env(NAME)"},
		{"pool size zero", strings.Replace(base, `kind = "postgrest"`, "kind = \"postgres\"\ndb_url = \"postgres://authenticator@h/db\"\npool_max_conns = 0", 1), "", "upstream.pool_max_conns: must be between 1 and 1000"},
		{"pool size in db_url", strings.Replace(base, `kind = "postgrest"`, "kind = \"postgres\"\ndb_url = \"postgres://authenticator@h/db?pool_max_conns=50\"", 1), "", "upstream.db_url: drop pool_max_conns from the URL and set upstream.pool_max_conns"},
		{"bad postgrest url", strings.Replace(base, `"http://127.0.0.1:54321"`, `"127.0.0.1:54321"`, 1), "", "upstream.url: must be an http:// or https:// URL"},
		{"literal service role key", strings.Replace(base, `"env(SUPABASE_SERVICE_ROLE_KEY)"`, `"eyJhbGciOiJIUzI1NiJ9.literal"`, 1), "", "upstream.service_role_key: secrets must be given as env(NAME)"},
		{"literal jwt secret", strings.Replace(base, `"env(SUPABASE_JWT_SECRET)"`, `"super-secret-jwt-token-with-at-least-32-characters-long"`, 1), "", "auth.jwt_secret: secrets must be given as env(NAME)"},
		{"env var missing", base, "SUPABASE_SERVICE_ROLE_KEY", "upstream.service_role_key: environment variable SUPABASE_SERVICE_ROLE_KEY is not set"},
		{"anon key missing", strings.Replace(base, `anon_key = "env(SUPABASE_ANON_KEY)"`, ``, 1), "", "upstream.anon_key: required"},
		{"no auth", strings.Replace(base, `jwt_secret = "env(SUPABASE_JWT_SECRET)"`, ``, 1), "", "auth: set jwt_secret, jwks_url or both"},
		{"bad jwks url", base + "jwks_url = \"ftp://x\"\n", "", "auth.jwks_url: must be an http:// or https:// URL"},
		{"no model keys", base, config.ModelKeysEnv, "MODEL_API_KEY: environment variable must hold at least one model API key"},
		{"pass length", base + "[pass]\nlength_minutes = 60\n", "", "[pass] is no longer read: the pass length is the database's vibepass.settings.pass_length alone"},
		{"cors origin with path", base + "[cors]\norigins = [\"https://app.example.com/\"]\n", "", `cors.origins: "https://app.example.com/" is not an origin`},
		{"negative timeout", base + "[timeouts]\nupstream = \"-1s\"\n", "", "timeouts.upstream: must be a positive duration"},
		{"upstream not under write", base + "[timeouts]\nupstream = \"90s\"\n", "", "timeouts.upstream: must be shorter than timeouts.write"},
		{"bad duration", base + "[timeouts]\nread = \"soon\"\n", "", "read"},
		{"rate limit zero", base + "[rate_limit]\nuser_per_minute = 0\n", "", "rate_limit.user_per_minute: must be at least 1"},
		{"header limit too small", base + "[limits]\nheader_bytes = 1024\n", "", "limits.header_bytes: must be between 4096 and 1048576"},
		{"model streams zero", base + "[limits]\nmodel_streams = 0\n", "", "limits.model_streams: must be between 1 and 100"},
		{"body limit zero", base + "[limits]\nbody_bytes = 0\n", "", "limits.body_bytes: must be between"},
		{"log level", base + "[log]\nlevel = \"loud\"\n", "", "log.level: must be debug, info, warn or error"},
		{"unknown key", base + "[limits]\nbody_byte = 10\n", "", "limits.body_byte: unknown key"},
		{"client ip header without proxies", base + "[client_ip]\nheader = \"X-Real-IP\"\n", "", "client_ip.trusted_proxies: required with client_ip.header"},
		{"bad trusted proxy", base + "[client_ip]\nheader = \"X-Real-IP\"\ntrusted_proxies = [\"10.0.0.0/33\"]\n", "", `client_ip.trusted_proxies: "10.0.0.0/33" is neither an IP nor a CIDR`},
		{"trust everyone", base + "[client_ip]\nheader = \"X-Forwarded-For\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::/0\"]\n", "", `client_ip.trusted_proxies: "::/0" trusts every address`},
		{"forwarded header", base + "[client_ip]\nheader = \"forwarded\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n", "", `client_ip.header: "Forwarded" (RFC 7239) is not supported`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, rootConfigEnv)
			if tc.unset != "" {
				t.Setenv(tc.unset, "") // an empty variable counts as unset
			}
			path := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(path, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := config.Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig error = %v, want it to contain %q", err, tc.want)
			}
			for _, secret := range []string{"hunter2", "service-role-key-value", "eyJhbGciOiJIUzI1NiJ9.literal", "super-secret-jwt-token"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q echoes a secret", err)
				}
			}
		})
	}
}

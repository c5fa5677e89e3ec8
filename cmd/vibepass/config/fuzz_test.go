package config_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/vibepass/vibepass/cmd/vibepass/config"
)

// fuzzEnv holds a secret in every variable the seeds name; FuzzLoad checks that no
// error repeats one.
var fuzzEnv = map[string]string{
	"SUPABASE_ANON_KEY":         "fuzz-anon-key-4Qx7Lw",
	"SUPABASE_SERVICE_ROLE_KEY": "fuzz-service-role-key-9Tz2Kd",
	"SUPABASE_JWT_SECRET":       "fuzz-jwt-secret-6Hv1Pn-3Rk8Ys-0Wc5Jm",
	"CFG_TEST_DB_URL":           "postgres://authenticator:fuzz-db-password-7Mb2Xq@127.0.0.1:5432/postgres",
	"VIBEPASS_DB_URL":           "postgres://authenticator:fuzz-db-password-7Mb2Xq@127.0.0.1:5432/postgres",
	config.ModelKeysEnv:         "fuzz-model-key-2Gd8Vr,fuzz-model-key-5Nf3Ch",
	// A secret set through its VIBEPASS_* variable, over whatever the file says.
	"VIBEPASS_UPSTREAM_SERVICE_ROLE_KEY": "fuzz-vp-service-role-key-3Jq9Wd",
}

// fuzzSecrets are the parts of fuzzEnv that are secret.
var fuzzSecrets = []string{
	"fuzz-anon-key-4Qx7Lw", "fuzz-service-role-key-9Tz2Kd", "fuzz-jwt-secret-6Hv1Pn-3Rk8Ys-0Wc5Jm",
	"fuzz-db-password-7Mb2Xq", "fuzz-model-key-2Gd8Vr", "fuzz-model-key-5Nf3Ch", "fuzz-vp-service-role-key-3Jq9Wd",
}

// FuzzLoad feeds Parse any file contents (Parse spares Load a file write per input)
// and any value in one VIBEPASS_* variable (which, an index into Variables): it must
// never panic, and its error must never repeat a secret from the environment (one the
// file or the fuzzed value itself holds may be quoted back). The seeds are the root
// config.toml, every case of TestLoadConfigErrors, secrets put in plain keys, and
// bad values for variables of each type.
func FuzzLoad(f *testing.F) {
	root, err := os.ReadFile("../../../config.toml")
	if err != nil {
		f.Fatal(err)
	}
	vars := config.Variables()
	index := map[string]uint8{}
	for i, v := range vars {
		index[v.Name] = uint8(i)
	}
	f.Add(root, uint8(0), "")
	for _, tc := range loadErrorCases {
		f.Add([]byte(tc.toml), uint8(0), "")
	}
	f.Add([]byte("[upstream]\nkind = \"postgres\"\ndb_url = \"env(VIBEPASS_DB_URL)\"\n[auth]\njwt_secret = \"env(SUPABASE_JWT_SECRET)\"\n"), uint8(0), "")
	f.Add([]byte(withBase(`"127.0.0.1:3000"`, `"env(SUPABASE_JWT_SECRET)"`)), uint8(0), "")
	f.Add([]byte(withBase(`"http://127.0.0.1:54321"`, `"env(CFG_TEST_DB_URL)"`)), uint8(0), "")
	for name, value := range map[string]string{
		"VIBEPASS_UPSTREAM_KIND":              "postgres",
		"VIBEPASS_UPSTREAM_DB_URL":            "env(CFG_TEST_DB_URL)",
		"VIBEPASS_AUTH_JWT_SECRET":            "env(SUPABASE_ANON_KEY)",
		"VIBEPASS_RATE_LIMIT_USER_PER_MINUTE": "-1",
		"VIBEPASS_TIMEOUTS_WRITE":             "1ns",
		"VIBEPASS_PAGE_ENABLED":               "maybe",
		"VIBEPASS_CORS_ORIGINS":               ",*,",
		"VIBEPASS_LISTEN":                     "[::1]:99999",
	} {
		f.Add([]byte(baseConfig), index[name], value)
	}
	for k, v := range fuzzEnv {
		f.Setenv(k, v)
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8, value string) {
		if strings.ContainsRune(value, 0) { // no environment holds a NUL
			return
		}
		t.Setenv(vars[int(which)%len(vars)].Name, value)
		_, err := config.Parse("config.toml", body)
		if err == nil {
			return
		}
		for _, secret := range fuzzSecrets {
			if strings.Contains(err.Error(), secret) && !bytes.Contains(body, []byte(secret)) && !strings.Contains(value, secret) {
				t.Errorf("Parse error %q repeats the secret %q from the environment", err, secret)
			}
		}
	})
}

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
}

// fuzzSecrets are the parts of fuzzEnv that are secret.
var fuzzSecrets = []string{
	"fuzz-anon-key-4Qx7Lw", "fuzz-service-role-key-9Tz2Kd", "fuzz-jwt-secret-6Hv1Pn-3Rk8Ys-0Wc5Jm",
	"fuzz-db-password-7Mb2Xq", "fuzz-model-key-2Gd8Vr", "fuzz-model-key-5Nf3Ch",
}

// FuzzLoad feeds Load any file contents (through Parse, which spares a file write per
// input): it must never panic, and its error must never repeat a secret from the
// environment (one the file itself holds may be quoted back). The seeds are the root
// config.toml, every case of TestLoadConfigErrors, and secrets put in plain keys.
func FuzzLoad(f *testing.F) {
	root, err := os.ReadFile("../../../config.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(root)
	for _, tc := range loadErrorCases {
		f.Add([]byte(tc.toml))
	}
	f.Add([]byte("[upstream]\nkind = \"postgres\"\ndb_url = \"env(VIBEPASS_DB_URL)\"\n[auth]\njwt_secret = \"env(SUPABASE_JWT_SECRET)\"\n"))
	f.Add([]byte(withBase(`"127.0.0.1:3000"`, `"env(SUPABASE_JWT_SECRET)"`)))
	f.Add([]byte(withBase(`"http://127.0.0.1:54321"`, `"env(CFG_TEST_DB_URL)"`)))
	for k, v := range fuzzEnv {
		f.Setenv(k, v)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := config.Parse("config.toml", body)
		if err == nil {
			return
		}
		for _, secret := range fuzzSecrets {
			if strings.Contains(err.Error(), secret) && !bytes.Contains(body, []byte(secret)) {
				t.Errorf("Parse error %q repeats the secret %q from the environment", err, secret)
			}
		}
	})
}

package auth

import (
	"strings"
	"testing"

	"github.com/vibepass/vibepass"
)

func TestAPIKeys(t *testing.T) {
	current, next := "model-key-current-0123456789", "model-key-next-9876543210"
	keys, err := NewAPIKeys([]string{current, next})
	if err != nil {
		t.Fatal(err)
	}
	// Both keys work during a rotation.
	for _, k := range []string{current, next} {
		if err := keys.Check(k); err != nil {
			t.Fatalf("configured key refused: %v", err)
		}
	}
	wantError(t, keys.Check(""), vibepass.EUNAUTHORIZED, "Missing X-API-Key header")
	for _, wrong := range []string{"model-key-current-012345678", current + "x", strings.ToUpper(current), " " + current} {
		err := keys.Check(wrong)
		wantError(t, err, vibepass.EFORBIDDEN, "Invalid API key")
		if strings.Contains(err.Error(), strings.TrimSpace(wrong)) {
			t.Errorf("error %q echoes the key", err)
		}
	}
}

func TestNewAPIKeysRefusesWeakKeys(t *testing.T) {
	secret := "a-perfectly-fine-model-key"
	for name, keys := range map[string][]string{
		"none":         nil,
		"empty":        {""},
		"short":        {secret, "short-key"},
		"spaces":       {" " + secret},
		"trailing tab": {secret + "\t"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewAPIKeys(keys)
			if err == nil {
				t.Fatal("NewAPIKeys accepted it")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows a key", err)
			}
		})
	}
}

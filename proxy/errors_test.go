package proxy

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/vibepass/vibepass"
)

// TestErrorCodesDocumented checks that every code an error body can carry is in
// openapi.json's Error enum, so a client generated from it knows them all.
func TestErrorCodesDocumented(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []any `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Components.Schemas["Error"].Properties["code"].Enum
	codes := []string{vibepass.RMISSINGTOKEN, vibepass.RINVALIDTOKEN, vibepass.RTOKENEXPIRED, vibepass.RMISSINGAPIKEY,
		vibepass.RINVALIDAPIKEY, vibepass.RKEYSLOADING, vibepass.RNOTMIGRATED, vibepass.RMODELBUSY, vibepass.RSESSIONENDED,
		vibepass.RANONREFUSED, vibepass.RFEEDBUSY}
	for _, h := range httpErrors {
		codes = append(codes, h.code)
	}
	for _, code := range codes {
		if !slices.Contains(enum, any(code)) {
			t.Errorf("code %q is not in openapi.json's Error enum", code)
		}
	}
}

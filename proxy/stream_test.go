package proxy

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
)

func TestPreferencesKeepTheirDecimalPoint(t *testing.T) {
	got, err := appendPreferences(nil, []float64{0.5, 1, 0, 0.25, 1e-7})
	if err != nil {
		t.Fatal(err)
	}
	if want := `[0.5,1.0,0.0,0.25,0.0000001]`; string(got) != want {
		t.Fatalf("preferences encode as %s, want %s", got, want)
	}
	if _, err := appendPreferences(nil, []float64{math.NaN()}); err == nil {
		t.Fatal("NaN encoded without an error; JSON has no NaN")
	}
}

// TestActiveUserRowMatchesEncodingJSON checks the hand-written row encoder against
// encoding/json on names that need escaping, HTML-safe characters and invalid UTF-8.
func TestActiveUserRowMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2025, 11, 9, 14, 0, 0, 123456789, time.FixedZone("CET", 3600))
	for _, name := range []string{
		"MusicFan", "", `say "hi"`, `back\slash`, "<b>&amp;</b>", "tab\there\nline",
		"Zoë 🎧", "bad \xff utf8", "\u2028 line separator", "\x7f",
	} {
		u := vibepass.ActiveUser{
			UserID: "00000000-0000-4000-8000-000000000001", DisplayName: name,
			CheckedInAt: at, ExpiresAt: at.Add(time.Hour), Preferences: []float64{0.5, 0.8, 0.2, 0.9, 0.1},
		}
		got, err := appendActiveUser(nil, u)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(struct {
			UserID      string    `json:"user_id"`
			DisplayName string    `json:"display_name"`
			CheckedInAt timestamp `json:"checked_in_at"`
			ExpiresAt   timestamp `json:"expires_at"`
			Preferences []float64 `json:"preferences"`
		}{u.UserID, u.DisplayName, timestamp(u.CheckedInAt), timestamp(u.ExpiresAt), u.Preferences})
		if string(got) != string(want) {
			t.Errorf("display name %q:\n got %s\nwant %s", name, got, want)
		}
	}
}

package apijson

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
)

// Preferences come out in their shortest form, as encoding/json writes them (exponent
// below 1e-6 and from 1e21), always readable as floats, and -0 as 0.0.
func TestPreferencesKeepTheirDecimalPoint(t *testing.T) {
	for _, tc := range []struct {
		prefs []float64
		want  string
	}{
		{[]float64{0.5, 1, 0, 0.25, 0.1}, `[0.5,1.0,0.0,0.25,0.1]`},
		// A subnormal in 'f' form is 326 characters; a row of five of them about 1.7 KB.
		{[]float64{5e-324, math.SmallestNonzeroFloat64 * 3, 2.2250738585072014e-308, 1e-7, 0.000001}, `[5e-324,1.5e-323,2.2250738585072014e-308,1e-7,0.000001]`},
		{[]float64{math.Copysign(0, -1), -0.5, -1e-7}, `[0.0,-0.5,-1e-7]`},
		{[]float64{1e20, 1e21, 123456789e20, math.MaxFloat64}, `[100000000000000000000.0,1e+21,1.23456789e+28,1.7976931348623157e+308]`},
	} {
		got, err := appendPreferences(nil, tc.prefs)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("preferences %v encode as %s, want %s", tc.prefs, got, tc.want)
		}
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := appendPreferences(nil, []float64{bad}); err == nil {
			t.Errorf("%v encoded without an error; JSON has no such number", bad)
		}
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
		got, err := AppendActiveUser(nil, u)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(struct {
			UserID      string    `json:"user_id"`
			DisplayName string    `json:"display_name"`
			CheckedInAt Timestamp `json:"checked_in_at"`
			ExpiresAt   Timestamp `json:"expires_at"`
			Preferences []float64 `json:"preferences"`
			IsAnonymous bool      `json:"is_anonymous"`
		}{u.UserID, u.DisplayName, Timestamp(u.CheckedInAt), Timestamp(u.ExpiresAt), u.Preferences, u.IsAnonymous})
		if string(got) != string(want) {
			t.Errorf("display name %q:\n got %s\nwant %s", name, got, want)
		}
	}
}

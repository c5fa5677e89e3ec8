package apijson

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vibepass/vibepass"
)

// refFloat is a preference as the API promises it, built on encoding/json's own float
// encoding (shortest round trip, its exponent rule): the API adds only ".0" where
// encoding/json's form would read back as an integer, and writes -0 as 0.0.
type refFloat float64

func (f refFloat) MarshalJSON() ([]byte, error) {
	if f == 0 {
		f = 0 // -0 too
	}
	b, err := json.Marshal(float64(f))
	if err == nil && !bytes.ContainsAny(b, ".eE") {
		b = append(b, ".0"...)
	}
	return b, err
}

// refRow is the spec's row object for encoding/json, timestamps formatted by the time
// package's RFC 3339 layout rather than AppendTimestamp.
type refRow struct {
	UserID      string     `json:"user_id"`
	DisplayName string     `json:"display_name"`
	CheckedInAt string     `json:"checked_in_at"`
	ExpiresAt   string     `json:"expires_at"`
	Preferences []refFloat `json:"preferences"`
	IsAnonymous bool       `json:"is_anonymous"`
}

// FuzzAppendActiveUser checks the hand-written row encoder against encoding/json on
// any strings, times and floats: byte for byte the same (from a value or a view), valid JSON, every preference
// read back as the very float64 (bit for bit, -0 as 0) and as a float in Python's json
// (a "." or an exponent), and none longer than longestPreference.
// The seeds run as an ordinary test; a longer run:
//
//	go test ./apijson -run '^$' -fuzz FuzzAppendActiveUser -fuzztime 60s
func FuzzAppendActiveUser(f *testing.F) {
	f.Add("00000000-0000-4000-8000-000000000001", "MusicFan", int64(1762696800), int64(1762700400), uint32(123456789), int16(60),
		0.5, 0.8, 0.2, 1.0, 0.0)
	f.Add("", "tab\there\nline \u2028 <b>&amp;</b> \"q\" \\", int64(-1), int64(0), uint32(999999999), int16(-720),
		5e-324, math.Copysign(0, -1), 1e-7, 1e21, math.MaxFloat64)
	f.Add("x", "bad \xff utf8 \x7f Zoë 🎧 \u202e", int64(253402300799), int64(-62135596800), uint32(0), int16(0),
		0.000001, 1e20, 2.2250738585072014e-308, -1.5e-10, 123456789.0)
	f.Add("nan", "", int64(0), int64(0), uint32(0), int16(0), math.NaN(), 0.5, 0.5, 0.5, 0.5)
	f.Add("inf", "", int64(0), int64(0), uint32(0), int16(0), 0.5, math.Inf(-1), 0.5, 0.5, 0.5)
	f.Fuzz(func(t *testing.T, userID, name string, checkedIn, expires int64, nanos uint32, zoneMinutes int16,
		p0, p1, p2, p3, p4 float64) {
		zone := time.FixedZone("", int(zoneMinutes)%(18*60)*60)
		u := vibepass.ActiveUser{
			UserID: userID, DisplayName: name,
			CheckedInAt: fuzzTime(checkedIn, nanos, zone), ExpiresAt: fuzzTime(expires, nanos/2, zone),
			Preferences: []float64{p0, p1, p2, p3, p4},
			IsAnonymous: nanos%2 == 1,
		}
		ref := refRow{
			UserID: u.UserID, DisplayName: u.DisplayName,
			CheckedInAt: u.CheckedInAt.UTC().Truncate(time.Second).Format(time.RFC3339),
			ExpiresAt:   u.ExpiresAt.UTC().Truncate(time.Second).Format(time.RFC3339),
			IsAnonymous: u.IsAnonymous,
		}
		for _, p := range u.Preferences {
			ref.Preferences = append(ref.Preferences, refFloat(p))
		}

		got, err := AppendActiveUser(nil, u)
		want, wantErr := json.Marshal(ref)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("appendActiveUser error %v, encoding/json error %v", err, wantErr)
		}
		view := vibepass.ActiveUserView{UserID: []byte(u.UserID), DisplayName: []byte(u.DisplayName),
			CheckedInAt: u.CheckedInAt, ExpiresAt: u.ExpiresAt, Preferences: u.Preferences, IsAnonymous: u.IsAnonymous}
		if fromView, viewErr := AppendActiveUserView(nil, &view); !bytes.Equal(fromView, got) || (viewErr != nil) != (err != nil) {
			t.Fatalf("the row from a view differs:\n got %s (%v)\nwant %s (%v)", fromView, viewErr, got, err)
		}
		if err != nil {
			return // NaN or ±Inf: no JSON number for it
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("row differs from encoding/json:\n got %s\nwant %s", got, want)
		}
		if !json.Valid(got) {
			t.Fatalf("row is not valid JSON: %s", got)
		}
		var back struct {
			DisplayName string        `json:"display_name"`
			Preferences []json.Number `json:"preferences"`
		}
		dec := json.NewDecoder(bytes.NewReader(got))
		dec.UseNumber()
		if err := dec.Decode(&back); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(name) && back.DisplayName != name {
			t.Fatalf("display_name reads back as %q, want %q", back.DisplayName, name)
		}
		for i, n := range back.Preferences {
			f, err := strconv.ParseFloat(n.String(), 64)
			p := u.Preferences[i]
			if p == 0 {
				p = 0
			}
			if err != nil || math.Float64bits(f) != math.Float64bits(p) {
				t.Fatalf("preference %d is %v, reads back as %s (%v)", i, u.Preferences[i], n, err)
			}
			if !strings.ContainsAny(n.String(), ".e") || len(n) > len(longestPreference) {
				t.Fatalf("preference %d encodes as %s: not a short float form", i, n)
			}
		}
	})
}

// longestPreference is the longest shortest form of a float64: 17 significant digits
// just above 1e-6, where the plain form ends.
const longestPreference = "-0.0000012345678901234567"

// fuzzTime maps any seconds into the years 1 to 9999, which both encoders can write.
func fuzzTime(seconds int64, nanos uint32, zone *time.Location) time.Time {
	const first, last = -62135596800, 253402300799 // 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z
	span := int64(last - first + 1)
	s := first + (seconds%span+span)%span
	return time.Unix(s, int64(nanos%1e9)).In(zone)
}

// TestShortDecimalsMatchEncodingJSON checks appendShortDecimal's shortcut on every
// decimal of up to five places in [0, 1], and the floats next to them, against the
// reference encoding.
func TestShortDecimalsMatchEncodingJSON(t *testing.T) {
	for scale := 10.0; scale <= 1e5; scale *= 10 {
		for k := 0.0; k <= scale; k++ {
			f := k / scale
			for _, f := range []float64{f, math.Nextafter(f, 0), math.Nextafter(f, 1)} {
				want, _ := json.Marshal(refFloat(f))
				if got := appendPreference(nil, f); string(got) != string(want) {
					t.Fatalf("%v (%v/%v) encodes as %s, want %s", f, k, scale, got, want)
				}
			}
		}
	}
}

// TestTimestampsOutsideYears1To9999 checks the times AppendTimestamp leaves to the time
// package, and the edges of those it writes itself.
func TestTimestampsOutsideYears1To9999(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(0, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-4713, 11, 24, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2000, 2, 29, 12, 0, 0, 0, time.FixedZone("", -3600)), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(294276, 12, 31, 23, 59, 59, 0, time.UTC),
	} {
		want := at.UTC().Format("2006-01-02T15:04:05Z")
		if got := AppendTimestamp(nil, at); string(got) != want {
			t.Errorf("%v is written %s, want %s", at, got, want)
		}
	}
}

package apijson

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/vibepass/vibepass"
)

// AppendActiveUser appends u as the spec's row object, as the model list and the feed's
// events show it. It fails on a preference JSON has no number for (NaN, ±Inf).
func AppendActiveUser(b []byte, u vibepass.ActiveUser) ([]byte, error) {
	return appendRow(b, u.UserID, u.DisplayName, u.CheckedInAt, u.ExpiresAt, u.Preferences, u.IsAnonymous)
}

// AppendActiveUserView is AppendActiveUser for a row the store decoded in place.
func AppendActiveUserView(b []byte, v *vibepass.ActiveUserView) ([]byte, error) {
	return appendRow(b, v.UserID, v.DisplayName, v.CheckedInAt, v.ExpiresAt, v.Preferences, v.IsAnonymous)
}

// appendRow appends the spec's row object of these fields.
func appendRow[S string | []byte](b []byte, userID, name S, checkedInAt, expiresAt time.Time, prefs []float64, anonymous bool) ([]byte, error) {
	b = append(b, `{"user_id":`...)
	b = AppendString(b, userID)
	b = append(b, `,"display_name":`...)
	b = AppendString(b, name)
	b = append(b, `,"checked_in_at":"`...)
	b = AppendTimestamp(b, checkedInAt)
	b = append(b, `","expires_at":"`...)
	b = AppendTimestamp(b, expiresAt)
	b = append(b, `","preferences":`...)
	b, err := appendPreferences(b, prefs)
	b = append(b, `,"is_anonymous":`...)
	b = strconv.AppendBool(b, anonymous)
	return append(b, '}'), err
}

// appendPreferences appends p as JSON numbers that always read back as floats: the
// spec promises "5 floats", and Python's json makes 1 an int but 1.0 a float.
func appendPreferences(b []byte, p []float64) ([]byte, error) {
	b = append(b, '[')
	for i, f := range p {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, fmt.Errorf("preference %d is %v, not a JSON number", i, f)
		}
		b = appendPreference(b, f)
	}
	return append(b, ']'), nil
}

// appendPreference appends f in the shortest form that reads back as the same float64,
// as encoding/json chooses it: exponent form below 1e-6 and from 1e21 (in 'f' form a
// subnormal such as 5e-324 takes 326 characters), plain decimals with ".0" on whole
// numbers between. An exponent already reads as a float. -0 comes out as 0.0: the
// database holds preferences in [0, 1], where the sign of a zero means nothing, and a
// "-0.0" would only surprise a reader that formats or divides by it.
func appendPreference(b []byte, f float64) []byte {
	switch f {
	case 0: // and -0
		return append(b, "0.0"...)
	case 1:
		return append(b, "1.0"...)
	}
	if b, ok := appendShortDecimal(b, f); ok {
		return b
	}
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// encoding/json's clean-up: e-07 becomes e-7.
		if n := len(b); b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	if bytes.IndexByte(b[n:], '.') < 0 {
		b = append(b, '.', '0')
	}
	return b
}

// shortDecimalDigits is how many decimals appendShortDecimal tries: a slider's value
// has two, and each more costs every other float another division.
const shortDecimalDigits = 3

// appendShortDecimal appends f in (0, 1) when it is the float nearest to k/10^d for a d
// of at most shortDecimalDigits (0.5, 0.83, 0.125), which strconv's shortest search,
// a fifth of a row's encoding, would also find. That float is the one "0.<k in d
// digits>" parses to, and no shorter decimal parses to it (two decimals of at most d
// digits differ by far more than its precision); the smallest such d leaves no trailing
// zero. It reports false for any other f, which strconv formats.
func appendShortDecimal(b []byte, f float64) ([]byte, bool) {
	if !(f > 0 && f < 1) {
		return b, false
	}
	scale := 1.0
	for d := 1; d <= shortDecimalDigits; d++ {
		scale *= 10
		k := math.Round(f * scale)
		if k/scale != f { // exact: k and scale are small integers, the division correctly rounded
			continue
		}
		b = append(b, "0."...)
		for pad := scale / 10; pad > k; pad /= 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, int64(k), 10), true
	}
	return b, false
}

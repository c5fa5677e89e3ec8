// Package apijson writes the API's JSON bodies that are answered thousands of times a
// second or row by row: the check-in and status answers, the model list and the presence
// feed's events. Each writes byte for byte what encoding/json writes for the spec's shape
// (the tests and fuzz targets here hold it to that), without its reflection: a 100k-row
// list spent over half of the proxy's CPU in json.Marshal. It depends on the domain only.
package apijson

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/vibepass/vibepass"
)

// NoSession is the spec's message when the caller has no live pass.
const NoSession = "No active session"

// ResponseCap is room for a check-in or status answer (about 170 bytes).
const ResponseCap = 256

// Timestamp is a time that encodes as ISO 8601 UTC with whole seconds, like the spec,
// for the answers encoding/json writes.
type Timestamp time.Time

// MarshalText implements encoding.TextMarshaler (cheaper for encoding/json than
// MarshalJSON, whose output it re-validates).
func (t Timestamp) MarshalText() ([]byte, error) {
	return AppendTimestamp(nil, time.Time(t)), nil
}

// AppendTimestamp appends t as the API shows times: ISO 8601 UTC, whole seconds. The
// years 1 to 9999 are written here from Date and Clock, at a third of AppendFormat's
// cost (a list of 100k rows has 200k times); AppendFormat writes any other.
func AppendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 1 || year > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05Z")
	}
	h, m, s := t.Clock()
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	b = append(b, byte('0'+month/10), byte('0'+month%10), '-', byte('0'+day/10), byte('0'+day%10), 'T')
	return append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10), 'Z')
}

// AppendString appends s as a JSON string. Printable ASCII with nothing to escape
// (ids, most names) is copied; anything else goes through encoding/json, so escapes,
// HTML-safe characters and invalid UTF-8 come out exactly as it writes them.
func AppendString[S string | []byte](b []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(string(s)) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// CheckinMessage names the pass length the way the spec does: "1-hour vibe pass
// activated" for 60 minutes, "2-hour ..." for whole hours, "30-minute ..." otherwise.
func CheckinMessage(minutes int) string {
	if minutes%60 == 0 {
		return fmt.Sprintf("%d-hour vibe pass activated", minutes/60)
	}
	return fmt.Sprintf("%d-minute vibe pass activated", minutes)
}

// AppendCheckin appends POST /api/checkin's answer for in.
func AppendCheckin(b []byte, in vibepass.Checkin) []byte {
	b = append(b, `{"success":true,"message":`...)
	// The database decides the length, so the message names the one it gave.
	b = AppendString(b, CheckinMessage(in.ExpiresInMinutes))
	b = append(b, `,"data":{"session_id":`...)
	b = AppendString(b, in.SessionID)
	b = appendTimeMember(b, "expires_at", in.ExpiresAt)
	return appendMinutesMember(b, "expires_in_minutes", in.ExpiresInMinutes)
}

// AppendSession appends GET /api/session's answer for pass (nil: no live pass).
func AppendSession(b []byte, pass *vibepass.Pass) []byte {
	if pass == nil {
		b = append(b, `{"success":true,"active":false,"message":`...)
		return append(AppendString(b, NoSession), '}')
	}
	b = append(b, `{"success":true,"active":true,"data":{"session_id":`...)
	b = AppendString(b, pass.SessionID)
	b = appendTimeMember(b, "checked_in_at", pass.CheckedInAt)
	b = appendTimeMember(b, "expires_at", pass.ExpiresAt)
	return appendMinutesMember(b, "minutes_remaining", pass.MinutesRemaining)
}

// appendTimeMember appends `,"name":"<t>"`, t as the API shows times.
func appendTimeMember(b []byte, name string, t time.Time) []byte {
	b = append(append(append(b, `,"`...), name...), `":"`...)
	return append(AppendTimestamp(b, t), '"')
}

// appendMinutesMember appends the answer's last member, `,"name":<minutes>`, and closes
// its data object and the answer.
func appendMinutesMember(b []byte, name string, minutes int) []byte {
	b = append(append(append(b, `,"`...), name...), `":`...)
	return append(strconv.AppendInt(b, int64(minutes), 10), "}}"...)
}

// AppendListHead appends the model list's answer up to its first row, stamped at stamp.
func AppendListHead(b []byte, stamp time.Time) []byte {
	b = append(b, `{"success":true,"timestamp":"`...)
	b = AppendTimestamp(b, stamp)
	return append(b, `","data":[`...)
}

// AppendListTail closes the model list's answer after its count rows: the count, known
// only now, and the cursor (as the API writes cursors) the list reflects.
func AppendListTail(b []byte, count int, cursor string) []byte {
	b = append(b, `],"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	b = append(b, `,"cursor":"`...)
	b = append(b, cursor...)
	return append(b, `"}`...)
}

// AppendChange appends a presence change's data: the row as the list shows it for a
// join, renew or update, else the user and when it happened.
func AppendChange(b []byte, c vibepass.Change) []byte {
	if c.User != nil {
		var err error
		if b, err = AppendActiveUser(b, *c.User); err != nil {
			b = append(b, "null"...) // the CHECK keeps preferences finite: never happens
		}
		return b
	}
	b = append(b, `{"user_id":`...)
	b = AppendString(b, c.UserID)
	b = append(b, `,"at":"`...)
	b = AppendTimestamp(b, c.At)
	return append(b, `"}`...)
}

package presence

import (
	"strconv"
	"strings"

	"github.com/vibepass/vibepass"
)

// ErrBadCursor answers a cursor that is not one this API gave out.
var ErrBadCursor = vibepass.Errorf(vibepass.EINVALID, "Invalid cursor")

// FormatCursor writes a cursor as the API shows it: a string, so clients treat it as opaque.
func FormatCursor(c int64) string { return strconv.FormatInt(c, 10) }

// ParseCursor reads a cursor the API gave out.
func ParseCursor(s string) (int64, error) {
	c, err := strconv.ParseInt(s, 10, 64)
	if err != nil || c < 0 || strconv.FormatInt(c, 10) != s {
		return 0, ErrBadCursor
	}
	return c, nil
}

// ETag is the list's weak ETag for the feed's head at cursor c: the list changes only
// with a change in the feed (passes that run out are logged by the tick that reads the
// head). Weak because the body's timestamp differs between two reads of the same list.
func ETag(c int64) string { return `W/"` + FormatCursor(c) + `"` }

// ETagMatches reports whether an If-None-Match header names etag (weak comparison).
func ETagMatches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

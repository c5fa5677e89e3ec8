// Package vibepass holds the domain of the vibepass session service: a vibe pass,
// the people present right now, the errors the service reports, and the store
// that keeps passes (Postgres, reached directly or through PostgREST).
package vibepass

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"
)

// Version is the release of the API and its client packages, the one source of their
// versions: clients/python and clients/js carry it (TestPackagesCarryTheProjectVersion).
const Version = "0.1.0"

// Pass is a caller's live vibe pass, as GET /api/session reports it.
type Pass struct {
	SessionID        string    `json:"session_id"`
	CheckedInAt      time.Time `json:"checked_in_at"`
	ExpiresAt        time.Time `json:"expires_at"`
	MinutesRemaining int       `json:"minutes_remaining"`
}

// Checkin is the pass a check-in made or renewed, as POST /api/checkin reports it.
type Checkin struct {
	SessionID        string    `json:"session_id"`
	ExpiresAt        time.Time `json:"expires_at"`
	ExpiresInMinutes int       `json:"expires_in_minutes"`
}

// Checkout is what a checkout ended; Ended is false when the caller had no live pass.
type Checkout struct {
	Ended     bool
	SessionID string
}

// ActiveUser is one person with a live pass, as the model sees them.
type ActiveUser struct {
	UserID      string    `json:"user_id"`
	DisplayName string    `json:"display_name"`
	CheckedInAt time.Time `json:"checked_in_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Preferences []float64 `json:"preferences"`
	// IsAnonymous is true for a user who signed in anonymously (Supabase Auth's
	// signInAnonymously) and has not linked an identity since.
	IsAnonymous bool `json:"is_anonymous"`
}

// Caller is the verified user a request acts for.
type Caller struct {
	// UserID is the token's sub claim, a UUID.
	UserID string
	// Token is the raw access token, forwarded to PostgREST as the Authorization header.
	Token string
	// Claims is the verified claim set, given to Postgres as request.jwt.claims.
	Claims json.RawMessage
}

// Store is an upstream: everything the server asks of the database. Every method runs
// the database function of the same name (public.checkin, public.session_status, ...) so
// the same SQL, grants and row level security decide whatever the upstream. The server
// holds it as the three parts below, by who calls them.
type Store interface {
	PassStore
	PresenceStore
	Pinger
}

// PassStore is the user's side: the calls behind /api/checkin, /api/session and
// /api/checkout, each made as the signed-in caller.
type PassStore interface {
	// Checkin makes or renews the caller's pass.
	Checkin(ctx context.Context, c Caller) (Checkin, error)
	// SessionStatus returns the caller's live pass, or nil when there is none.
	SessionStatus(ctx context.Context, c Caller) (*Pass, error)
	// Checkout ends the caller's live pass, if any.
	Checkout(ctx context.Context, c Caller) (Checkout, error)
}

// PresenceStore is the model's side: the list and the presence feed's calls, each made
// as the service role.
type PresenceStore interface {
	// ActiveUsers reads everyone with a live pass, handing each row to emit as it
	// arrives so that no list is held in memory.
	ActiveUsers(ctx context.Context, emit func(ActiveUser) error) error
	// PresenceTick logs the expiries due by now (public.presence_tick) and returns
	// the feed's head: the cursor of the last change, and the oldest cursor kept.
	PresenceTick(ctx context.Context) (FeedHead, error)
	// PresenceChanges returns up to limit changes after cursor after, in cursor
	// order (public.presence_changes); fewer, or none, when there are no more. A
	// reader never sees a cursor without every lower one still in the log. An
	// upstream that caps rows (PostgREST's max_rows) may return fewer than limit
	// while more remain: callers page until a call returns none.
	PresenceChanges(ctx context.Context, after int64, limit int) ([]Change, error)
	// PresenceSummary returns how many are present, the mean of their preferences
	// and the cursor it reflects (public.presence_summary).
	PresenceSummary(ctx context.Context) (Summary, error)
	// PresenceHistory returns how many were present at the end of each of the last
	// 60 minutes, oldest first, the last at now (public.presence_history).
	PresenceHistory(ctx context.Context) ([]PresencePoint, error)
}

// Pinger is the readiness question /readyz asks.
type Pinger interface {
	// Ping reports whether the upstream answers and holds every function the server
	// calls (ErrNotMigrated when it answers without them).
	Ping(ctx context.Context) error
}

// ActiveUserViewer is an upstream that can hand the model list on as views, which the
// list's encoder writes without making an ActiveUser of each row (the direct upstream can).
type ActiveUserViewer interface {
	// ActiveUserViews is PresenceStore's ActiveUsers with each row a view, valid only
	// until emit returns.
	ActiveUserViews(ctx context.Context, emit func(*ActiveUserView) error) error
}

// ActiveUserView is one row of the model list as an upstream decoded it in place: the
// text columns are the bytes read off the wire, valid only until emit returns, and
// Preferences may be reused from row to row, so a row costs no allocation.
type ActiveUserView struct {
	UserID, DisplayName    []byte
	CheckedInAt, ExpiresAt time.Time // in UTC
	Preferences            []float64
	IsAnonymous            bool
}

// PoolReporter is an upstream that keeps connection pools of its own and reports them
// (the direct upstream: "users", "model" and "feed"; PostgREST keeps its pool itself).
type PoolReporter interface {
	// PoolStats returns a snapshot of each pool by name.
	PoolStats() map[string]PoolStats
}

// PoolStats is a snapshot of one connection pool.
type PoolStats struct {
	// InUse and Idle are the connections held by a caller now, and those free.
	InUse, Idle int32
	// Max is the pool's size.
	Max int32
	// Waits counts the acquires that found no free connection; WaitTime is their total wait.
	Waits    int64
	WaitTime time.Duration
}

// PassCounter is an upstream that can count the live passes cheaply (the direct upstream can).
type PassCounter interface {
	// LivePasses returns how many passes are live now.
	LivePasses(ctx context.Context) (int, error)
}

// The kinds of presence change, as the feed names its events.
const (
	// ChangeJoin: a new pass, or a pass the feed had expired renewed anyway.
	ChangeJoin = "join"
	// ChangeRenew: a live pass extended.
	ChangeRenew = "renew"
	// ChangeUpdate: a present user's display name or preferences changed.
	ChangeUpdate = "update"
	// ChangeLeave: a pass ended by checkout (or its user deleted).
	ChangeLeave = "leave"
	// ChangeExpire: a pass ran out; At is its expires_at.
	ChangeExpire = "expire"
)

// Change is one event of the presence feed.
type Change struct {
	// Cursor is the position just after this change: resuming from it skips it.
	Cursor int64
	// Kind is one of ChangeJoin, ChangeRenew, ChangeUpdate, ChangeLeave, ChangeExpire.
	Kind   string
	UserID string
	// At is when it happened (for an expire, the pass's expires_at).
	At time.Time
	// User is the row as the model's list shows it, for join, renew and update; nil otherwise.
	User *ActiveUser
}

// FeedHead is where the presence feed stands.
type FeedHead struct {
	// Cursor is the last change's cursor: resuming from it waits for the next change.
	Cursor int64
	// Floor is the newest cursor the history no longer covers: resuming from it or
	// any older cursor would miss changes.
	Floor int64
}

// Summary is the live users' count and mean preferences, as of Cursor.
type Summary struct {
	Count int64
	// Mean is the per-dimension mean of the preferences; nil when nobody is present.
	Mean   []float64
	Cursor int64
}

// PresencePoint is how many were present at one moment.
type PresencePoint struct {
	At    time.Time
	Count int64
}

// The Postgres roles a request runs as, as PostgREST switches to them.
const (
	// RoleAuthenticated is a signed-in user's role, and the audience of their access token.
	RoleAuthenticated = "authenticated"
	// RoleServiceRole is the model's role: it bypasses row level security.
	RoleServiceRole = "service_role"
)

// IsUUID reports whether s is a UUID in its canonical 8-4-4-4-12 hex form, as user ids are.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Clock tells the time; tests replace it.
type Clock func() time.Time

// SystemClock is the real clock.
var SystemClock Clock = time.Now

// The reasons CheckServiceURL gives.
var (
	// ErrNotHTTPURL: the URL does not parse as an absolute http:// or https:// URL.
	ErrNotHTTPURL = errors.New("not an absolute http(s) URL")
	// ErrURLCredentials: the URL carries user:password@.
	ErrURLCredentials = errors.New("the URL carries credentials (user:password@)")
)

// CheckServiceURL reports whether raw is an absolute http(s) URL without credentials, as
// every URL the service is given (the project's, the JWKS's, the issuer) must be: none
// needs credentials, and URLs end up in logs and transport errors. The error never quotes
// raw, which may hold a secret.
func CheckServiceURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ErrNotHTTPURL
	}
	if u.User != nil {
		return ErrURLCredentials
	}
	return nil
}

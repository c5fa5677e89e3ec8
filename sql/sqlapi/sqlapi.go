// Package sqlapi is the vibepass SQL API as Go sees it: how a request becomes a user
// in Postgres (the role and claims PostgREST sets per transaction), the statements
// that call the functions, the JSON they return, and what their SQLSTATE codes mean
// to a client. The direct upstream (pgstore), the PostgREST upstream (rest), the
// PostgREST stand-in, the benchmark and the tests all use this one copy, which is
// half of why every path gives the same answers.
package sqlapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vibepass/vibepass"
)

// The messages the functions raise with SQLSTATE 42501 for a caller they refuse.
const (
	// NotSignedIn: no user is set, or the user no longer exists.
	NotSignedIn = "not signed in"
	// SessionEnded: the token's Supabase Auth session has no row in auth.sessions any more.
	SessionEnded = "session ended"
	// AnonymousRefused: an anonymous user checks in while vibepass.settings refuses them.
	AnonymousRefused = "anonymous users may not check in"
)

// SetRoleSQL is what PostgREST runs first in every request's transaction: switch to the
// token's role and set its claims, for this transaction only (is_local = true), so
// nothing leaks to the next user of a pooled connection. $1 is the role, $2 the claims JSON.
const SetRoleSQL = "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)"

// ServiceRoleClaims are the claims of the model's read, as a service_role key carries them.
const ServiceRoleClaims = `{"role":"service_role"}`

// The statements that call the user functions; each returns one json value (NULL for
// "no live pass" from session_status and checkout).
const (
	CheckinSQL       = "select public.checkin()"
	SessionStatusSQL = "select public.session_status()"
	CheckoutSQL      = "select public.checkout()"
)

// ReadySQL asks whether every function the proxy calls exists (public.vibepass_ready(),
// as service_role), the one readiness question of both upstreams. A database the
// migrations have not reached lacks the function itself: SQLSTATE 42883 (PostgREST:
// PGRST202).
const ReadySQL = "select public.vibepass_ready()"

// DecodeReady decodes what public.vibepass_ready() returns: a database short of any
// function the proxy calls is vibepass.ErrNotMigrated.
func DecodeReady(raw []byte) error {
	var ready bool
	if err := decode(raw, &ready); err != nil {
		return err
	}
	if !ready {
		return vibepass.ErrNotMigrated
	}
	return nil
}

// ActiveUsersSQL reads the model's list, one row per live pass, in the columns ScanActiveUser reads.
const ActiveUsersSQL = "select user_id::text, coalesce(display_name, ''), checked_in_at, expires_at, preferences, is_anonymous from public.active_users()"

// LivePassesSQL counts the live passes (public.live_pass_count(), as service_role),
// through the database's one statement of what a live pass is (vibepass.live_passes).
const LivePassesSQL = "select public.live_pass_count()"

// Batcher sends a pgx.Batch: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx.
type Batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// QueueAs queues SetRoleSQL on b: what follows in the batch runs as role with claims.
// A batch without BEGIN is one implicit transaction, so the settings revert at its end.
func QueueAs(b *pgx.Batch, role, claims string) {
	b.Queue(SetRoleSQL, role, claims)
}

// CallJSON runs one json-returning statement (CheckinSQL, ...) as role with claims,
// in one round trip, and returns the raw JSON (nil for SQL NULL). Errors are pgx's:
// MapError turns them into client-facing ones.
func CallJSON(ctx context.Context, db Batcher, role, claims, statement string) ([]byte, error) {
	b := &pgx.Batch{}
	QueueAs(b, role, claims)
	var raw []byte
	b.Queue(statement).QueryRow(func(row pgx.Row) error { return row.Scan(&raw) })
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return raw, nil
}

// ReadActiveUsers runs ActiveUsersSQL as role with claims, handing each row to emit.
//
// It is one pgx.Batch, not an explicit transaction: pgx reads a batch's result rows
// from the socket as they are iterated (Postgres sends them as they are produced and
// TCP holds back the rest), so a batch streams as well as begin/query/commit does, in
// one round trip instead of three, and the set_config still reverts at the implicit
// commit. When emit fails, the batch is closed, which drains the remaining rows so the
// connection goes back to its pool usable. emit's error comes back as emitErr, apart
// from the database's err.
func ReadActiveUsers(ctx context.Context, db Batcher, role, claims string, emit func(vibepass.ActiveUser) error) (emitErr, err error) {
	return readActiveUsers(ctx, db, role, claims, func(rows pgx.Rows) (error, error) {
		var u vibepass.ActiveUser
		for rows.Next() {
			if err := scanActiveUser(rows, &u); err != nil {
				return nil, err
			}
			if err := emit(u); err != nil {
				return err, nil
			}
			u.Preferences = nil // emit may keep the slice; give the next row its own
		}
		return nil, rows.Err()
	})
}

// ReadActiveUserViews is ReadActiveUsers handing each row on as a view: decoded from the
// wire values at once when they come in the formats pgx picks by default (text ids and
// names, binary timestamptz, float8[] and bool), through pgx's own decoding otherwise (another
// query exec mode, or a value only it knows how to refuse: NULL, infinity, a
// multi-dimensional array), so both give the same rows and the same errors. A row so
// decoded costs no allocation, where a vibepass.ActiveUser costs three and pgx's general
// decoding (the bare row fetch's) twice the CPU.
func ReadActiveUserViews(ctx context.Context, db Batcher, role, claims string, emit func(*vibepass.ActiveUserView) error) (emitErr, err error) {
	return readActiveUsers(ctx, db, role, claims, func(rows pgx.Rows) (error, error) {
		var v vibepass.ActiveUserView
		var u vibepass.ActiveUser
		direct := viewFormats(rows.FieldDescriptions())
		for rows.Next() {
			if !direct || !decodeView(rows.RawValues(), &v) {
				if err := scanActiveUser(rows, &u); err != nil {
					return nil, err
				}
				v = vibepass.ActiveUserView{UserID: []byte(u.UserID), DisplayName: []byte(u.DisplayName),
					CheckedInAt: u.CheckedInAt, ExpiresAt: u.ExpiresAt, Preferences: u.Preferences, IsAnonymous: u.IsAnonymous}
			}
			if err := emit(&v); err != nil {
				return err, nil
			}
		}
		return nil, rows.Err()
	})
}

// readActiveUsers sends ActiveUsersSQL as role with claims in one batch and hands its
// rows to read.
func readActiveUsers(ctx context.Context, db Batcher, role, claims string, read func(pgx.Rows) (emitErr, err error)) (emitErr, err error) {
	b := &pgx.Batch{}
	QueueAs(b, role, claims)
	b.Queue(ActiveUsersSQL)
	br := db.SendBatch(ctx, b)
	emitErr, err = readRows(br, read)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return emitErr, err
}

// readRows reads the batch's two results, handing the rows of the second to read.
func readRows(br pgx.BatchResults, read func(pgx.Rows) (emitErr, err error)) (emitErr, err error) {
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return read(rows)
}

// scanActiveUser decodes the current row into u through pgx.
func scanActiveUser(rows pgx.Rows, u *vibepass.ActiveUser) error {
	if err := rows.Scan(&u.UserID, &u.DisplayName, &u.CheckedInAt, &u.ExpiresAt, &u.Preferences, &u.IsAnonymous); err != nil {
		return err
	}
	u.CheckedInAt, u.ExpiresAt = u.CheckedInAt.UTC(), u.ExpiresAt.UTC()
	return nil
}

// viewFormats reports whether the columns come as decodeView reads them.
func viewFormats(fields []pgconn.FieldDescription) bool {
	want := [...]struct {
		oid    uint32
		format int16
	}{
		{pgtype.TextOID, pgtype.TextFormatCode}, {pgtype.TextOID, pgtype.TextFormatCode},
		{pgtype.TimestamptzOID, pgtype.BinaryFormatCode}, {pgtype.TimestamptzOID, pgtype.BinaryFormatCode},
		{pgtype.Float8ArrayOID, pgtype.BinaryFormatCode},
		{pgtype.BoolOID, pgtype.BinaryFormatCode},
	}
	if len(fields) != len(want) {
		return false
	}
	for i, f := range fields {
		if f.DataTypeOID != want[i].oid || f.Format != want[i].format {
			return false
		}
	}
	return true
}

// decodeView decodes a row in viewFormats into v, or reports false for a value it
// leaves to pgx.
func decodeView(raw [][]byte, v *vibepass.ActiveUserView) bool {
	if len(raw) != 6 || raw[0] == nil || raw[1] == nil || len(raw[5]) != 1 || raw[5][0] > 1 {
		return false
	}
	v.IsAnonymous = raw[5][0] == 1
	var ok1, ok2, ok3 bool
	v.UserID, v.DisplayName = raw[0], raw[1]
	v.CheckedInAt, ok1 = decodeTimestamptz(raw[2])
	v.ExpiresAt, ok2 = decodeTimestamptz(raw[3])
	v.Preferences, ok3 = decodeFloat8Array(raw[4], v.Preferences[:0])
	return ok1 && ok2 && ok3
}

// The microseconds from 2000-01-01 (binary timestamptz's epoch) to 0001-01-01 and to
// 10000-01-01 UTC: decodeTimestamptz decodes what lies between, as pgx would.
const (
	firstY2KMicros = (-62135596800 - 946684800) * 1_000_000
	endY2KMicros   = (253402300800 - 946684800) * 1_000_000
)

// decodeTimestamptz decodes a binary timestamptz, microseconds since 2000-01-01 UTC.
func decodeTimestamptz(src []byte) (time.Time, bool) {
	if len(src) != 8 {
		return time.Time{}, false
	}
	us := int64(binary.BigEndian.Uint64(src))
	if us < firstY2KMicros || us >= endY2KMicros { // infinity, or a year pgx may refuse
		return time.Time{}, false
	}
	return time.Unix(946684800+us/1_000_000, us%1_000_000*1_000).UTC(), true
}

// decodeFloat8Array appends the elements of a binary float8[] to dst: one dimension
// (or none, when empty) and no NULLs, or false.
func decodeFloat8Array(src []byte, dst []float64) ([]float64, bool) {
	if len(src) < 12 {
		return dst, false
	}
	ndim, hasNull, elem := binary.BigEndian.Uint32(src), binary.BigEndian.Uint32(src[4:]), binary.BigEndian.Uint32(src[8:])
	if ndim == 0 {
		return dst, len(src) == 12
	}
	if ndim != 1 || hasNull != 0 || elem != pgtype.Float8OID || len(src) < 20 {
		return dst, false
	}
	n := int(int32(binary.BigEndian.Uint32(src[12:])))
	data := src[20:]
	if n < 0 || len(data) != n*12 {
		return dst, false
	}
	for i := 0; i < n; i++ {
		el := data[i*12:]
		if binary.BigEndian.Uint32(el) != 8 {
			return dst, false
		}
		dst = append(dst, math.Float64frombits(binary.BigEndian.Uint64(el[4:])))
	}
	return dst, true
}

// DecodeCheckin decodes what public.checkin() returns.
func DecodeCheckin(raw []byte) (vibepass.Checkin, error) {
	var c vibepass.Checkin
	if err := decode(raw, &c); err != nil {
		return vibepass.Checkin{}, err
	}
	if c.SessionID == "" || c.ExpiresAt.IsZero() {
		return vibepass.Checkin{}, fmt.Errorf("sqlapi: checkin returned %.200q", raw)
	}
	c.ExpiresAt = c.ExpiresAt.UTC()
	return c, nil
}

// DecodePass decodes what public.session_status() returns: nil for JSON null (no live pass).
func DecodePass(raw []byte) (*vibepass.Pass, error) {
	if isNull(raw) {
		return nil, nil
	}
	var p vibepass.Pass
	if err := decode(raw, &p); err != nil {
		return nil, err
	}
	if p.SessionID == "" || p.ExpiresAt.IsZero() || p.CheckedInAt.IsZero() {
		return nil, fmt.Errorf("sqlapi: session_status returned %.200q", raw)
	}
	p.CheckedInAt, p.ExpiresAt = p.CheckedInAt.UTC(), p.ExpiresAt.UTC()
	return &p, nil
}

// DecodeCheckout decodes what public.checkout() returns: JSON null means no pass was live.
func DecodeCheckout(raw []byte) (vibepass.Checkout, error) {
	if isNull(raw) {
		return vibepass.Checkout{}, nil
	}
	var ended struct {
		SessionID string `json:"session_id"`
	}
	if err := decode(raw, &ended); err != nil {
		return vibepass.Checkout{}, err
	}
	if ended.SessionID == "" {
		return vibepass.Checkout{}, fmt.Errorf("sqlapi: checkout returned %.200q", raw)
	}
	return vibepass.Checkout{Ended: true, SessionID: ended.SessionID}, nil
}

// isNull reports whether a function returned SQL NULL: no bytes from pgx, "null" from PostgREST.
func isNull(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func decode(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("sqlapi: decoding %.200q: %w", raw, err)
	}
	return nil
}

// Error maps a SQLSTATE code and message raised by Postgres to a client-facing error,
// or nil when the code means a bug (the caller then reports an internal error).
// Only P0001 messages reach the client as written: the functions raise them for users.
func Error(sqlstate, message string) *vibepass.Error {
	switch {
	case sqlstate == "42501" && message == NotSignedIn:
		return vibepass.Errorf(vibepass.EUNAUTHORIZED, "Not signed in")
	case sqlstate == "42501" && message == SessionEnded:
		return &vibepass.Error{Code: vibepass.EUNAUTHORIZED, Message: "Session ended: sign in again", Reason: vibepass.RSESSIONENDED}
	case sqlstate == "42501" && message == AnonymousRefused:
		return &vibepass.Error{Code: vibepass.EFORBIDDEN, Message: "Anonymous users may not check in", Reason: vibepass.RANONREFUSED}
	case sqlstate == "42501":
		return vibepass.ErrPermissionDenied
	case sqlstate == "P0001":
		return vibepass.Errorf(vibepass.EINVALID, "%s", message)
	case sqlstate == "23505":
		// A unique index the statement does not arbitrate: checkin's ON CONFLICT already
		// settles two check-ins of one user racing on the one-live-pass index, so this is
		// a collision with another change, not bad input. PostgREST also answers 409.
		return vibepass.Errorf(vibepass.ECONFLICT, "Conflicting request, try again")
	case strings.HasPrefix(sqlstate, "23"), strings.HasPrefix(sqlstate, "22"):
		return vibepass.Errorf(vibepass.EINVALID, "Invalid data")
	case sqlstate == "57014": // query_canceled: statement_timeout or a cancel request
		return vibepass.ErrTimeout
	case strings.HasPrefix(sqlstate, "08"), // connection exception
		strings.HasPrefix(sqlstate, "57P"), // admin shutdown, crash shutdown, cannot connect now
		strings.HasPrefix(sqlstate, "53"),  // insufficient resources, too many connections
		strings.HasPrefix(sqlstate, "40"):  // serialization failure, deadlock: retryable
		return vibepass.ErrUnavailable
	}
	return nil
}

// ContextError maps an error caused by ctx ending to a client-facing error, or nil.
// A canceled request (the client left) reports as timed out: nobody reads the answer.
func ContextError(ctx context.Context, err error) *vibepass.Error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return vibepass.ErrTimeout
	}
	return nil
}

// Wrap returns an error that is e for errors.As (so vibepass.ErrorCode and ErrorMessage
// see e) and still carries cause for the log.
func Wrap(e *vibepass.Error, cause error) error {
	return fmt.Errorf("%w: %w", e, cause)
}

// MapError turns an error of a pgx call into a client-facing *vibepass.Error that
// still carries the cause for the log; errors that mean a bug come back unmapped
// (vibepass.ErrorCode reports them as EINTERNAL, with a generic message).
func MapError(ctx context.Context, err error) error {
	if ContextError(ctx, err) != nil || pgconn.Timeout(err) {
		return Wrap(vibepass.ErrTimeout, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if e := Error(pgErr.Code, pgErr.Message); e != nil {
			return Wrap(e, err)
		}
		return fmt.Errorf("sqlapi: %w", err)
	}
	if isConnectionError(err) {
		if !notSent(err) {
			return Wrap(vibepass.ErrAnswerLost, err)
		}
		return Wrap(vibepass.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlapi: %w", err)
}

// notSent reports whether a connection error certainly came before the call reached
// the database: no connection could be made, or pgx says nothing was sent
// (pgconn.SafeToRetry). Any other broken connection may have carried the call to a
// database that did it and died, or lost the answer on the way back.
func notSent(err error) bool {
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr) || pgconn.SafeToRetry(err)
}

// isConnectionError reports whether err means the database could not be reached or
// the connection broke (refused, reset, closed, server gone mid-answer).
func isConnectionError(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// The presence feed's statements, run as the service role.
const (
	// PresenceTickSQL logs the expiries due and returns the head as JSON (DecodeFeedHead).
	PresenceTickSQL = "select public.presence_tick()"
	// PresenceSummarySQL returns the count, means and cursor as JSON (DecodeSummary).
	PresenceSummarySQL = "select public.presence_summary()"
	// PresenceHistorySQL returns the last hour's per-minute counts as JSON (DecodeHistory).
	PresenceHistorySQL = "select public.presence_history()"
	// PresenceChangesSQL reads up to $2 changes after cursor $1, in the columns ReadChanges scans.
	PresenceChangesSQL = `select seq, kind, user_id::text, at, coalesce(display_name, ''), checked_in_at, expires_at, preferences, is_anonymous
		from public.presence_changes($1, $2)`
)

// ChangeRow is one row of public.presence_changes, as pgx scans it and PostgREST writes it.
type ChangeRow struct {
	Seq         int64      `json:"seq"`
	Kind        string     `json:"kind"`
	UserID      string     `json:"user_id"`
	At          time.Time  `json:"at"`
	DisplayName *string    `json:"display_name"`
	CheckedInAt *time.Time `json:"checked_in_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	Preferences []float64  `json:"preferences"`
	IsAnonymous *bool      `json:"is_anonymous"`
}

// Change is the row as the feed reports it: join, renew and update carry the user's row.
func (r ChangeRow) Change() vibepass.Change {
	c := vibepass.Change{Cursor: r.Seq, Kind: r.Kind, UserID: r.UserID, At: r.At.UTC()}
	if r.CheckedInAt != nil && r.ExpiresAt != nil {
		u := vibepass.ActiveUser{UserID: r.UserID, CheckedInAt: r.CheckedInAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), Preferences: r.Preferences,
			IsAnonymous: r.IsAnonymous != nil && *r.IsAnonymous}
		if r.DisplayName != nil {
			u.DisplayName = *r.DisplayName
		}
		c.User = &u
	}
	return c
}

// ReadChanges runs PresenceChangesSQL as role with claims in one round trip.
func ReadChanges(ctx context.Context, db Batcher, role, claims string, after int64, limit int) ([]vibepass.Change, error) {
	b := &pgx.Batch{}
	QueueAs(b, role, claims)
	var out []vibepass.Change
	b.Queue(PresenceChangesSQL, after, limit).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var r ChangeRow
			var name string
			if err := rows.Scan(&r.Seq, &r.Kind, &r.UserID, &r.At, &name, &r.CheckedInAt, &r.ExpiresAt, &r.Preferences, &r.IsAnonymous); err != nil {
				return err
			}
			r.DisplayName = &name
			out = append(out, r.Change())
		}
		return rows.Err()
	})
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeChanges decodes PostgREST's JSON array of public.presence_changes rows.
func DecodeChanges(raw []byte) ([]vibepass.Change, error) {
	var rows []ChangeRow
	if err := decode(raw, &rows); err != nil {
		return nil, err
	}
	out := make([]vibepass.Change, len(rows))
	for i, r := range rows {
		if r.Seq <= 0 || r.Kind == "" || r.UserID == "" {
			return nil, fmt.Errorf("sqlapi: presence_changes returned %.200q", raw)
		}
		out[i] = r.Change()
	}
	return out, nil
}

// DecodeFeedHead decodes what public.presence_tick() returns.
func DecodeFeedHead(raw []byte) (vibepass.FeedHead, error) {
	var h struct {
		Cursor *int64 `json:"cursor"`
		Floor  *int64 `json:"floor"`
	}
	if err := decode(raw, &h); err != nil {
		return vibepass.FeedHead{}, err
	}
	if h.Cursor == nil || h.Floor == nil {
		return vibepass.FeedHead{}, fmt.Errorf("sqlapi: presence_tick returned %.200q", raw)
	}
	return vibepass.FeedHead{Cursor: *h.Cursor, Floor: *h.Floor}, nil
}

// DecodeSummary decodes what public.presence_summary() returns.
func DecodeSummary(raw []byte) (vibepass.Summary, error) {
	var s struct {
		Count  *int64    `json:"count"`
		Mean   []float64 `json:"mean"`
		Cursor *int64    `json:"cursor"`
	}
	if err := decode(raw, &s); err != nil {
		return vibepass.Summary{}, err
	}
	if s.Count == nil || s.Cursor == nil || (*s.Count > 0) != (len(s.Mean) == 5) {
		return vibepass.Summary{}, fmt.Errorf("sqlapi: presence_summary returned %.200q", raw)
	}
	return vibepass.Summary{Count: *s.Count, Mean: s.Mean, Cursor: *s.Cursor}, nil
}

// DecodeHistory decodes what public.presence_history() returns: one point per minute.
func DecodeHistory(raw []byte) ([]vibepass.PresencePoint, error) {
	var points []struct {
		At    *time.Time `json:"at"`
		Count *int64     `json:"count"`
	}
	if err := decode(raw, &points); err != nil {
		return nil, err
	}
	out := make([]vibepass.PresencePoint, len(points))
	for i, p := range points {
		if p.At == nil || p.Count == nil {
			return nil, fmt.Errorf("sqlapi: presence_history returned %.200q", raw)
		}
		out[i] = vibepass.PresencePoint{At: p.At.UTC(), Count: *p.Count}
	}
	return out, nil
}

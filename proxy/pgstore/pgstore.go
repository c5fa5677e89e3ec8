// Package pgstore is the direct upstream: a vibepass.Store that calls the SQL
// functions over a pgx pool, doing per request what PostgREST does (switch role,
// set request.jwt.claims for the transaction, call the function) in one round trip.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/pgstore/sqlapi"
)

// setRole switches role and claims for the current transaction only (is_local = true),
// as PostgREST does, so nothing leaks to the next user of the pooled connection.
const setRole = "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)"

// serviceRoleClaims are the claims the model read runs with, as a service_role key carries.
const serviceRoleClaims = `{"role":"service_role"}`

// Store is a vibepass.Store over a pgx pool that logs in as the authenticator role.
// It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

var _ vibepass.Store = (*Store)(nil)

// New returns a Store over pool, which must log in as authenticator (or any role
// granted authenticated and service_role). The pool reconnects by itself after a
// database restart: pgxpool pings connections idle for a second before handing them out
// and drops broken ones.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// Checkin makes or renews the caller's pass with public.checkin().
func (s *Store) Checkin(ctx context.Context, c vibepass.Caller) (vibepass.Checkin, error) {
	raw, err := s.callJSON(ctx, c, "select public.checkin()")
	if err != nil {
		return vibepass.Checkin{}, err
	}
	return sqlapi.DecodeCheckin(raw)
}

// SessionStatus returns the caller's live pass from public.session_status(), or nil.
func (s *Store) SessionStatus(ctx context.Context, c vibepass.Caller) (*vibepass.Pass, error) {
	raw, err := s.callJSON(ctx, c, "select public.session_status()")
	if err != nil {
		return nil, err
	}
	return sqlapi.DecodePass(raw)
}

// Checkout ends the caller's live pass with public.checkout().
func (s *Store) Checkout(ctx context.Context, c vibepass.Caller) (vibepass.Checkout, error) {
	raw, err := s.callJSON(ctx, c, "select public.checkout()")
	if err != nil {
		return vibepass.Checkout{}, err
	}
	return sqlapi.DecodeCheckout(raw)
}

// callJSON runs one json-returning function as the caller: role, claims and the call
// go out as one pgx.Batch, which Postgres runs as one implicit transaction.
func (s *Store) callJSON(ctx context.Context, c vibepass.Caller, query string) ([]byte, error) {
	b := &pgx.Batch{}
	b.Queue(setRole, "authenticated", string(c.Claims))
	var raw []byte
	b.Queue(query).QueryRow(func(row pgx.Row) error { return row.Scan(&raw) })
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, mapError(ctx, err)
	}
	return raw, nil
}

// ActiveUsers streams public.active_users() as service_role into emit, row by row.
//
// It is one pgx.Batch too, not an explicit transaction: pgx reads a batch's result
// rows from the socket as they are iterated (Postgres sends them as they are produced
// and TCP holds back the rest), so a batch streams as well as begin/query/commit does,
// in one round trip instead of three, and the set_config still reverts at the
// implicit commit. When emit fails, the remaining rows are drained so the connection
// goes back to the pool usable; emit's error is returned as is.
func (s *Store) ActiveUsers(ctx context.Context, emit func(vibepass.ActiveUser) error) error {
	return s.activeUsers(ctx, "service_role", serviceRoleClaims, emit)
}

// activeUsers reads public.active_users() as role with claims; tests use it to show
// that any role but service_role is refused.
func (s *Store) activeUsers(ctx context.Context, role, claims string, emit func(vibepass.ActiveUser) error) error {
	b := &pgx.Batch{}
	b.Queue(setRole, role, claims)
	b.Queue("select user_id::text, coalesce(display_name, ''), checked_in_at, expires_at, preferences from public.active_users()")
	br := s.pool.SendBatch(ctx, b)
	emitErr, err := streamActiveUsers(br, emit)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if emitErr != nil {
		return emitErr
	}
	if err != nil {
		return mapError(ctx, err)
	}
	return nil
}

// streamActiveUsers reads the batch's two results, handing each row to emit; it keeps
// emit's error apart from the database's so the caller maps only the latter.
func streamActiveUsers(br pgx.BatchResults, emit func(vibepass.ActiveUser) error) (emitErr, err error) {
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var u vibepass.ActiveUser
	for rows.Next() {
		if err := rows.Scan(&u.UserID, &u.DisplayName, &u.CheckedInAt, &u.ExpiresAt, &u.Preferences); err != nil {
			return nil, err
		}
		u.CheckedInAt, u.ExpiresAt = u.CheckedInAt.UTC(), u.ExpiresAt.UTC()
		if err := emit(u); err != nil {
			return err, nil
		}
		u.Preferences = nil // emit may keep the slice; give the next row its own
	}
	return nil, rows.Err()
}

// Ping reports whether the database answers, through a pooled connection.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return mapError(ctx, err)
	}
	return nil
}

// mapError turns a pgx error into a client-facing *vibepass.Error that still
// carries the cause for the log; errors that mean a bug come back unmapped
// (vibepass.ErrorCode reports them as EINTERNAL, with a generic message).
func mapError(ctx context.Context, err error) error {
	if sqlapi.ContextError(ctx, err) != nil || pgconn.Timeout(err) {
		return sqlapi.Wrap(sqlapi.TimedOut(), err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if e := sqlapi.Error(pgErr.Code, pgErr.Message); e != nil {
			return sqlapi.Wrap(e, err)
		}
		return fmt.Errorf("pgstore: %w", err)
	}
	if isConnectionError(err) {
		return sqlapi.Wrap(sqlapi.Unavailable(), err)
	}
	return fmt.Errorf("pgstore: %w", err)
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

// PoolConfig parses a connection URL into a pgxpool config with the settings the
// store relies on: a bounded connect timeout so a dead database fails fast.
func PoolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	return cfg, nil
}

// Package pgstore is the direct upstream: a vibepass.Store that calls the SQL
// functions over a pgx pool, doing per request what PostgREST does (switch role,
// set request.jwt.claims for the transaction, call the function) in one round trip.
package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

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
	raw, err := s.callJSON(ctx, c, sqlapi.CheckinSQL)
	if err != nil {
		return vibepass.Checkin{}, err
	}
	return sqlapi.DecodeCheckin(raw)
}

// SessionStatus returns the caller's live pass from public.session_status(), or nil.
func (s *Store) SessionStatus(ctx context.Context, c vibepass.Caller) (*vibepass.Pass, error) {
	raw, err := s.callJSON(ctx, c, sqlapi.SessionStatusSQL)
	if err != nil {
		return nil, err
	}
	return sqlapi.DecodePass(raw)
}

// Checkout ends the caller's live pass with public.checkout().
func (s *Store) Checkout(ctx context.Context, c vibepass.Caller) (vibepass.Checkout, error) {
	raw, err := s.callJSON(ctx, c, sqlapi.CheckoutSQL)
	if err != nil {
		return vibepass.Checkout{}, err
	}
	return sqlapi.DecodeCheckout(raw)
}

// callJSON runs one json-returning statement as the caller, in one round trip.
func (s *Store) callJSON(ctx context.Context, c vibepass.Caller, statement string) ([]byte, error) {
	raw, err := sqlapi.CallJSON(ctx, s.pool, vibepass.RoleAuthenticated, string(c.Claims), statement)
	if err != nil {
		return nil, sqlapi.MapError(ctx, err)
	}
	return raw, nil
}

// ActiveUsers streams public.active_users() as service_role into emit, row by row;
// emit's error is returned as is.
func (s *Store) ActiveUsers(ctx context.Context, emit func(vibepass.ActiveUser) error) error {
	emitErr, err := sqlapi.ReadActiveUsers(ctx, s.pool, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, emit)
	if emitErr != nil {
		return emitErr
	}
	if err != nil {
		return sqlapi.MapError(ctx, err)
	}
	return nil
}

// Ping reports whether the database answers, through a pooled connection.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return sqlapi.MapError(ctx, err)
	}
	return nil
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

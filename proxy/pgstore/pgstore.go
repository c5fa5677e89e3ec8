// Package pgstore is the direct upstream: a vibepass.Store that calls the SQL
// functions over pgx pools, doing per request what PostgREST does (switch role,
// set request.jwt.claims for the transaction, call the function) in one round trip.
package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// Store is a vibepass.Store over three pgx pools that log in as the authenticator role:
// one for the user calls and Ping, one for the model's list, one for the presence feed's
// calls (tick, changes, summary, history). A model stream holds its connection until its
// client has read the whole list, which a slow client can make last until timeouts.write;
// on a pool of their own such reads can only make each other wait. The feed's calls are
// short but the model may send many: on their own pool they neither wait behind the
// streams nor slow a user's call or the readiness probe.
// It is safe for concurrent use.
type Store struct {
	users *pgxpool.Pool
	model *pgxpool.Pool
	feed  *pgxpool.Pool
}

// What the server asks of the direct upstream: all of it.
var (
	_ vibepass.Store            = (*Store)(nil)
	_ vibepass.ActiveUserViewer = (*Store)(nil)
	_ vibepass.PoolReporter     = (*Store)(nil)
	_ vibepass.PassCounter      = (*Store)(nil)
)

// Pools sizes a Store's three pools, in connections.
type Pools struct {
	// Users is the most connections user calls and Ping hold at once.
	Users int32
	// Model is the most connections model reads hold at once; one more waits for a free one.
	Model int32
	// Feed is the most connections the presence feed's calls hold at once.
	Feed int32
}

// Open returns a Store over three pools on url, which must log in as authenticator (or
// any role granted authenticated and service_role). Nothing is dialled yet. The pools
// reconnect by themselves after a database restart: pgxpool pings connections idle for
// a second before handing them out and drops broken ones. Close releases them.
func Open(url string, sizes Pools) (*Store, error) {
	if sizes.Users < 1 || sizes.Model < 1 || sizes.Feed < 1 {
		return nil, errors.New("pgstore: every pool needs at least one connection")
	}
	s := &Store{}
	for _, p := range []struct {
		pool **pgxpool.Pool
		size int32
	}{{&s.users, sizes.Users}, {&s.model, sizes.Model}, {&s.feed, sizes.Feed}} {
		pool, err := openPool(url, p.size)
		if err != nil {
			s.Close()
			return nil, err
		}
		*p.pool = pool
	}
	return s, nil
}

// openPool makes a pool of at most maxConns connections on url, dialling none yet.
func openPool(url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := PoolConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = maxConns
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// Close closes the pools, waiting for the connections in use to be released.
func (s *Store) Close() {
	for _, p := range []*pgxpool.Pool{s.users, s.model, s.feed} {
		if p != nil {
			p.Close()
		}
	}
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
	return callJSONAs(ctx, s.users, vibepass.RoleAuthenticated, string(c.Claims), statement)
}

// callJSONAs runs one json-returning statement as role with claims on pool.
func callJSONAs(ctx context.Context, pool *pgxpool.Pool, role, claims, statement string) ([]byte, error) {
	raw, err := sqlapi.CallJSON(ctx, pool, role, claims, statement)
	if err != nil {
		return nil, sqlapi.MapError(ctx, err)
	}
	return raw, nil
}

// ActiveUsers streams public.active_users() as service_role into emit, row by row,
// on the model pool; emit's error is returned as is.
func (s *Store) ActiveUsers(ctx context.Context, emit func(vibepass.ActiveUser) error) error {
	emitErr, err := sqlapi.ReadActiveUsers(ctx, s.model, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, emit)
	return readError(ctx, emitErr, err)
}

// ActiveUserViews is ActiveUsers handing each row on as a view, valid only until emit
// returns: the model list's stream encodes it at once, with no vibepass.ActiveUser made.
func (s *Store) ActiveUserViews(ctx context.Context, emit func(*vibepass.ActiveUserView) error) error {
	emitErr, err := sqlapi.ReadActiveUserViews(ctx, s.model, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, emit)
	return readError(ctx, emitErr, err)
}

// readError is a list read's result: emit's error as is, the database's mapped.
func readError(ctx context.Context, emitErr, err error) error {
	if emitErr != nil {
		return emitErr
	}
	if err != nil {
		return sqlapi.MapError(ctx, err)
	}
	return nil
}

// Ping reports whether the database answers and holds every function the proxy calls
// (public.vibepass_ready()), through the user pool: the one whose callers a readiness
// probe speaks for. A database without the migrations gives vibepass.ErrNotMigrated.
func (s *Store) Ping(ctx context.Context) error {
	raw, err := callJSONAs(ctx, s.users, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, sqlapi.ReadySQL)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42883" { // undefined_function: not migrated
		return sqlapi.Wrap(vibepass.ErrNotMigrated, err)
	}
	if err != nil {
		return err
	}
	return sqlapi.DecodeReady(raw)
}

// PoolStats returns a snapshot of the "users", "model" and "feed" pools, for the metrics.
func (s *Store) PoolStats() map[string]vibepass.PoolStats {
	return map[string]vibepass.PoolStats{"users": poolStats(s.users), "model": poolStats(s.model), "feed": poolStats(s.feed)}
}

// poolStats is pool's snapshot as the domain reports it.
func poolStats(pool *pgxpool.Pool) vibepass.PoolStats {
	st := pool.Stat()
	return vibepass.PoolStats{InUse: st.AcquiredConns(), Idle: st.IdleConns(), Max: st.MaxConns(),
		Waits: st.EmptyAcquireCount(), WaitTime: st.EmptyAcquireWaitTime()}
}

// LivePasses counts the live passes as service_role, on the user pool: the model
// pool may be full of streams, and a metrics scrape must not queue behind them.
func (s *Store) LivePasses(ctx context.Context) (int, error) {
	b := &pgx.Batch{}
	sqlapi.QueueAs(b, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims)
	var n int
	b.Queue(sqlapi.LivePassesSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
	if err := s.users.SendBatch(ctx, b).Close(); err != nil {
		return 0, sqlapi.MapError(ctx, err)
	}
	return n, nil
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

// PresenceTick runs public.presence_tick() as service_role on the feed pool: it is short,
// and takes the feed's lock, so it must not queue behind long model reads.
func (s *Store) PresenceTick(ctx context.Context) (vibepass.FeedHead, error) {
	raw, err := callJSONAs(ctx, s.feed, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, sqlapi.PresenceTickSQL)
	if err != nil {
		return vibepass.FeedHead{}, err
	}
	return sqlapi.DecodeFeedHead(raw)
}

// PresenceChanges reads up to limit changes after cursor after from public.presence_changes.
func (s *Store) PresenceChanges(ctx context.Context, after int64, limit int) ([]vibepass.Change, error) {
	changes, err := sqlapi.ReadChanges(ctx, s.feed, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, after, limit)
	if err != nil {
		return nil, sqlapi.MapError(ctx, err)
	}
	return changes, nil
}

// PresenceSummary runs public.presence_summary() as service_role on the feed pool.
func (s *Store) PresenceSummary(ctx context.Context) (vibepass.Summary, error) {
	raw, err := callJSONAs(ctx, s.feed, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, sqlapi.PresenceSummarySQL)
	if err != nil {
		return vibepass.Summary{}, err
	}
	return sqlapi.DecodeSummary(raw)
}

// PresenceHistory runs public.presence_history() as service_role on the feed pool.
func (s *Store) PresenceHistory(ctx context.Context) ([]vibepass.PresencePoint, error) {
	raw, err := callJSONAs(ctx, s.feed, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, sqlapi.PresenceHistorySQL)
	if err != nil {
		return nil, err
	}
	return sqlapi.DecodeHistory(raw)
}

package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth"
	"github.com/vibepass/vibepass/proxy/pgstore"
	"github.com/vibepass/vibepass/proxy/rest"
)

// Open builds what cfg describes (the store for upstream.kind, the token verifier
// and the model keys) and a Server over them. Nothing is dialled yet: a database
// that is down makes /readyz answer 503, not Open fail. Close releases it all.
// logger nil means JSON on stderr at log.level.
func Open(cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = NewLogger(os.Stderr, cfg.Log.Level)
	}
	keys, err := auth.NewAPIKeys(cfg.ModelAPIKeys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ModelKeysEnv, err)
	}
	store, closeStore, err := openStore(cfg.Upstream, cfg.Timeouts)
	if err != nil {
		return nil, err
	}
	verifier, err := auth.NewVerifier(context.Background(), auth.Options{
		HS256Secret: []byte(cfg.Auth.JWTSecret), JWKSURL: cfg.Auth.JWKSURL, Logger: logger,
	})
	if err != nil {
		closeStore()
		return nil, fmt.Errorf("auth: %w", err)
	}
	s := New(cfg, Deps{Store: store, Verifier: verifier, APIKeys: keys, Logger: logger})
	s.close = func() {
		verifier.Close()
		closeStore()
	}
	return s, nil
}

// openStore builds the vibepass.Store for the configured upstream and its cleanup.
func openStore(u UpstreamConfig, t TimeoutsConfig) (vibepass.Store, func(), error) {
	switch u.Kind {
	case UpstreamPostgres:
		pcfg, err := pgstore.PoolConfig(u.DBURL)
		if err != nil {
			return nil, nil, fmt.Errorf("upstream.db_url: %w", err)
		}
		pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
		if err != nil {
			return nil, nil, fmt.Errorf("upstream.db_url: %w", err)
		}
		return pgstore.New(pool), pool.Close, nil
	case UpstreamPostgREST:
		store, err := rest.New(rest.Options{
			URL: u.URL, AnonKey: u.AnonKey, ServiceRoleKey: u.ServiceRoleKey, Timeout: t.Upstream,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("upstream: %w", err)
		}
		return store, func() {}, nil
	}
	return nil, nil, fmt.Errorf("upstream.kind: must be %q or %q", UpstreamPostgres, UpstreamPostgREST)
}

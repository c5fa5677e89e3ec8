package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/cmd/vibepass/config"
	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/auth"
	"github.com/vibepass/vibepass/proxy/pgstore"
	"github.com/vibepass/vibepass/proxy/rest"
)

// openServer builds what a validated cfg describes (the store for upstream.kind, the
// token verifier and the model keys) and a proxy.Server over them, logging to logger.
// Nothing is dialled yet: a database that is down makes /readyz answer 503, not
// openServer fail. release frees it all once the server has shut down.
func openServer(cfg config.Config, logger *slog.Logger) (srv *proxy.Server, release func(), err error) {
	keys, err := auth.NewAPIKeys(cfg.ModelAPIKeys)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", config.ModelKeysEnv, err)
	}
	store, closeStore, err := openStore(cfg.Upstream, cfg.Timeouts)
	if err != nil {
		return nil, nil, err
	}
	verifier, err := auth.NewVerifier(context.Background(), auth.Options{
		HS256Secret: []byte(cfg.Auth.JWTSecret), JWKSURL: cfg.Auth.JWKSURL, Logger: logger,
	})
	if err != nil {
		closeStore()
		return nil, nil, fmt.Errorf("auth: %w", err)
	}
	srv = proxy.New(cfg.Config, proxy.Deps{Store: store, Verifier: verifier, APIKeys: keys, Logger: logger})
	return srv, func() {
		verifier.Close()
		closeStore()
	}, nil
}

// openStore builds the vibepass.Store for the configured upstream and its cleanup.
func openStore(u config.UpstreamConfig, t proxy.TimeoutsConfig) (vibepass.Store, func(), error) {
	switch u.Kind {
	case config.UpstreamPostgres:
		pcfg, err := pgstore.PoolConfig(u.DBURL)
		if err != nil {
			return nil, nil, fmt.Errorf("upstream.db_url: %w", err)
		}
		pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
		if err != nil {
			return nil, nil, fmt.Errorf("upstream.db_url: %w", err)
		}
		return pgstore.New(pool), pool.Close, nil
	case config.UpstreamPostgREST:
		store, err := rest.New(rest.Options{
			URL: u.URL, AnonKey: u.AnonKey, ServiceRoleKey: u.ServiceRoleKey, Timeout: t.Upstream,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("upstream: %w", err)
		}
		return store, func() {}, nil
	}
	return nil, nil, fmt.Errorf("upstream.kind: must be %q or %q", config.UpstreamPostgres, config.UpstreamPostgREST)
}

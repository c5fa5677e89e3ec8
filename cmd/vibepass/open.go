package main

import (
	"context"
	"fmt"
	"log/slog"

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
	deps, closeStore, err := openStore(cfg.Upstream, cfg.Config)
	if err != nil {
		return nil, nil, err
	}
	verifier, err := auth.NewVerifier(context.Background(), auth.Options{
		HS256Secret: []byte(cfg.Auth.JWTSecret), JWKSURL: cfg.Auth.JWKSURL, Issuer: cfg.Auth.Issuer, Logger: logger,
	})
	if err != nil {
		closeStore()
		return nil, nil, fmt.Errorf("auth: %w", err)
	}
	deps.Verifier, deps.APIKeys, deps.Logger = verifier, keys, logger
	srv = proxy.New(cfg.Config, deps)
	return srv, func() {
		verifier.Close()
		closeStore()
	}, nil
}

// feedPoolConns is the direct upstream's pool for the presence feed's calls: one poller
// per proxy, and the model's ticks, summaries and (cached) history, all short.
const feedPoolConns = 2

// openStore builds the store for the configured upstream, as the server's deps (the
// store's three parts and what else it can do), and its cleanup. The direct upstream gets a user pool of upstream.pool_max_conns, a model pool of
// limits.model_streams, so that every stream the server admits has its connection, and a
// pool of feedPoolConns for the feed's calls, so that no model call slows a user's.
func openStore(u config.UpstreamConfig, p proxy.Config) (proxy.Deps, func(), error) {
	switch u.Kind {
	case config.UpstreamPostgres:
		store, err := pgstore.Open(u.DBURL, pgstore.Pools{Users: u.PoolMaxConns, Model: int32(p.Limits.ModelStreams), Feed: feedPoolConns})
		if err != nil {
			return proxy.Deps{}, nil, fmt.Errorf("upstream.db_url: %w", err)
		}
		return proxy.Deps{Passes: store, Presence: store, Readiness: store, Views: store, Pools: store, LivePasses: store}, store.Close, nil
	case config.UpstreamPostgREST:
		store, err := rest.New(rest.Options{
			URL: u.URL, AnonKey: u.AnonKey, ServiceRoleKey: u.ServiceRoleKey, Timeout: p.Timeouts.Upstream,
		})
		if err != nil {
			return proxy.Deps{}, nil, fmt.Errorf("upstream: %w", err)
		}
		return proxy.Deps{Passes: store, Presence: store, Readiness: store}, func() {}, nil
	}
	return proxy.Deps{}, nil, fmt.Errorf("upstream.kind: must be %q or %q", config.UpstreamPostgres, config.UpstreamPostgREST)
}

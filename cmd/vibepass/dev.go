package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/vibepass/vibepass/cmd/vibepass/config"
	"github.com/vibepass/vibepass/proxy/auth"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/sql/localdb"
)

// devDatabase is the database dev serves, cloned once from the seeded template.
const devDatabase = "vibepass"

// devAPI serves the API on db at addr until ctx ends, printing "ready: http://<addr>"
// to stdout once it listens, and returns after shutting down. It uses the direct
// upstream, tokens signed with the dev secret (what `vibepass token` mints), the demo
// page, GET /metrics and CORS for Vite's dev server (port 5173). The model keys come from
// MODEL_API_KEY; without it one is made and printed once ("model key: ...").
func devAPI(ctx context.Context, db *localdb.Database, addr string, stdout, stderr io.Writer) error {
	cfg := config.Default()
	cfg.Listen = addr
	cfg.Upstream.Kind, cfg.Upstream.DBURL = config.UpstreamPostgres, db.AuthenticatorURL
	cfg.Auth.JWTSecret = devtoken.Secret
	cfg.Page.Enabled = true
	// A frontend under development usually runs on Vite's dev server: let it call the API.
	cfg.CORS.Origins = []string{"http://localhost:5173", "http://127.0.0.1:5173"}
	if cfg.ModelAPIKeys = config.ModelKeysFromEnv(); len(cfg.ModelAPIKeys) == 0 {
		cfg.ModelAPIKeys = []string{auth.NewAPIKey()}
		fmt.Fprintf(stdout, "model key: %s   (set %s to choose your own)\n", cfg.ModelAPIKeys[0], config.ModelKeysEnv)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	srv, release, err := openServer(cfg, cfg.Log.Logger(stderr))
	if err != nil {
		return err
	}
	defer release()
	srv.MountMetrics() // dev listens on loopback for one developer: no second port to find
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	links, err := demoLinks(ctx, db, ln.Addr().String())
	if err != nil {
		ln.Close()
		return err
	}
	return srv.Run(ctx, ln, func(addr string) {
		fmt.Fprintf(stdout, "ready: http://%s\n", addr)
		printDemoLinks(stdout, links)
	})
}

// dev starts the local database (data kept in --data-dir across runs), prints its URL,
// serves the API on it, and stops all of it on SIGINT or SIGTERM.
func dev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", stderr)
	addr := fs.String("addr", "127.0.0.1:3000", "address the API listens on")
	dataDir := fs.String("data-dir", filepath.Join(".vibepass", "dev"), "directory of the local database, kept across runs (git-ignored)")
	dbPort := fs.Int("db-port", 54322, "port of the local database on 127.0.0.1 (the Supabase CLI's); 0 picks a free one")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	logger := log.New(stderr, "", log.LstdFlags)
	cluster, err := localdb.Start(ctx, localdb.Options{Dir: *dataDir, Port: *dbPort, Fsync: true, Logf: logger.Printf})
	if err != nil {
		return err
	}
	defer func() {
		if err := cluster.Close(); err != nil {
			logger.Print(err)
		}
	}()
	db, err := cluster.EnsureDatabase(ctx, devDatabase)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "db: %s\n", db.SuperuserURL)

	apiDone := make(chan error, 1)
	apiCtx, stopAPI := context.WithCancel(ctx)
	defer func() {
		stopAPI()
		<-apiDone // the API stops before the database it uses
	}()
	go func() { apiDone <- devAPI(apiCtx, db, *addr, stdout, stderr) }()
	select {
	case <-ctx.Done():
		logger.Print("stopping")
		return nil
	case <-cluster.Exited():
		return fmt.Errorf("postgres exited; log %s:\n%s", filepath.Join(cluster.Dir(), "postgres.log"), cluster.LogTail())
	case err := <-apiDone:
		apiDone <- err // for the deferred wait
		if err == nil {
			err = errors.New("the API stopped")
		}
		return err
	}
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/auth"
	"github.com/vibepass/vibepass/sql/localdb"
)

func init() {
	register("dev", "run a local Postgres with the schema and demo users (and the API on it) until Ctrl-C", dev)
}

// devDatabase is the database dev serves, cloned once from the seeded template.
const devDatabase = "vibepass"

// serveDevAPI serves the API on db at addr until ctx ends, printing "ready: http://<addr>"
// to stdout once it listens, and returns after shutting down. While it is nil, dev runs
// the database alone.
var serveDevAPI = devAPI

// devAPI serves the API on db with the direct upstream, tokens signed with the dev
// secret (what `vibepass token` mints), the demo page and CORS for Vite's dev server
// (port 5173). The model keys come from MODEL_API_KEY; without it one is made and
// printed once ("model key: ...").
func devAPI(ctx context.Context, db *localdb.Database, addr string, stdout io.Writer) error {
	cfg := proxy.DefaultConfig()
	cfg.Listen = addr
	cfg.Upstream = proxy.UpstreamConfig{Kind: proxy.UpstreamPostgres, DBURL: db.AuthenticatorURL}
	cfg.Auth.JWTSecret = auth.DevJWTSecret
	cfg.Page.Enabled = true
	// A frontend under development usually runs on Vite's dev server: let it call the API.
	cfg.CORS.Origins = []string{"http://localhost:5173", "http://127.0.0.1:5173"}
	if cfg.ModelAPIKeys = proxy.ModelKeysFromEnv(); len(cfg.ModelAPIKeys) == 0 {
		key := make([]byte, 24)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		cfg.ModelAPIKeys = []string{hex.EncodeToString(key)}
		fmt.Fprintf(stdout, "model key: %s   (set %s to choose your own)\n", cfg.ModelAPIKeys[0], proxy.ModelKeysEnv)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	srv, err := proxy.Open(cfg, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
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
func dev(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:3000", "address the API listens on")
	dataDir := fs.String("data-dir", filepath.Join(".vibepass", "dev"), "directory of the local database, kept across runs (git-ignored)")
	dbPort := fs.Int("db-port", 54322, "port of the local database on 127.0.0.1 (the Supabase CLI's); 0 picks a free one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	logger := log.New(os.Stderr, "", log.LstdFlags)
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
	if serveDevAPI != nil {
		apiCtx, stopAPI := context.WithCancel(ctx)
		defer func() {
			stopAPI()
			<-apiDone // the API stops before the database it uses
		}()
		go func() { apiDone <- serveDevAPI(apiCtx, db, *addr, stdout) }()
	}
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

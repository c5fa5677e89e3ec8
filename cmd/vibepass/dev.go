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
	"strconv"
	"strings"
	"syscall"

	"github.com/vibepass/vibepass/cmd/vibepass/config"
	"github.com/vibepass/vibepass/proxy/auth"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/sql/localdb"
)

// devDatabase is the database dev serves, cloned once from the seeded template.
const devDatabase = "vibepass"

// devModelKeyFile is the file in dev's data directory keeping the model key dev made,
// so that a restart does not break a model client configured with it.
const devModelKeyFile = "model-key"

// devLogFile is dev's JSON log in its data directory: the access log and the server's
// records, made anew each run. The terminal gets only the lines written for people.
const devLogFile = "vibepass.log"

// devAPI serves the API on db through ln until ctx ends, printing "ready: http://<addr>"
// to stdout once it serves, and returns after shutting down. It uses the direct
// upstream, tokens signed with the dev secret (what `vibepass token` mints), the demo
// page, GET /metrics, CORS for Vite's dev server (port 5173) and the model keys given.
// Its JSON log goes to logw.
func devAPI(ctx context.Context, db *localdb.Database, ln net.Listener, modelKeys []string, stdout, logw io.Writer) error {
	cfg := config.Default()
	cfg.Listen = ln.Addr().String()
	cfg.Upstream.Kind, cfg.Upstream.DBURL = config.UpstreamPostgres, db.AuthenticatorURL
	cfg.Auth.JWTSecret = devtoken.Secret
	cfg.Page.Enabled = true
	// A frontend under development usually runs on Vite's dev server: let it call the API.
	cfg.CORS.Origins = []string{"http://localhost:5173", "http://127.0.0.1:5173"}
	cfg.ModelAPIKeys = modelKeys
	if err := cfg.Validate(); err != nil {
		return err
	}
	srv, release, err := openServer(cfg, cfg.Log.Logger(logw))
	if err != nil {
		return err
	}
	defer release()
	srv.MountMetrics() // dev listens on loopback for one developer: no second port to find
	links, err := demoLinks(ctx, db, ln.Addr().String())
	if err != nil {
		return err
	}
	return srv.Run(ctx, ln, func(addr string) {
		// The model's side: who is present, live; it asks for the model key printed above.
		fmt.Fprintf(stdout, "dashboard: http://%s/dashboard   (the model's view, live: sign in with the model key)\n", addr)
		fmt.Fprintf(stdout, "ready: http://%s\n", addr)
		printDemoLinks(stdout, links)
	})
}

// devModelKeys returns the model keys from MODEL_API_KEY or, without it, the key kept in
// dataDir (made and kept on the first run), printing that one each time.
func devModelKeys(dataDir string, stdout io.Writer) ([]string, error) {
	if keys := config.ModelKeysFromEnv(); len(keys) > 0 {
		return keys, nil
	}
	path := filepath.Join(dataDir, devModelKeyFile)
	b, err := os.ReadFile(path)
	key := strings.TrimSpace(string(b))
	switch {
	case err == nil && key != "":
	case err == nil || errors.Is(err, os.ErrNotExist):
		key = auth.NewAPIKey()
		if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("keeping the model key: %w", err)
		}
	default:
		return nil, fmt.Errorf("reading the model key: %w (remove %s to make a new one)", err, path)
	}
	fmt.Fprintf(stdout, "model key: %s   (set %s to choose your own)\n", key, config.ModelKeysEnv)
	return []string{key}, nil
}

// listenDev listens on addr for the API, with an error that tells a newcomer what to do.
func listenDev(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("--addr %s: the address is already in use (another vibepass dev?): stop that program, or pass another address, e.g. --addr 127.0.0.1:3001 (--addr 127.0.0.1:0 picks a free port)", addr)
	default:
		return nil, fmt.Errorf("--addr %s: %w (it takes host:port, e.g. --addr 127.0.0.1:3000)", addr, err)
	}
}

// checkDBPort fails when port is taken on 127.0.0.1, naming --db-port, before the
// database tries it and fails with only a line in its own log.
func checkDBPort(port int) error {
	if port == 0 {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("--db-port %d: 127.0.0.1:%d is already in use (by `supabase start` or another vibepass dev?): stop that program, or pass --db-port 0 to pick a free port", port, port)
		}
		return fmt.Errorf("--db-port %d: %w", port, err)
	}
	return ln.Close()
}

// dev starts the local database (data kept in --data-dir across runs), prints its URL,
// serves the API on it, and stops all of it on SIGINT or SIGTERM. The lines for people
// are plain text (results on stdout, progress and errors on stderr); the server's JSON
// log goes to a file.
func dev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", stderr)
	addr := fs.String("addr", "127.0.0.1:3000", "address the API listens on")
	dataDir := fs.String("data-dir", filepath.Join(".vibepass", "dev"), "directory of the local database and the model key, kept across runs (git-ignored)")
	dbPort := fs.Int("db-port", 54322, "port of the local database on 127.0.0.1 (the Supabase CLI's); 0 picks a free one")
	pgBin := fs.String("pg-bin", "", "directory of PostgreSQL's initdb and postgres (default: $"+localdb.BinDirEnv+", else found on PATH, by pg_config or in the usual install places)")
	logPath := fs.String("log", "", "file for the JSON log, one line per request (default <data-dir>/"+devLogFile+", made anew each run)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *logPath == "" {
		*logPath = filepath.Join(*dataDir, devLogFile)
	}
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	// Taken before the database starts, so a busy address fails at once.
	ln, err := listenDev(*addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := checkDBPort(*dbPort); err != nil {
		return err
	}
	logger := log.New(stderr, "", log.LstdFlags)
	cluster, err := localdb.Start(ctx, localdb.Options{Dir: *dataDir, Port: *dbPort, Fsync: true, Logf: logger.Printf, BinDir: *pgBin})
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
	fmt.Fprintf(stdout, "db: %s\n", db.PostgresURL)
	modelKeys, err := devModelKeys(cluster.Dir(), stdout)
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--log: %w", err)
	}
	defer logFile.Close()
	fmt.Fprintf(stdout, "log: %s   (JSON, one line per request)\n", *logPath)

	apiDone := make(chan error, 1)
	apiCtx, stopAPI := context.WithCancel(ctx)
	defer func() {
		stopAPI()
		<-apiDone // the API stops before the database it uses
	}()
	go func() { apiDone <- devAPI(apiCtx, db, ln, modelKeys, stdout, logFile) }()
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

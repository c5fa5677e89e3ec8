package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vibepass/vibepass/cmd/vibepass/bench"
	"github.com/vibepass/vibepass/sql/localdb"
)

// benchCommand runs the whole benchmark on a throwaway database (or --db-url) and
// prints the table; the proxy it measures is this executable's `serve`.
func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr)
	cfg := bench.Config{}
	fs.IntVar(&cfg.Users, "users", 100_000, "bench users to load (all checked in for the active-users figure)")
	fs.IntVar(&cfg.PassesPerUser, "passes-per-user", 20, "finished passes to load per user (history the queries must skip)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 8, "concurrent clients for the check-in and status figures")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time per check-in and status figure, for the proxy and again for the baseline")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "active-users rounds per method and client count (the median is reported)")
	dbURL := fs.String("db-url", "", "superuser URL of a database holding the vibepass schema; empty starts a throwaway one")
	fsync := fs.Bool("fsync", true, "durable commits in the throwaway database (as in production)")
	fs.StringVar(&cfg.ProxyProfile, "proxy-cpuprofile", "", "write the proxy process's CPU profile to this file")
	cpuProfile := fs.String("cpuprofile", "", "write this process's CPU profile (the load generator and baselines)")
	sqlOnly := fs.Bool("sql", false, "measure instead, with pgbench, each user function against its bare statement on a table with only its primary key")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.Users < 1 || cfg.PassesPerUser < 0 || cfg.Concurrency < 1 || cfg.Duration <= 0 || cfg.Rounds < 1 {
		return usageError("--users, --concurrency and --rounds must be at least 1, --duration positive, --passes-per-user not negative")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Binary = exe
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	// Ctrl-C stops the run but still stops the proxy and the database and removes their files.
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	logger := log.New(stderr, "bench: ", log.Ltime)
	cfg.Logf = logger.Printf

	superURL, authURL := *dbURL, *dbURL
	pgbench := "pgbench" // found on PATH when the database is not a throwaway one
	if superURL == "" {
		cluster, err := localdb.Start(ctx, localdb.Options{Fsync: *fsync, Logf: cfg.Logf})
		if err != nil {
			return err
		}
		defer func() {
			if err := cluster.Close(); err != nil {
				logger.Print(err)
			}
		}()
		db, err := cluster.NewDatabase(ctx, "", false) // no demo users: only bench users are checked in
		if err != nil {
			return err
		}
		superURL, authURL = db.AdminURL, db.AuthenticatorURL
		pgbench = filepath.Join(cluster.BinDir(), "pgbench")
	}
	run := bench.Run
	if *sqlOnly {
		run = func(ctx context.Context, cfg bench.Config, superURL, authURL string) (*bench.Report, error) {
			return bench.RunSQL(ctx, cfg, superURL, authURL, pgbench)
		}
	}
	report, err := run(ctx, cfg, superURL, authURL)
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	if err != nil {
		return err
	}
	report.Print(stdout)
	if report.Errors() > 0 {
		return fmt.Errorf("%d requests failed (first: %v)", report.Errors(), report.FirstError())
	}
	return nil
}

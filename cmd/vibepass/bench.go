package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/vibepass/vibepass/sql/localdb"
)

func init() {
	register("bench", "measure the proxy against Postgres itself (check-in, status, active users) and print one table", bench)
}

// benchConfig is what one benchmark run measures and at what scale.
type benchConfig struct {
	users         int           // bench users loaded, all checked in for the active-users figure
	passesPerUser int           // finished passes loaded per user
	concurrency   int           // concurrent clients for check-in and status
	duration      time.Duration // measured time per check-in and status figure, per side
	rounds        int           // active-users rounds per side and client count
	proxyProfile  string        // the proxy's CPU profile file, "" for none
	logf          func(format string, args ...any)
}

// bench runs the whole benchmark on a throwaway database (or --db-url) and prints the table.
// With --serve-proxy it is instead the proxy process the benchmark measures.
func bench(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cfg := benchConfig{}
	fs.IntVar(&cfg.users, "users", 100_000, "bench users to load (all checked in for the active-users figure)")
	fs.IntVar(&cfg.passesPerUser, "passes-per-user", 20, "finished passes to load per user (history the queries must skip)")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "concurrent clients for the check-in and status figures")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured time per check-in and status figure, for the proxy and again for the baseline")
	fs.IntVar(&cfg.rounds, "rounds", 5, "active-users rounds per method and client count (the median is reported)")
	dbURL := fs.String("db-url", "", "superuser URL of a database holding the vibepass schema; empty starts a throwaway one")
	fsync := fs.Bool("fsync", true, "durable commits in the throwaway database (as in production)")
	fs.StringVar(&cfg.proxyProfile, "proxy-cpuprofile", "", "write the proxy process's CPU profile to this file")
	serveProxy := fs.String("serve-proxy", "", "internal: serve the proxy from this config file, as the measured process")
	cpuProfile := fs.String("cpuprofile", "", "write this process's CPU profile (the load generator and baselines; the proxy's with --serve-proxy)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *serveProxy != "" {
		return serveBenchProxy(ctx, *serveProxy, stdout)
	}
	if cfg.users < 1 || cfg.passesPerUser < 0 || cfg.concurrency < 1 || cfg.duration <= 0 || cfg.rounds < 1 {
		return errors.New("--users, --concurrency and --rounds must be at least 1, --duration positive, --passes-per-user not negative")
	}
	// Ctrl-C stops the run but still stops the proxy and the database and removes their files.
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	logger := log.New(os.Stderr, "bench: ", log.Ltime)
	cfg.logf = logger.Printf

	superURL, authURL := *dbURL, *dbURL
	if superURL == "" {
		cluster, err := localdb.Start(ctx, localdb.Options{Fsync: *fsync, Logf: cfg.logf})
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
		superURL, authURL = db.SuperuserURL, db.AuthenticatorURL
	}
	report, err := runBench(ctx, cfg, superURL, authURL)
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	if err != nil {
		return err
	}
	report.print(stdout)
	if report.errors() > 0 {
		return fmt.Errorf("%d requests failed (first: %v)", report.errors(), report.firstError())
	}
	return nil
}

// startCPUProfile profiles this process into path until the returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// serveBenchProxy is the measured proxy process: exactly `vibepass serve` (its CPU
// profile, if asked for, is written when SIGTERM ends it).
func serveBenchProxy(ctx context.Context, configPath string, stdout io.Writer) error {
	serve := commands["serve"].run
	if serve == nil {
		return errors.New("this build has no serve command")
	}
	return serve(ctx, []string{"--config", configPath}, stdout)
}

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
	mixOnly := fs.Bool("mix", false, "play present users' traffic instead and search for the most present users this machine sustains (docs/performance.md)")
	mix := bench.DefaultMix
	fs.DurationVar(&mix.Session, "session", mix.Session, "--mix: mean session length (exponential)")
	fs.DurationVar(&mix.StatusEvery, "status-every", mix.StatusEvery, "--mix: the page's status timer")
	fs.DurationVar(&mix.FocusEvery, "focus-every", mix.FocusEvery, "--mix: mean time between visibility/focus events, each a status ask")
	fs.DurationVar(&mix.PassLength, "pass", mix.PassLength, "--mix: the pass length (vibepass.settings.pass_length, set for the run)")
	fs.DurationVar(&mix.RenewMargin, "renew-margin", mix.RenewMargin, "--mix: a present page checks in again when less than this is left")
	fs.Float64Var(&mix.NoCheckout, "no-checkout", mix.NoCheckout, "--mix: fraction of sessions that end without a checkout")
	fs.DurationVar(&mix.SummaryEvery, "summary-every", mix.SummaryEvery, "--mix: how often the model reads the summary")
	fs.DurationVar(&mix.ListEvery, "list-every", mix.ListEvery, "--mix: how often the model reads the whole list (with If-None-Match)")
	fs.Float64Var(&mix.Compress, "compress", mix.Compress, "--mix: run users' clocks this many times faster (shorter pass, faster requests)")
	fs.IntVar(&mix.Start, "start", mix.Start, "--mix: the search's first target of present users")
	fs.Float64Var(&mix.Precision, "precision", mix.Precision, "--mix: bisect until the failing target is within this fraction of the passing one")
	fs.DurationVar(&mix.Warmup, "warmup", mix.Warmup, "--mix: time at each target before it is measured")
	fs.IntVar(&mix.Workers, "workers", mix.Workers, "--mix: most requests in flight from the load generator")
	fs.DurationVar(&mix.Soak, "soak", 0, "--mix: run this long at one target, sampling the proxy and Postgres, and fail if a series keeps growing")
	fs.IntVar(&mix.Present, "present", 0, "--soak: present users; 0 searches first and soaks at --at times the capacity")
	fs.Float64Var(&mix.At, "at", mix.At, "--soak: fraction of the capacity to soak at, without --present")
	fs.DurationVar(&mix.Sample, "sample", mix.Sample, "--soak: sampling interval")
	fs.StringVar(&mix.SoakOut, "soak-out", "", "--soak: directory for soak.csv and soak.svg")
	fs.DurationVar(&mix.FeedHistory, "feed-history", 0, "--soak: vibepass.settings.feed_history for the run (0: a quarter of --soak)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := applyMixFlags(fs, *mixOnly, *sqlOnly, &cfg, mix); err != nil {
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
	if cfg.Mix != nil {
		report, err := bench.RunMix(ctx, cfg, superURL, authURL)
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		if err != nil {
			return err
		}
		report.Print(stdout)
		if failed := report.Failed(); failed != "" {
			return errors.New(failed)
		}
		return nil
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

// mixDefaults are the shared flags' values under --mix, unless given: a population
// large enough for the search, little history (the soak adds its own), and a minute
// measured at each target, so that it holds one read of the whole list.
var mixDefaults = map[string]string{"users": "300000", "passes-per-user": "2", "duration": "60s"}

// applyMixFlags sets cfg.Mix from the --mix flags, with the shared flags' mix defaults
// where they were not given; the mix's flags without --mix are a usage error.
func applyMixFlags(fs *flag.FlagSet, mixOn, sqlOn bool, cfg *bench.Config, mix bench.MixConfig) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !mixOn {
		for _, name := range []string{"session", "status-every", "focus-every", "pass", "renew-margin", "no-checkout", "summary-every", "list-every", "compress", "start",
			"precision", "warmup", "workers", "soak", "present", "at", "sample", "soak-out", "feed-history"} {
			if set[name] {
				return usageError(fmt.Sprintf("--%s is a --mix flag", name))
			}
		}
		return nil
	}
	if sqlOn {
		return usageError("--mix and --sql are two different runs")
	}
	if mix.Present > 0 && !set["users"] {
		set["users"] = true // as many as the soak needs: each is loaded and given a token
		cfg.Users = mix.UsersFor(mix.Present)
	}
	for name, value := range mixDefaults {
		if !set[name] {
			if err := fs.Set(name, value); err != nil {
				return err
			}
		}
	}
	if err := mix.Validate(); err != nil {
		return usageError(err.Error())
	}
	cfg.Mix = &mix
	return nil
}

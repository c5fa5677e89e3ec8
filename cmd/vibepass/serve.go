package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/vibepass/vibepass/cmd/vibepass/config"
	"github.com/vibepass/vibepass/proxy"
)

// serve runs the production server from its configuration (flags, environment,
// config file, defaults) until SIGTERM or SIGINT, then lets in-flight requests finish.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	path := fs.String("config", "config.toml", "configuration file (see the documented config.toml); \"\" for none. "+
		"The default may be missing: the environment (VIBEPASS_<SECTION>_<KEY>, PORT) and the defaults then give everything")
	listen := fs.String("listen", "", "host:port to bind, over VIBEPASS_LISTEN, PORT and the file's listen")
	check := fs.Bool("check-config", false, "validate the configuration, print a summary and exit: 0 when valid, 2 when not; nothing listens")
	cpuProfile := fs.String("cpuprofile", "", "write the process's CPU profile to this file until it exits (vibepass bench uses it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, err := config.Read(config.Sources{Path: *path, Optional: !explicit, Listen: *listen})
	if *check {
		if err != nil {
			return invalidConfig{err}
		}
		file := "no file"
		if cfg.File != "" {
			file = "file " + cfg.File
		}
		_, err := fmt.Fprintf(stdout, "config ok: %s, listen %s, upstream %s\n", file, cfg.Listen, cfg.Upstream.Kind)
		return err
	}
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	logger := cfg.Log.Logger(stderr)
	for _, w := range cfg.Warnings {
		logger.Warn("config: " + w)
	}
	srv, release, err := openServer(cfg, logger)
	if err != nil {
		return err
	}
	defer release()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.Metrics.Listen != "" {
		// A metrics port already taken (two replicas on one host with the default)
		// must not take the API down: the error is logged, and Prometheus shows the
		// target down.
		if stopMetrics, err := serveMetrics(cfg.Metrics.Listen, srv, logger); err != nil {
			logger.Error("serving without metrics", "error", err.Error())
		} else {
			defer stopMetrics()
		}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Run(ctx, ln, nil)
}

// serveMetrics serves srv's GET /metrics on a listener of its own at addr until
// stop: the API's address, which the public may reach, never exposes them.
func serveMetrics(addr string, srv *proxy.Server, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", srv.MetricsHandler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() { _ = hs.Serve(ln) }() // ends with ErrServerClosed at stop
	logger.Info("metrics listening", "addr", ln.Addr().String())
	return func() { _ = hs.Close() }, nil
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

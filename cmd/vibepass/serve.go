package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/vibepass/vibepass/proxy"
)

func init() {
	register("serve", "run the API as config.toml says (production), until SIGTERM", serve)
}

// serve runs the production server from a config file until SIGTERM or SIGINT,
// then lets in-flight requests finish.
func serve(ctx context.Context, args []string, _ io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "config.toml", "configuration file (see the documented config.toml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg, err := proxy.LoadConfig(*path)
	if err != nil {
		return err
	}
	srv, err := proxy.Open(cfg, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Run(ctx, ln, nil)
}

// Command vibepass runs the vibepass session service and its local tooling:
//
//	vibepass serve     the API as config.toml says (production)
//	vibepass dev       a throwaway local Postgres with the schema, demo users and the API on it
//	vibepass token     a user access token for local use
//	vibepass bench     the proxy measured against Postgres itself
//	vibepass version   the module version and VCS revision
//
// This package only wires: configuration lives in cmd/vibepass/config, the HTTP
// server in proxy, the benchmark in cmd/vibepass/bench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
)

// command is one subcommand: run gets the arguments after its name and writes its
// results to stdout (logs go to stderr).
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands in the order usage shows them.
var commands = []command{
	{"serve", "run the API as config.toml says (production), until SIGTERM", serve},
	{"dev", "run a local Postgres with the schema and demo users (and the API on it) until Ctrl-C", dev},
	{"token", "print a user access token for local use (--sub UUID)", token},
	{"bench", "measure the proxy against Postgres itself and print one table", benchCommand},
	{"version", "print the module version and VCS revision", printVersion},
}

// usageError is a mistake in the command line: it exits 2, as Go's flag package
// does. An empty one means the flag package has already reported it.
type usageError string

// Error implements the error interface.
func (e usageError) Error() string { return string(e) }

// invalidConfig is a configuration `serve --check-config` refuses: it exits 2, as a
// usage error does, so that a deploy step can tell "fix the config" from success.
type invalidConfig struct{ error }

func main() {
	os.Exit(runMain(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// runMain dispatches to the subcommand named by args[0] and returns the exit code:
// 0 on success (and for -h), 2 for a command-line error, 1 for any other failure.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// dev's log, the server's slog handler and the database's progress lines write from
	// several goroutines; os.Stderr takes that, a test's buffer does not.
	stdout, stderr = &syncWriter{w: stdout}, &syncWriter{w: stderr}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	case "--version", "-version":
		args = []string{"version"}
	}
	for _, cmd := range commands {
		if cmd.name != args[0] {
			continue
		}
		err := cmd.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp): // the flag package printed the usage
			return 0
		case errors.As(err, new(usageError)):
			if msg := err.Error(); msg != "" {
				fmt.Fprintf(stderr, "vibepass %s: %s\n", cmd.name, msg)
			}
			return 2
		case errors.As(err, new(invalidConfig)):
			fmt.Fprintf(stderr, "vibepass %s: %v\n", cmd.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "vibepass %s: %v\n", cmd.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "vibepass: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// usage lists the commands.
func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: vibepass <command> [flags]   (vibepass <command> -h lists a command's flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w, "\nvibepass --version prints the version.")
}

// newFlagSet returns a flag set for `vibepass <name>` whose usage reads
// "Usage: vibepass <name> [flags]" and whose errors are reported once, by runMain.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vibepass %s [flags]\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs, which takes no positional arguments; a bad flag or
// argument is a usage error (exit 2), -h is flag.ErrHelp (exit 0).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError("") // the flag package has printed the error and the usage
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	return nil
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write implements io.Writer.
func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

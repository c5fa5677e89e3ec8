package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at link time: go build -ldflags "-X main.version=v1.2.3".
var version string

// printVersion prints the version: the -ldflags value, else the module version
// Go recorded (a tag when installed with go install, "(devel)" in a checkout),
// with the VCS revision when the build recorded one.
func printVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if err := parseFlags(newFlagSet("version", stderr), args); err != nil {
		return err
	}
	v, rev := version, ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				rev = " " + s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	_, err := fmt.Fprintf(stdout, "vibepass %s%s %s\n", v, rev, runtime.Version())
	return err
}

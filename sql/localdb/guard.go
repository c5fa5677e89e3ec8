package localdb

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vibepass/vibepass"
)

// guardHelp says how to get what building the safeupdate guard needs, per platform.
const guardHelp = `The local database loads vibepass's safeupdate guard for authenticator, as Supabase loads
pg-safeupdate, and builds it from sql/safeupdate/safeupdate.c with a C compiler and PostgreSQL's
server headers:
  Debian, Ubuntu:        sudo apt-get install gcc postgresql-server-dev-15
  Fedora, RHEL:          sudo dnf install gcc postgresql-server-devel
  Arch:                  sudo pacman -S gcc postgresql
  macOS (Homebrew):      xcode-select --install   (Homebrew's postgresql@15 ships its headers)`

// buildGuard compiles the safeupdate guard into dir/safeupdate.so for the server in binDir,
// unless dir already holds one built from the same source. The server finds it through
// dynamic_library_path, so authenticator's session_preload_libraries names it 'safeupdate',
// as Supabase's does.
func buildGuard(ctx context.Context, binDir, dir string) error {
	src, err := fs.ReadFile(vibepass.Schema, vibepass.GuardFile)
	if err != nil {
		return fmt.Errorf("localdb: %w", err)
	}
	lib := filepath.Join(dir, "safeupdate.so")
	copyPath := filepath.Join(dir, "safeupdate.c")
	if old, err := os.ReadFile(copyPath); err == nil && string(old) == string(src) {
		if _, err := os.Stat(lib); err == nil {
			return nil
		}
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		return fmt.Errorf("localdb: no C compiler (cc) on PATH.\n%s", guardHelp)
	}
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "pg_config"), "--includedir-server").Output()
	if err != nil {
		return fmt.Errorf("localdb: %s --includedir-server: %w.\n%s", filepath.Join(binDir, "pg_config"), err, guardHelp)
	}
	include := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(include, "postgres.h")); err != nil {
		return fmt.Errorf("localdb: PostgreSQL's server headers are not in %s.\n%s", include, guardHelp)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("localdb: %w", err)
	}
	if err := os.WriteFile(copyPath, src, 0o644); err != nil {
		return fmt.Errorf("localdb: %w", err)
	}
	build := exec.CommandContext(ctx, cc, "-shared", "-fPIC", "-O2", "-Wall", "-Werror",
		"-I", include, "-o", lib, copyPath)
	if out, err := build.CombinedOutput(); err != nil {
		_ = os.Remove(copyPath)
		return fmt.Errorf("localdb: building the safeupdate guard: %w\n%s", err, out)
	}
	return nil
}

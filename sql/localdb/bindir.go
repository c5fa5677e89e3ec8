package localdb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// BinDirEnv names the environment variable that points Start at the directory of
// PostgreSQL's server binaries when Options.BinDir is empty.
const BinDirEnv = "VIBEPASS_PG_BIN"

// preferredMajor is the PostgreSQL major version CI runs (with pgTAP and plpgsql_check for
// it), chosen first among the install places when several versions are there.
const preferredMajor = 15

// installPlaces are the directories, as globs, where packagers put the server binaries
// off PATH: Homebrew's postgresql@N is keg-only, Debian and the PGDG packages keep each
// major version apart.
var installPlaces = []string{
	"/usr/lib/postgresql/*/bin",                          // Debian, Ubuntu
	"/usr/pgsql-*/bin",                                   // PGDG RPMs: Fedora, RHEL, Rocky, Alma
	"/usr/lib/postgresql*/bin",                           // openSUSE
	"/usr/libexec/postgresql*",                           // Alpine
	"/opt/homebrew/opt/postgresql@*/bin",                 // Homebrew on Apple silicon
	"/opt/homebrew/opt/postgresql/bin",                   // its unversioned formula
	"/usr/local/opt/postgresql@*/bin",                    // Homebrew on Intel Macs
	"/usr/local/opt/postgresql/bin",                      // its unversioned formula
	"/home/linuxbrew/.linuxbrew/opt/postgresql@*/bin",    // Homebrew on Linux
	"/Applications/Postgres.app/Contents/Versions/*/bin", // Postgres.app
	"/opt/local/lib/postgresql*/bin",                     // MacPorts
	"/usr/local/pgsql/bin",                               // built from source (the default prefix)
}

// installHelp tells a newcomer how to get the server binaries, per platform.
const installHelp = `Install PostgreSQL's server (15 is what CI runs; 14 to 17 work):
  Debian, Ubuntu:        sudo apt-get install postgresql-15
  Fedora, RHEL:          sudo dnf install postgresql-server
  Arch:                  sudo pacman -S postgresql
  Alpine:                sudo apk add postgresql15
  macOS (Homebrew):      brew install postgresql@15   (keg-only: found in $(brew --prefix)/opt/postgresql@15/bin)
  macOS (Postgres.app):  https://postgresapp.com
or, if they are installed elsewhere, name their directory: --pg-bin DIR (vibepass dev) or ` + BinDirEnv + `=DIR.`

// binLookup is what findBinDir consults; tests replace each part with fakes.
type binLookup struct {
	explicit string        // Options.BinDir (dev's --pg-bin)
	env      string        // the value of BinDirEnv
	path     string        // $PATH
	pgConfig func() string // `pg_config --bindir`, "" without pg_config
	root     string        // prefixes every install place; "" on a real machine
}

// systemBinLookup is the lookup on this machine.
func systemBinLookup(explicit string) binLookup {
	return binLookup{
		explicit: explicit,
		env:      os.Getenv(BinDirEnv),
		path:     os.Getenv("PATH"),
		pgConfig: func() string {
			out, err := exec.Command("pg_config", "--bindir").Output()
			if err != nil {
				return ""
			}
			return strings.TrimSpace(string(out))
		},
	}
}

// findBinDir finds the directory holding initdb and postgres: the one given (explicit,
// then the environment variable) without looking further, else the first of PATH,
// pg_config and the install places that has both.
func findBinDir(l binLookup) (string, error) {
	for _, given := range []struct{ dir, name string }{{l.explicit, "--pg-bin"}, {l.env, BinDirEnv}} {
		if given.dir == "" {
			continue
		}
		if hasServer(given.dir) {
			return given.dir, nil
		}
		return "", fmt.Errorf("localdb: %s %s: no initdb and postgres there; name the directory holding PostgreSQL's server binaries (e.g. /usr/lib/postgresql/15/bin or /opt/homebrew/opt/postgresql@15/bin)",
			given.name, given.dir)
	}
	var candidates []string
	for _, dir := range filepath.SplitList(l.path) {
		if dir == "" {
			continue
		}
		// A symlink on PATH (Homebrew's bin, /usr/local/bin) stands for the real directory,
		// which holds pg_ctl too.
		if real, err := filepath.EvalSymlinks(filepath.Join(dir, "initdb")); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
		candidates = append(candidates, dir)
	}
	if dir := l.pgConfig(); dir != "" {
		candidates = append(candidates, dir)
	}
	candidates = append(candidates, l.installed()...)
	for _, dir := range candidates {
		if hasServer(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("localdb: PostgreSQL's server binaries (initdb, postgres) were not found on PATH, by pg_config or in %s.\n%s",
		strings.Join(installPlaces, ", "), installHelp)
}

// versionRE finds the major version in an install place's path.
var versionRE = regexp.MustCompile(`\d+`)

// installed lists the install places present under l.root: preferredMajor first, then
// the newest version first, then those without a version in their path.
func (l binLookup) installed() []string {
	type place struct {
		dir     string
		version int // 0 when the path names none
	}
	var found []place
	for _, pattern := range installPlaces {
		matches, _ := filepath.Glob(l.root + pattern)
		for _, dir := range matches {
			v, _ := strconv.Atoi(versionRE.FindString(strings.TrimPrefix(dir, l.root)))
			found = append(found, place{dir, v})
		}
	}
	rank := func(v int) int {
		if v == preferredMajor {
			return 1 << 30
		}
		return v
	}
	slices.SortStableFunc(found, func(a, b place) int { return rank(b.version) - rank(a.version) })
	dirs := make([]string, len(found))
	for i, p := range found {
		dirs[i] = p.dir
	}
	return dirs
}

// hasServer reports whether dir holds executable initdb and postgres.
func hasServer(dir string) bool {
	return isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres"))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

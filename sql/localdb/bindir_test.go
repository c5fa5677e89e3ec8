package localdb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeServer makes dir (under root) hold executable stand-ins for initdb and postgres,
// or only the named ones, and returns its full path.
func fakeServer(t *testing.T, root, dir string, names ...string) string {
	t.Helper()
	if len(names) == 0 {
		names = []string{"initdb", "postgres"}
	}
	full := filepath.Join(root, dir)
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(full, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return full
}

// fakeLookup looks only under root: no PATH, no pg_config.
func fakeLookup(root string) binLookup {
	return binLookup{root: root, pgConfig: func() string { return "" }}
}

func TestFindBinDirProbesInstallPlaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		dirs []string // made under the fake root, each with initdb and postgres
		want string
	}{
		{"Homebrew keg-only on Apple silicon", []string{"/opt/homebrew/opt/postgresql@17/bin"}, "/opt/homebrew/opt/postgresql@17/bin"},
		{"Homebrew keg-only on Intel", []string{"/usr/local/opt/postgresql@15/bin"}, "/usr/local/opt/postgresql@15/bin"},
		{"Homebrew's unversioned formula", []string{"/opt/homebrew/opt/postgresql/bin"}, "/opt/homebrew/opt/postgresql/bin"},
		{"Debian", []string{"/usr/lib/postgresql/16/bin"}, "/usr/lib/postgresql/16/bin"},
		{"PGDG RPM", []string{"/usr/pgsql-16/bin"}, "/usr/pgsql-16/bin"},
		{"Alpine", []string{"/usr/libexec/postgresql16"}, "/usr/libexec/postgresql16"},
		{"Postgres.app", []string{"/Applications/Postgres.app/Contents/Versions/latest/bin"}, "/Applications/Postgres.app/Contents/Versions/latest/bin"},
		{"15, the version CI runs, before newer ones", []string{"/opt/homebrew/opt/postgresql@17/bin", "/opt/homebrew/opt/postgresql@15/bin"}, "/opt/homebrew/opt/postgresql@15/bin"},
		{"then the newest", []string{"/usr/lib/postgresql/14/bin", "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin"}, "/usr/lib/postgresql/17/bin"},
		{"a numbered version before an unnumbered one", []string{"/opt/homebrew/opt/postgresql/bin", "/usr/local/opt/postgresql@14/bin"}, "/usr/local/opt/postgresql@14/bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, dir := range tc.dirs {
				fakeServer(t, root, dir)
			}
			got, err := findBinDir(fakeLookup(root))
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, tc.want); got != want {
				t.Errorf("found %s, want %s", got, want)
			}
		})
	}
}

func TestFindBinDirSkipsIncompleteDirectories(t *testing.T) {
	root := t.TempDir()
	fakeServer(t, root, "/usr/lib/postgresql/15/bin", "initdb")   // the client package alone has no postgres
	fakeServer(t, root, "/usr/lib/postgresql/17/bin", "postgres") // nor initdb
	notExec := fakeServer(t, root, "/usr/lib/postgresql/16/bin")
	if err := os.Chmod(filepath.Join(notExec, "postgres"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := fakeServer(t, root, "/opt/homebrew/opt/postgresql@14/bin")
	if got, err := findBinDir(fakeLookup(root)); err != nil || got != want {
		t.Errorf("found %q (%v), want %s", got, err, want)
	}
}

func TestFindBinDirOrder(t *testing.T) {
	root := t.TempDir()
	installed := fakeServer(t, root, "/usr/lib/postgresql/15/bin")
	keg := fakeServer(t, root, "/opt/homebrew/opt/postgresql@17/bin")
	viaConfig := fakeServer(t, root, "/config/bin")
	// PATH holds a symlink to initdb, as Homebrew's bin and /usr/local/bin do: the real
	// directory is the one found.
	linkDir := filepath.Join(root, "path")
	if err := os.MkdirAll(linkDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(keg, "initdb"), filepath.Join(linkDir, "initdb")); err != nil {
		t.Fatal(err)
	}
	explicit := fakeServer(t, root, "/explicit")
	env := fakeServer(t, root, "/env")

	l := fakeLookup(root)
	if got, _ := findBinDir(l); got != installed {
		t.Errorf("install places only: found %s, want %s", got, installed)
	}
	l.pgConfig = func() string { return viaConfig }
	if got, _ := findBinDir(l); got != viaConfig {
		t.Errorf("with pg_config: found %s, want pg_config's %s", got, viaConfig)
	}
	l.path = filepath.Join(root, "empty") + string(filepath.ListSeparator) + linkDir
	if got, _ := findBinDir(l); got != keg {
		t.Errorf("with initdb on PATH: found %s, want the directory it links to, %s", got, keg)
	}
	l.env = env
	if got, _ := findBinDir(l); got != env {
		t.Errorf("with %s: found %s, want %s", BinDirEnv, got, env)
	}
	l.explicit = explicit
	if got, _ := findBinDir(l); got != explicit {
		t.Errorf("with --pg-bin: found %s, want %s", got, explicit)
	}
}

func TestFindBinDirGivenWrongDirectorySaysSo(t *testing.T) {
	root := t.TempDir()
	fakeServer(t, root, "/usr/lib/postgresql/15/bin") // would be found by probing
	empty := filepath.Join(root, "empty")
	for _, tc := range []struct {
		name   string
		lookup binLookup
	}{
		{"--pg-bin", binLookup{explicit: empty}},
		{BinDirEnv, binLookup{env: empty}},
	} {
		l := tc.lookup
		l.root, l.pgConfig = root, func() string { return "" }
		got, err := findBinDir(l)
		if err == nil {
			t.Errorf("%s %s: found %s, want an error rather than a guess", tc.name, empty, got)
			continue
		}
		for _, want := range []string{tc.name + " " + empty, "no initdb and postgres there"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q:\n%v", tc.name, want, err)
			}
		}
	}
}

func TestFindBinDirNothingFoundSaysWhatToInstall(t *testing.T) {
	_, err := findBinDir(fakeLookup(t.TempDir()))
	if err == nil {
		t.Fatal("found PostgreSQL in an empty directory tree")
	}
	for _, want := range []string{
		"sudo apt-get install postgresql-15",
		"sudo dnf install postgresql-server",
		"sudo pacman -S postgresql",
		"brew install postgresql@15",
		"--pg-bin DIR",
		BinDirEnv + "=DIR",
		"/opt/homebrew/opt/postgresql@*/bin", // where it looked
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

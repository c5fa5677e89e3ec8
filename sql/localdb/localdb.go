// Package localdb runs a throwaway PostgreSQL set up as Supabase sets up a project's
// database, from the machine's own PostgreSQL binaries, for the tests and `vibepass dev`.
//
// A Cluster is one postgres server listening on 127.0.0.1 (a free port unless told otherwise),
// with its own data directory and Unix socket directory. Its bootstrap superuser is
// supabase_admin; postgres is an ordinary role (Supabase demotes it), and authenticator logs in
// with the safeupdate guard preloaded, built at start from sql/safeupdate. On start it builds
// three template databases from the SQL embedded in package vibepass, each applied with the
// simple protocol, one whole file at a time, by the role Supabase applies it as:
//
//	vibepass_base      sql/supabase_base.sql, as supabase_admin
//	vibepass_schema    + supabase/migrations/*.sql in file name order, as postgres
//	vibepass_template  + supabase/seed.sql, as postgres
//
// NewDatabase clones one of them (CREATE DATABASE ... TEMPLATE), which takes milliseconds, so
// every test can have its own database. Nothing else is recorded in the databases: no
// migration history table (the Supabase CLI writes one when it pushes).
//
// Running as root, initdb and postgres run as the postgres system user, which must own the
// cluster directory and be able to reach it.
package localdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/internal/netns"
)

// The roles the cluster's databases are set up and used by.
const (
	// AdminRole is the bootstrap superuser, Supabase's supabase_admin.
	AdminRole = "supabase_admin"
	// OwnerRole is the project's own role, not a superuser: it owns the databases and applies
	// the migrations and the seed, as `supabase db push` does on a project.
	OwnerRole = "postgres"
	// AuthenticatorRole is the role PostgREST and the direct upstream log in as.
	AuthenticatorRole = "authenticator"
)

// Template database names, from least to most content.
const (
	BaseTemplate   = "vibepass_base"     // sql/supabase_base.sql only
	SchemaTemplate = "vibepass_schema"   // base and migrations
	SeedTemplate   = "vibepass_template" // base, migrations and seed
)

// startTimeout bounds how long a starting server may take, crash recovery included.
const startTimeout = 60 * time.Second

// Options configure Start.
type Options struct {
	// Dir holds the cluster: data/, run/ (socket) and postgres.log. "" makes a temporary
	// directory that Close removes. An existing Dir is reused with its data.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one (5432 with Netns).
	Port int
	// Netns, when set, is a network namespace (`ip netns add`; see internal/netns) to run
	// the server in, as a database host of its own: it listens on every address there
	// and trusts the hosts on its own subnets (pg_hba's samenet), and the cluster and
	// the Database URLs connect through its Unix socket, which no network namespace
	// bounds. A namespace has ports of its own, so Port 0 means 5432 there.
	Netns string
	// Fsync keeps commits durable (fsync, synchronous_commit, full_page_writes on). Tests leave
	// it off: faster, and a crash of the machine may lose the data.
	Fsync bool
	// Logf receives progress lines; nil is silent.
	Logf func(format string, args ...any)
	// BinDir is the directory of initdb and postgres (dev's --pg-bin). "" looks in
	// $VIBEPASS_PG_BIN, then on PATH, with pg_config and in the usual install places.
	BinDir string
}

// Cluster is a running (or stopped) local PostgreSQL server.
type Cluster struct {
	opts    Options
	binDir  string
	root    string // the cluster directory
	temp    bool   // root was made by Start and is removed by Close
	dataDir string
	sockDir string // "" when the path is too long for a Unix socket
	logPath string
	port    int
	cred    *syscall.Credential // the postgres user, when running as root
	hash    string              // of the embedded SQL, to spot stale templates

	mu     sync.Mutex // guards server and exited
	server *exec.Cmd
	exited chan struct{} // closed when server has exited

	createMu sync.Mutex // serializes admin
	seq      int        // for generated database names, guarded by createMu
}

// Database is one database of a Cluster.
type Database struct {
	// Name is the database name.
	Name string
	// Port is the cluster's TCP port (on 127.0.0.1, or in Options.Netns).
	Port int
	// AdminURL connects as supabase_admin, the superuser, for what only Supabase's platform
	// does (its tests use it to set up what a project cannot).
	AdminURL string
	// PostgresURL connects as postgres, the project's own role and not a superuser, as the
	// Supabase CLI, the SQL editor and pg_prove do (psql and the CLI accept it).
	PostgresURL string
	// AuthenticatorURL connects as authenticator, the role PostgREST and the direct upstream log in as.
	AuthenticatorURL string
}

// Start starts a cluster as opts says, making the data directory if needed, and (re)builds
// the template databases when the embedded SQL changed since they were made.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	binDir, err := findBinDir(systemBinLookup(opts.BinDir))
	if err != nil {
		return nil, err
	}
	hash, err := schemaHash()
	if err != nil {
		return nil, err
	}
	if opts.Netns != "" && opts.Port == 0 {
		opts.Port = 5432
	}
	c := &Cluster{opts: opts, binDir: binDir, port: opts.Port, hash: hash}
	if c.cred, err = postgresCredential(); err != nil {
		return nil, err
	}
	if err := c.makeDir(); err != nil {
		return nil, err
	}
	if opts.Netns != "" && c.sockDir == "" {
		return nil, fmt.Errorf("localdb: a cluster in network namespace %s is reached through its Unix socket, and %s is too deep for one: choose a shorter Dir", opts.Netns, c.root)
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	if err := c.initdb(ctx); err != nil {
		return nil, err
	}
	if err := c.startServer(ctx); err != nil {
		return nil, err
	}
	if err := c.buildTemplates(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// BinDir returns the directory of the PostgreSQL binaries the cluster runs (pgbench is there too).
func (c *Cluster) BinDir() string { return c.binDir }

// Port returns the TCP port the cluster listens on (at 127.0.0.1, or in Options.Netns).
func (c *Cluster) Port() int { return c.port }

// Dir returns the cluster directory.
func (c *Cluster) Dir() string { return c.root }

// SocketDir returns the directory of the server's Unix socket (.s.PGSQL.<port>), or "" when
// the cluster directory is too deep for a socket path and the server listens on TCP only.
func (c *Cluster) SocketDir() string { return c.sockDir }

// LogTail returns the end of the server log, for error messages.
func (c *Cluster) LogTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// Exited returns a channel closed when the running server exits for any reason.
func (c *Cluster) Exited() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exited
}

// Database returns the handle of database name on this cluster; it does not check that it exists.
func (c *Cluster) Database(name string) *Database {
	return &Database{
		Name:             name,
		Port:             c.port,
		AdminURL:         c.url(AdminRole, name),
		PostgresURL:      c.url(OwnerRole, name),
		AuthenticatorURL: c.url(AuthenticatorRole, name),
	}
}

// NewDatabase makes a fresh database by cloning the templates: with the seed, or with base
// and migrations only. An empty name picks a new unique one.
func (c *Cluster) NewDatabase(ctx context.Context, name string, seed bool) (*Database, error) {
	template := SchemaTemplate
	if seed {
		template = SeedTemplate
	}
	return c.clone(ctx, name, template)
}

// NewBaseDatabase makes a fresh database holding only sql/supabase_base.sql, as a Supabase
// project is before its migrations are pushed. An empty name picks a new unique one.
// ApplyAsOwner then pushes the migrations as a project does.
func (c *Cluster) NewBaseDatabase(ctx context.Context, name string) (*Database, error) {
	return c.clone(ctx, name, BaseTemplate)
}

// EnsureDatabase returns database name, cloned from the seeded template if it does not
// exist yet. If it was made from other SQL than the embedded one (the migrations changed),
// it is dropped and made again, and its data is lost: Logf says so.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) (*Database, error) {
	err := c.admin(ctx, func(conn *pgx.Conn) error {
		comment, exists, err := databaseComment(ctx, conn, name)
		if err != nil || (exists && comment == c.hash) {
			return err
		}
		if exists {
			c.opts.Logf("localdb: the SQL changed since database %s was made: making it again (its data is dropped)", name)
			if err := dropDatabase(ctx, conn, name); err != nil {
				return err
			}
		}
		return createDatabase(ctx, conn, name, SeedTemplate, c.hash)
	})
	if err != nil {
		return nil, err
	}
	return c.Database(name), nil
}

// DropDatabase drops database name, ending its sessions first.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	return c.admin(ctx, func(conn *pgx.Conn) error { return dropDatabase(ctx, conn, name) })
}

// ApplyAsOwner runs each embedded file (paths within vibepass.Schema) whole in database db as
// the postgres role, as `supabase db push` applies migrations on a project.
func (c *Cluster) ApplyAsOwner(ctx context.Context, db string, files ...string) error {
	return c.apply(ctx, OwnerRole, db, files)
}

// ApplyAsAdmin runs each embedded file whole in database db as supabase_admin, as Supabase's
// platform sets up what a project's own role cannot.
func (c *Cluster) ApplyAsAdmin(ctx context.Context, db string, files ...string) error {
	return c.apply(ctx, AdminRole, db, files)
}

// admin runs fn on a superuser connection to the postgres database, one caller at a time
// (CREATE DATABASE ... TEMPLATE fails while another session uses the template).
func (c *Cluster) admin(ctx context.Context, fn func(conn *pgx.Conn) error) error {
	c.createMu.Lock()
	defer c.createMu.Unlock()
	conn, err := c.connect(ctx, AdminRole, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}

// Stop stops the server like `pg_ctl stop -m fast` (sessions are ended, data is checkpointed)
// and keeps the data: Restart starts it again. Stopping a stopped cluster does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	server, exited := c.server, c.exited
	c.server = nil
	c.mu.Unlock()
	if server == nil {
		return nil
	}
	select {
	case <-exited:
		return nil // it died on its own; nothing to stop
	default:
	}
	if err := server.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("localdb: stopping postgres: %w", err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(startTimeout):
		// Immediate shutdown: the next start runs crash recovery, which is safe.
		_ = server.Process.Signal(syscall.SIGQUIT)
		<-exited
		return errors.New("localdb: postgres did not stop within a minute; sent SIGQUIT")
	}
}

// Crash stops the server with `pg_ctl stop -m immediate`: every backend is killed at
// once, nothing is checkpointed, and clients see their connections drop, as when the
// database host fails. Restart then runs crash recovery from the WAL.
func (c *Cluster) Crash(ctx context.Context) error {
	exited := c.Exited()
	if out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "immediate", "-w").CombinedOutput(); err != nil {
		return fmt.Errorf("localdb: pg_ctl stop -m immediate: %w: %s", err, out)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("localdb: postgres still running after pg_ctl stop -m immediate: %w", ctx.Err())
	}
}

// Restart starts the server again on the same port and data, stopping it first if it runs.
// Tests use it to take the database away and bring it back.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.Stop(); err != nil {
		return err
	}
	return c.startServer(ctx)
}

// Close stops the server and, for a temporary cluster (Options.Dir ""), removes its directory.
func (c *Cluster) Close() error {
	err := c.Stop()
	if c.temp && c.root != "" {
		if rmErr := os.RemoveAll(c.root); rmErr != nil && err == nil {
			err = fmt.Errorf("localdb: removing %s: %w", c.root, rmErr)
		}
	}
	return err
}

// postgresCredential returns the postgres system user when running as root (initdb and
// postgres refuse root), and nil otherwise (they run as the current user).
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("localdb: running as root needs the postgres system user (made by `apt-get install postgresql-15`): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// makeDir makes (or reuses) the cluster directory, owned by the user the server runs as.
func (c *Cluster) makeDir() error {
	if c.opts.Dir == "" {
		removeStaleTempDirs()
		dir, err := os.MkdirTemp("", fmt.Sprintf("vibepass-localdb-%d-", os.Getpid()))
		if err != nil {
			return fmt.Errorf("localdb: %w", err)
		}
		c.root, c.temp = dir, true
	} else {
		dir, err := filepath.Abs(c.opts.Dir)
		if err != nil {
			return fmt.Errorf("localdb: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("localdb: %w", err)
		}
		c.root = dir
	}
	c.dataDir = filepath.Join(c.root, "data")
	c.logPath = filepath.Join(c.root, "postgres.log")
	// A Unix socket path is limited to 107 bytes; deep directories go without a socket (TCP only).
	if sock := filepath.Join(c.root, "run"); len(sock)+len("/.s.PGSQL.65535") < 107 {
		c.sockDir = sock
	}
	if c.cred == nil {
		if c.sockDir != "" {
			return os.MkdirAll(c.sockDir, 0o700)
		}
		return nil
	}
	if err := reachable(c.root, c.cred.Uid); err != nil {
		return err
	}
	for _, dir := range []string{c.root, c.sockDir} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("localdb: %w", err)
		}
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("localdb: %w", err)
		}
	}
	return nil
}

// reachable checks that user uid can search every directory above dir, which the postgres
// user needs to reach its data (a root-owned 0700 parent, like t.TempDir's, stops it).
func reachable(dir string, uid uint32) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("localdb: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok && st.Uid != uid && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("localdb: the postgres user cannot reach %s because %s has mode %v: choose a directory others can search",
				dir, p, fi.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// removeStaleTempDirs removes temporary clusters left by processes that are gone
// (a test binary killed before its cleanup ran; its server stopped with it).
func removeStaleTempDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "vibepass-localdb-*-*"))
	for _, dir := range dirs {
		pid, err := strconv.Atoi(strings.Split(strings.TrimPrefix(filepath.Base(dir), "vibepass-localdb-"), "-")[0])
		if err != nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, fs.ErrNotExist) {
			_ = os.RemoveAll(dir)
		}
	}
}

// command builds a command running as the server's user, with the PostgreSQL binaries' directory.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

// initdb makes the data directory unless it already holds a cluster.
func (c *Cluster) initdb(ctx context.Context) error {
	if version, err := os.ReadFile(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		if err := c.checkVersion(ctx, strings.TrimSpace(string(version))); err != nil {
			return err
		}
		c.opts.Logf("localdb: reusing the data in %s", c.dataDir)
		return nil
	}
	args := []string{"-D", c.dataDir, "-U", AdminRole, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"}
	if !c.opts.Fsync {
		args = append(args, "--no-sync")
	}
	out, err := c.command(ctx, "initdb", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("localdb: initdb: %w\n%s", err, out)
	}
	return nil
}

// serverVersionRE finds the major version in `postgres --version`.
var serverVersionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// checkVersion fails, saying what to do, when the binaries are another major version
// than dataVersion, the one that made the data (a postgres would refuse it with only a
// line in its log).
func (c *Cluster) checkVersion(ctx context.Context, dataVersion string) error {
	out, err := c.command(ctx, "postgres", "--version").Output()
	if err != nil {
		return fmt.Errorf("localdb: %s --version: %w", filepath.Join(c.binDir, "postgres"), err)
	}
	m := serverVersionRE.FindSubmatch(out)
	if m == nil || string(m[1]) == dataVersion {
		return nil
	}
	return fmt.Errorf("localdb: the data in %s was made by PostgreSQL %s, and the binaries in %s are PostgreSQL %s: "+
		"name PostgreSQL %s's binaries with --pg-bin DIR (or %s=DIR), or remove %s to start afresh (its data is lost)",
		c.dataDir, dataVersion, c.binDir, m[1], dataVersion, BinDirEnv, c.root)
}

// startServer starts postgres and waits until it accepts connections. A free port taken
// by someone else in the meantime is replaced by another one.
func (c *Cluster) startServer(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		pickPort := c.opts.Port == 0 && (c.port == 0 || attempt > 0)
		if pickPort {
			port, err := freePort()
			if err != nil {
				return err
			}
			c.port = port
		}
		err := c.startServerOnce(ctx)
		if err == nil || !pickPort || attempt == 2 || !strings.Contains(c.LogTail(), "could not bind") {
			return err
		}
	}
}

func (c *Cluster) startServerOnce(ctx context.Context) error {
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("localdb: %w", err)
	}
	defer logFile.Close() // the server keeps its own copy of the descriptor
	if err := buildGuard(ctx, c.binDir, c.libDir()); err != nil {
		return err
	}
	listen := "127.0.0.1"
	if c.opts.Netns != "" {
		listen = "*"
		if err := c.trustSamenet(); err != nil {
			return err
		}
	}
	settings := map[string]string{
		// The guard is found here, so authenticator's session_preload_libraries names it as Supabase's does.
		"dynamic_library_path":    c.libDir() + ":$libdir",
		"listen_addresses":        listen,
		"port":                    strconv.Itoa(c.port),
		"unix_socket_directories": c.sockDir,
		"max_connections":         "200", // concurrency tests and benchmarks open many sessions
		"timezone":                "UTC", // as on Supabase
	}
	if !c.opts.Fsync {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	args := []string{"-D", c.dataDir}
	for k, v := range settings {
		args = append(args, "-c", k+"="+v)
	}
	// Not CommandContext: the server outlives the ctx of the call that started it.
	cmd := c.command(context.Background(), "postgres", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group keeps a terminal's Ctrl-C away from it (dev stops it in order);
	// Pdeathsig stops it (fast shutdown) when this process dies without cleaning up.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	start := cmd.Start
	if c.opts.Netns != "" {
		start = func() error { return netns.Do(c.opts.Netns, cmd.Start) }
	}
	if err := start(); err != nil {
		return fmt.Errorf("localdb: starting postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	c.mu.Lock()
	c.server, c.exited = cmd, exited
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		conn, err := c.connect(ctx, AdminRole, "postgres")
		if err == nil {
			conn.Close(ctx)
			c.opts.Logf("localdb: postgres is up on %s:%d (data %s)", listen, c.port, c.dataDir)
			return nil
		}
		select {
		case <-exited:
			c.mu.Lock()
			c.server = nil
			c.mu.Unlock()
			return fmt.Errorf("localdb: postgres exited while starting; log %s:\n%s", c.logPath, c.LogTail())
		case <-ctx.Done():
			_ = c.Stop()
			return fmt.Errorf("localdb: postgres did not accept connections: %w; log %s:\n%s", ctx.Err(), c.logPath, c.LogTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localdb: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) url(role, db string) string {
	u := url.URL{
		Scheme:   "postgresql",
		User:     url.User(role),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	if c.opts.Netns != "" {
		// libpq's form for a socket directory, which pgx reads too.
		u.Host, u.RawQuery = "", url.Values{"host": {c.sockDir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}.Encode()
	}
	return u.String()
}

// samenetRule lets every host on the server's own subnets in, as initdb's --auth=trust
// lets in loopback: a namespace's subnets hold only the test's own hosts.
const samenetRule = "host all all samenet trust"

// trustSamenet adds samenetRule to pg_hba.conf unless it is there.
func (c *Cluster) trustSamenet() error {
	path := filepath.Join(c.dataDir, "pg_hba.conf")
	hba, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("localdb: %w", err)
	}
	if strings.Contains(string(hba), samenetRule) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("localdb: %w", err)
	}
	_, err = fmt.Fprintf(f, "\n# localdb: the test hosts of network namespace %s\n%s\n", c.opts.Netns, samenetRule)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("localdb: %w", err)
	}
	return nil
}

func (c *Cluster) connect(ctx context.Context, role, db string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, c.url(role, db))
	if err != nil {
		return nil, fmt.Errorf("localdb: connecting to %s as %s: %w", db, role, err)
	}
	return conn, nil
}

// libDir holds the safeupdate guard the server loads.
func (c *Cluster) libDir() string { return filepath.Join(c.root, "lib") }

// buildTemplates makes the three templates unless they exist and were made from the same SQL.
func (c *Cluster) buildTemplates(ctx context.Context) error {
	return c.admin(ctx, func(conn *pgx.Conn) error { return c.buildTemplatesOn(ctx, conn) })
}

func (c *Cluster) buildTemplatesOn(ctx context.Context, conn *pgx.Conn) error {
	current := true
	for _, name := range []string{BaseTemplate, SchemaTemplate, SeedTemplate} {
		comment, _, err := databaseComment(ctx, conn, name)
		if err != nil {
			return err
		}
		current = current && comment == c.hash
	}
	if current {
		return nil
	}
	start := time.Now()
	steps := []struct {
		name, from, role string
		files            []string
	}{
		{BaseTemplate, "template1", AdminRole, []string{vibepass.BaseFile}},
		{SchemaTemplate, BaseTemplate, OwnerRole, vibepass.MigrationFiles()},
		{SeedTemplate, SchemaTemplate, OwnerRole, []string{vibepass.SeedFile}},
	}
	for _, s := range steps {
		if err := dropDatabase(ctx, conn, s.name); err != nil {
			return err
		}
	}
	for _, s := range steps {
		// The hash comment is set last, so an interrupted build is redone next time.
		if err := createDatabase(ctx, conn, s.name, s.from, ""); err != nil {
			return err
		}
		if err := c.apply(ctx, s.role, s.name, s.files); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf("alter database %s is_template true", quote(s.name))); err != nil {
			return fmt.Errorf("localdb: %w", err)
		}
	}
	for _, s := range steps {
		if err := setComment(ctx, conn, s.name, c.hash); err != nil {
			return err
		}
	}
	c.opts.Logf("localdb: built the template databases in %v", time.Since(start).Round(time.Millisecond))
	return nil
}

// apply runs each file whole in database db, with the simple protocol (several statements
// per file), as role.
func (c *Cluster) apply(ctx context.Context, role, db string, files []string) error {
	conn, err := c.connect(ctx, role, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, f := range files {
		sql, err := fs.ReadFile(vibepass.Schema, f)
		if err != nil {
			return fmt.Errorf("localdb: %w", err)
		}
		if _, err := conn.Exec(ctx, string(sql), pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("localdb: applying %s: %w", f, err)
		}
	}
	return nil
}

func (c *Cluster) clone(ctx context.Context, name, template string) (*Database, error) {
	err := c.admin(ctx, func(conn *pgx.Conn) error {
		if name == "" {
			c.seq++
			name = fmt.Sprintf("db%d", c.seq)
		}
		return createDatabase(ctx, conn, name, template, "")
	})
	if err != nil {
		return nil, err
	}
	return c.Database(name), nil
}

// createDatabase clones template as name, owned by postgres as a Supabase project's database
// is (so postgres owns schema public, through pg_database_owner); a non-empty comment is
// recorded on it. The base template is the exception: the base makes the postgres role, then
// hands the database to it.
func createDatabase(ctx context.Context, conn *pgx.Conn, name, template, comment string) error {
	owner := OwnerRole
	if template == "template1" {
		owner = AdminRole
	}
	// FILE_COPY copies the files instead of WAL-logging every page: much faster for small
	// templates, at the cost of a checkpoint, cheap here.
	sql := fmt.Sprintf("create database %s owner %s template %s strategy file_copy", quote(name), quote(owner), quote(template))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("localdb: creating database %s from %s: %w", name, template, err)
	}
	if comment != "" {
		return setComment(ctx, conn, name, comment)
	}
	return nil
}

func dropDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	// A template cannot be dropped until it is made an ordinary database again.
	if _, err := conn.Exec(ctx, "update pg_database set datistemplate = false where datname = $1", name); err != nil {
		return fmt.Errorf("localdb: %w", err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("drop database if exists %s with (force)", quote(name))); err != nil {
		return fmt.Errorf("localdb: dropping database %s: %w", name, err)
	}
	return nil
}

func setComment(ctx context.Context, conn *pgx.Conn, name, comment string) error {
	// COMMENT takes no parameters: the hash is hex, safe to quote as a literal.
	if _, err := conn.Exec(ctx, fmt.Sprintf("comment on database %s is '%s'", quote(name), comment)); err != nil {
		return fmt.Errorf("localdb: %w", err)
	}
	return nil
}

// databaseComment returns the comment on database name and whether it exists.
func databaseComment(ctx context.Context, conn *pgx.Conn, name string) (comment string, exists bool, err error) {
	err = conn.QueryRow(ctx,
		"select coalesce(shobj_description(oid, 'pg_database'), '') from pg_database where datname = $1", name).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("localdb: %w", err)
	}
	return comment, true, nil
}

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// schemaHash identifies the embedded SQL, so templates made from other SQL are rebuilt.
func schemaHash() (string, error) {
	h := sha256.New()
	files := append([]string{vibepass.BaseFile, vibepass.GuardFile}, vibepass.MigrationFiles()...)
	for _, f := range append(files, vibepass.SeedFile) {
		b, err := fs.ReadFile(vibepass.Schema, f)
		if err != nil {
			return "", fmt.Errorf("localdb: %w", err)
		}
		// Name and length first, so moving text between files changes the hash.
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

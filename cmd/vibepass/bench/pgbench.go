package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	benchsql "github.com/vibepass/vibepass/sql/bench"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// pgbenchSlice is about how long one pgbench run lasts before the other side takes over:
// long enough that opening its connections is a small part of its CPU time.
const pgbenchSlice = 2 * time.Second

// pgbenchUserID is the id of pgbench's user :u, as sql/bench/load.sql derives it.
const pgbenchUserID = "md5('vibepass-bench-' || :u)::uuid"

// pgbenchSessionID is the id of user :u's row in auth.sessions, as sql/bench/load.sql derives it.
const pgbenchSessionID = "md5('vibepass-bench-session-' || :u)::uuid"

// pgbenchFigure is one user function against its bare statement, each pgbench script
// being one or more transactions pipelined as the direct upstream sends them.
type pgbenchFigure struct {
	name, bareName string
	function, bare []string
	// bareSignedOut sends the bare side's claims without session_id, so the function runs
	// there without its auth.sessions lookup (a third-party provider's token).
	bareSignedOut    bool
	fnRes, bareRes   pgbenchResult
	fnFile, bareFile string
}

// pgbenchResult is what the pgbench runs of one side measured.
type pgbenchResult struct {
	scripts, failed  int
	elapsed          time.Duration
	postgres, client time.Duration // CPU: the postmaster's tree, pgbench itself
}

// rate returns scripts per second.
func (p pgbenchResult) rate() float64 {
	if p.elapsed <= 0 {
		return 0
	}
	return float64(p.scripts) / p.elapsed.Seconds()
}

// cpuPerScript formats the CPU per script as "Postgres/pgbench" microseconds.
func (p pgbenchResult) cpuPerScript() string {
	if p.scripts == 0 {
		return "0/0"
	}
	n := time.Duration(p.scripts)
	return fmt.Sprintf("%d/%d", (p.postgres / n).Microseconds(), (p.client / n).Microseconds())
}

// slower returns how many times slower the functions are than their bare statements.
func (f pgbenchFigure) slower() float64 {
	if f.fnRes.rate() == 0 {
		return 0
	}
	return f.bareRes.rate() / f.fnRes.rate()
}

// pgbenchFigures are the statements measured, in order. Every user has a live pass and
// a row in the scratch table throughout, so a check-in renews and the cycle ends a pass
// and makes a new one.
func pgbenchFigures() []pgbenchFigure {
	return []pgbenchFigure{
		{name: "check-in renewal", bareName: "bare upsert",
			function: []string{sqlapi.CheckinSQL}, bare: []string{benchsql.LimitCheckinSQL}},
		{name: "session status", bareName: "bare select",
			function: []string{sqlapi.SessionStatusSQL}, bare: []string{benchsql.LimitStatusSQL}},
		{name: "check-out, then a new check-in", bareName: "bare delete, insert",
			function: []string{sqlapi.CheckoutSQL, sqlapi.CheckinSQL}, bare: []string{benchsql.LimitCheckoutSQL, benchsql.LimitCheckinSQL}},
		{name: "status with the session check", bareName: "status, no session_id",
			function: []string{sqlapi.SessionStatusSQL}, bare: []string{sqlapi.SessionStatusSQL}, bareSignedOut: true},
	}
}

// pgbenchScript is a pgbench script for a random user among :users: each statement in
// a transaction of its own, pipelined as the direct upstream's pgx batch is (role and
// claims, then the statement, one Sync), its $1 the user's id. The claims name the user's
// Supabase Auth session unless withoutSession.
func pgbenchScript(statements []string, withoutSession bool) string {
	claims := ":claims_head || " + pgbenchSessionID + "::text || :claims_mid || " + pgbenchUserID + "::text || :claims_tail"
	if withoutSession {
		claims = ":claims_plain_head || " + pgbenchUserID + "::text || :claims_tail"
	}
	asUser := strings.NewReplacer("$1", "'"+vibepass.RoleAuthenticated+"'", "$2", claims).Replace(sqlapi.SetRoleSQL)
	var b strings.Builder
	b.WriteString("\\set u random(1, :users)\n")
	for _, s := range statements {
		fmt.Fprintf(&b, "\\startpipeline\n%s;\n%s;\n\\endpipeline\n", asUser, strings.ReplaceAll(s, "$1", pgbenchUserID))
	}
	return b.String()
}

// pgbenchClaims returns the pgbench variables that spell a bench user's token claims: split
// around its session_id and its sub (in that order, as json.Marshal sorts the keys), and
// the head of the same claims without session_id, so that pgbench sends claims of the real
// size and shape for any user.
func pgbenchClaims() ([]string, error) {
	const user, session = "00000000-0000-4000-8000-00000000cafe", "00000000-0000-4000-8000-00000000beef"
	spell := func(session string) (string, error) {
		claims, err := devtoken.Claims(devtoken.Request{Sub: user, SessionID: session, Email: "bench-0000001@bench.vibepass.invalid", TTL: 6 * time.Hour}, time.Now())
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(claims)
		return string(b), err
	}
	signedIn, err := spell(session)
	if err != nil {
		return nil, err
	}
	plain, err := spell("")
	if err != nil {
		return nil, err
	}
	head, rest, ok1 := strings.Cut(signedIn, session)
	mid, tail, ok2 := strings.Cut(rest, user)
	plainHead, plainTail, ok3 := strings.Cut(plain, user)
	if !ok1 || !ok2 || !ok3 || plainTail != tail {
		return nil, fmt.Errorf("bench: the claims %s do not hold session_id before sub", signedIn)
	}
	return []string{"-D", "claims_head=" + head, "-D", "claims_mid=" + mid, "-D", "claims_tail=" + tail,
		"-D", "claims_plain_head=" + plainHead}, nil
}

// RunSQL measures each user function against its bare statement with pgbench (the
// executable given), on the database at superURL, connecting as authURL's role.
func RunSQL(ctx context.Context, cfg Config, superURL, authURL, pgbench string) (*Report, error) {
	report, err := newReport(ctx, cfg, superURL)
	if err != nil {
		return nil, err
	}
	if err := execAll(ctx, superURL, benchsql.CheckInAll, benchsql.Limit, benchsql.FillLimit); err != nil {
		return nil, err
	}
	defer execAll(context.Background(), superURL, benchsql.DropLimit)
	pool, err := openBenchPool(ctx, authURL, 1)
	if err != nil {
		return nil, err
	}
	postmaster := findPostmaster(ctx, pool)
	pool.Close()
	claims, err := pgbenchClaims()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vibepass-pgbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(cfg.Concurrency), "-j", strconv.Itoa(min(cfg.Concurrency, runtime.NumCPU())),
		"-D", "users=" + strconv.Itoa(cfg.Users)}
	args = append(args, claims...)
	// pgbench -T takes whole seconds: each side gets about --duration, in runs of pgbenchSlice.
	groups := max(1, int(cfg.Duration/(2*pgbenchSlice)))
	secs := max(1, int(cfg.Duration.Seconds())/(2*groups))
	for _, f := range pgbenchFigures() {
		f.fnFile, f.bareFile = filepath.Join(dir, "function.sql"), filepath.Join(dir, "bare.sql")
		if err := os.WriteFile(f.fnFile, []byte(pgbenchScript(f.function, false)), 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(f.bareFile, []byte(pgbenchScript(f.bare, f.bareSignedOut)), 0o644); err != nil {
			return nil, err
		}
		if err := settleAll(ctx, superURL); err != nil {
			return nil, err
		}
		for range groups {
			for _, side := range []struct {
				res  *pgbenchResult
				file string
			}{{&f.bareRes, f.bareFile}, {&f.fnRes, f.fnFile}, {&f.fnRes, f.fnFile}, {&f.bareRes, f.bareFile}} {
				if err := runPgbench(ctx, pgbench, args, secs, side.file, authURL, postmaster, side.res); err != nil {
					return nil, fmt.Errorf("%s: %w", f.name, err)
				}
			}
		}
		cfg.Logf("%s: %.0f/s, bare %.0f/s (%.2fx slower), CPU µs per script %s, bare %s", f.name, f.fnRes.rate(), f.bareRes.rate(),
			f.slower(), f.fnRes.cpuPerScript(), f.bareRes.cpuPerScript())
		report.pgbench = append(report.pgbench, f)
	}
	return report, ctx.Err()
}

// settleAll settles the tables the figures write.
func settleAll(ctx context.Context, superURL string) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return settle(ctx, conn, "public.sessions, vibepass.presence_log, vibepass_limit.passes")
}

var (
	processedRE = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
	failedRE    = regexp.MustCompile(`number of failed transactions: (\d+)`)
)

// runPgbench runs script with pgbench for secs seconds and adds what it did, and the CPU
// pgbench and the postmaster's tree used, to res. A run that aborts is an error.
func runPgbench(ctx context.Context, pgbench string, args []string, secs int, script, url string, postmaster int, res *pgbenchResult) error {
	cmd := exec.CommandContext(ctx, pgbench, append(slices.Clip(args), "-T", strconv.Itoa(secs), "-f", script, url)...)
	before := time.Duration(0)
	if postmaster != 0 {
		before = treeCPU(postmaster)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgbench: %w\n%s", err, truncate(out, 2000))
	}
	if postmaster != 0 {
		res.postgres += treeCPU(postmaster) - before
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.client += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	m := processedRE.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("pgbench printed no transaction count:\n%s", truncate(out, 2000))
	}
	n, _ := strconv.Atoi(string(m[1]))
	res.scripts += n
	if m := failedRE.FindSubmatch(out); m != nil {
		failed, _ := strconv.Atoi(string(m[1]))
		res.failed += failed
	}
	res.elapsed += time.Duration(secs) * time.Second
	return nil
}

// printPgbench writes the functions against their bare statements.
func (r *Report) printPgbench(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "vibepass bench --sql: %d users, %d passes, %d pgbench clients, %s per side per figure\n",
		c.Users, c.Users*c.PassesPerUser, c.Concurrency, r.pgbench[0].fnRes.elapsed)
	r.printMachine(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure (pgbench scripts/s)\tfunctions\tbare statements\tslower\ttarget\tmet?")
	for _, f := range r.pgbench {
		name := f.name
		if n := len(f.function); n > 1 { // each statement a transaction of its own
			name += fmt.Sprintf(" (%d transactions)", n)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f %s\t%.2fx\t<= %.1fx\t%s\n", name, f.fnRes.rate(), f.bareRes.rate(), f.bareName, f.slower(), limitTarget, met(f.slower() <= limitTarget))
		fmt.Fprintf(tw, "  CPU per script (µs: Postgres/pgbench)\t%s\t%s\t\t\t\n", f.fnRes.cpuPerScript(), f.bareRes.cpuPerScript())
	}
	fmt.Fprintf(tw, "errors, all runs\t%d\t\t\t0\t%s\n", r.Errors(), met(r.Errors() == 0))
	tw.Flush()
	fmt.Fprintln(w, "\npgbench -n -M prepared: each transaction pipelined as the direct upstream's pgx batch (role and claims, the statement, one Sync),")
	fmt.Fprintln(w, "  for a random bench user with a live pass and a row in the bare statements' table (sql/bench/limit.sql).")
	fmt.Fprintln(w, "CPU: user+system time of the postmaster with all its children (/proc) and of pgbench (rusage), divided by the scripts run.")
}

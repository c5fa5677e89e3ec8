package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/valyala/fasthttp"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/auth"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	benchsql "github.com/vibepass/vibepass/sql/bench"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// benchUser is one loaded user with the token its virtual client sends.
type benchUser struct {
	id      string // auth.users.id, as the feed's events name the user
	email   string
	session string // the id of the user's row in auth.sessions, their tokens' session_id
	token   string // the token of the kind the current figure measures
	claims  string // its tokens' claims, what the direct baselines give Postgres as request.jwt.claims
}

// benchRun holds what the figures share: the users, the database pool for the
// baselines, the proxy and an HTTP client for it.
type benchRun struct {
	cfg        Config
	users      []benchUser
	next       atomic.Uint64 // the next user to act; shared so every figure moves on through the users
	pool       *pgxpool.Pool // authenticator, like the proxy's: the direct baselines
	postmaster int           // the local Postgres server's pid, for its CPU time; 0 if not local
	proxy      *benchProxy
	signer     *benchSigner
	client     *http.Client         // the model's reads
	userClient *fasthttp.HostClient // the user endpoints
	modelKey   string
}

// Run loads the population into the database at superURL, starts the proxy on
// authURL and measures every figure.
func Run(ctx context.Context, cfg Config, superURL, authURL string) (*Report, error) {
	report, err := newReport(ctx, cfg, superURL)
	if err != nil {
		return nil, err
	}
	conns := max(cfg.Concurrency, activeUsersClients[len(activeUsersClients)-1])
	r, err := startRun(ctx, cfg, authURL, superURL, conns, slices.Max(activeUsersClients))
	if err != nil {
		return nil, err
	}
	defer r.close()

	if err := r.userFigures(ctx, report, superURL); err != nil {
		return nil, err
	}
	if report.limits, err = r.limits(ctx, superURL); err != nil {
		return nil, err
	}
	for _, clients := range activeUsersClients {
		report.active = append(report.active, r.activeUsers(ctx, clients))
	}
	report.feed = r.feed(ctx)
	// Interrupted figures end early with errors; report the interruption instead.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return report, nil
}

// startRun reads the loaded bench users and starts what every figure is measured with:
// the token signer, a pool of conns authenticator connections for the baselines, the
// proxy (conns user connections, modelStreams model streams) and the HTTP clients.
// close stops them.
func startRun(ctx context.Context, cfg Config, authURL, superURL string, conns, modelStreams int) (r *benchRun, err error) {
	r = &benchRun{cfg: cfg}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.signer, err = newBenchSigner(); err != nil {
		return nil, err
	}
	if r.users, err = loadBenchUsers(ctx, superURL); err != nil {
		return nil, err
	}
	if len(r.users) != cfg.Users {
		return nil, fmt.Errorf("loaded %d bench users, found %d", cfg.Users, len(r.users))
	}
	if r.pool, err = openBenchPool(ctx, authURL, conns); err != nil {
		return nil, err
	}
	r.postmaster = findPostmaster(ctx, r.pool)
	r.modelKey = auth.NewAPIKey()
	if r.proxy, err = startBenchProxy(ctx, cfg.Binary, authURL, conns, modelStreams, r.signer, r.modelKey, cfg.ProxyProfile); err != nil {
		return nil, err
	}
	r.client = &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true, ReadBufferSize: 64 << 10},
	}
	r.userClient = &fasthttp.HostClient{Addr: strings.TrimPrefix(r.proxy.url, "http://"), MaxConns: conns}
	return r, nil
}

// close stops what startRun started.
func (r *benchRun) close() {
	if r.userClient != nil {
		r.userClient.CloseIdleConnections()
	}
	if r.client != nil {
		r.client.CloseIdleConnections()
	}
	if r.proxy != nil {
		if err := r.proxy.stop(); err != nil {
			r.cfg.Logf("stopping the proxy: %v", err)
		}
	}
	if r.pool != nil {
		r.pool.Close()
	}
	if r.signer != nil {
		r.signer.close()
	}
}

// userFigures measures check-in and session status through the proxy against the
// direct baseline, with tokens of both kinds, each request for the next user with a
// token the proxy has not seen; then session status with each client polling with one
// token, as an app does, whose verification the proxy's token cache saves.
func (r *benchRun) userFigures(ctx context.Context, report *Report, superURL string) error {
	checkin := r.viaProxy(http.MethodPost, "/api/checkin", `"success":true`)
	status := r.viaProxy(http.MethodGet, "/api/session", `"active":true`)
	polling := r.pollingProxy(http.MethodGet, "/api/session", `"active":true`)
	for _, kind := range []tokenKind{hs256, es256} {
		if err := r.signer.mint(r.users, kind); err != nil {
			return err
		}
		report.user = append(report.user, userFigure{r.paired(ctx, "check-in, "+string(kind), checkin, r.direct(sqlapi.CheckinSQL)), checkinTarget})
	}
	if err := checkInAll(ctx, superURL); err != nil {
		return fmt.Errorf("checking in every bench user: %w", err)
	}
	for _, kind := range []tokenKind{hs256, es256} {
		if err := r.signer.mint(r.users, kind); err != nil {
			return err
		}
		report.user = append(report.user,
			userFigure{r.paired(ctx, "session status, "+string(kind), status, r.direct(sqlapi.SessionStatusSQL)), statusTarget},
			userFigure{r.paired(ctx, "session status, "+string(kind)+", polling", polling, r.direct(sqlapi.SessionStatusSQL)), statusTarget})
	}
	return nil
}

// newReport describes the machine and loads the bench population into it.
func newReport(ctx context.Context, cfg Config, superURL string) (*Report, error) {
	report := &Report{cfg: cfg}
	if err := describeMachine(ctx, superURL, report); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := loadBenchData(ctx, superURL, cfg.Users, cfg.PassesPerUser); err != nil {
		return nil, err
	}
	report.loadTime = time.Since(start)
	cfg.Logf("loaded %d users and %d passes in %s", cfg.Users, cfg.Users*cfg.PassesPerUser, report.loadTime.Round(time.Second/10))
	return report, nil
}

// describeMachine records what the table's reader needs to judge the numbers.
func describeMachine(ctx context.Context, superURL string, report *Report) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, "select current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')").
		Scan(&report.pgVersion, &report.fsync, &report.syncCommit)
	if err != nil {
		return err
	}
	report.memory = memTotal()
	return nil
}

// memTotal returns the machine's memory as /proc/meminfo states it, or "?".
func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			if kb, err := strconv.Atoi(f[1]); err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "?"
}

// loadBenchData runs sql/bench/load.sql for users users with passes finished passes each.
func loadBenchData(ctx context.Context, superURL string, users, passes int) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "select set_config('vibepass_bench.users', $1, false), set_config('vibepass_bench.passes_per_user', $2, false)",
		strconv.Itoa(users), strconv.Itoa(passes)); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, benchsql.Load); err != nil {
		return fmt.Errorf("loading bench data (sql/bench/load.sql): %w", err)
	}
	return settle(ctx, conn, "auth.users, public.profiles, public.sessions")
}

// settle does what autovacuum and the checkpointer would soon do after a bulk write
// to tables (statistics, the visibility map, writing the dirty pages out), so that
// they do not do it in the middle of a figure.
func settle(ctx context.Context, conn *pgx.Conn, tables string) error {
	_, err := conn.Exec(ctx, "vacuum (analyze) "+tables)
	if err == nil {
		_, err = conn.Exec(ctx, "checkpoint")
	}
	return err
}

// checkInAll runs sql/bench/checkin_all.sql as the superuser and settles what it wrote: the
// passes, and the feed's log, which its trigger gave a join per new pass.
func checkInAll(ctx context.Context, superURL string) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, benchsql.CheckInAll); err != nil {
		return err
	}
	return settle(ctx, conn, "public.sessions, vibepass.presence_log")
}

// loadBenchUsers reads the bench users, each with the claims its tokens carry, which
// the direct baselines send; the tokens themselves are minted before each figure.
func loadBenchUsers(ctx context.Context, superURL string) ([]benchUser, error) {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `select u.id::text, u.email, a.id::text from auth.users u join auth.sessions a on a.user_id = u.id
		where u.email like '%@bench.vibepass.invalid' order by u.email`)
	if err != nil {
		return nil, err
	}
	type account struct{ id, email, session string }
	accounts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (account, error) {
		var a account
		return a, row.Scan(&a.id, &a.email, &a.session)
	})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	users := make([]benchUser, len(accounts))
	for i, a := range accounts {
		claims, err := devtoken.Claims(devtoken.Request{Sub: a.id, Email: a.email, SessionID: a.session, TTL: 6 * time.Hour}, now)
		if err != nil {
			return nil, err
		}
		payload, err := json.Marshal(claims)
		if err != nil {
			return nil, err
		}
		users[i] = benchUser{id: a.id, email: a.email, session: a.session, claims: string(payload)}
	}
	return users, nil
}

// openBenchPool opens the baselines' pool: the authenticator role, conns connections.
func openBenchPool(ctx context.Context, authURL string, conns int) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(authURL)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = int32(conns)
	return pgxpool.NewWithConfig(ctx, pcfg)
}

// nextUser returns the next user in the shared order, so consecutive requests, and
// consecutive figures, act for different users.
func (r *benchRun) nextUser() benchUser {
	return r.users[(r.next.Add(1)-1)%uint64(len(r.users))]
}

// direct returns the baseline of a user endpoint: the same transaction the direct
// upstream sends (role, claims, the function), straight from this process through pgx.
// A SQL NULL counts as an error: every call here should find or make a pass.
func (r *benchRun) direct(query string) func(context.Context) error {
	return func(ctx context.Context) error {
		raw, err := sqlapi.CallJSON(ctx, r.pool, vibepass.RoleAuthenticated, r.nextUser().claims, query)
		if err != nil {
			return err
		}
		if raw == nil {
			return fmt.Errorf("%s returned NULL", query)
		}
		return nil
	}
}

// viaProxy returns one request to a user endpoint through the proxy, as the next
// user; a status other than 200 or a body without want counts as an error. It goes
// through fasthttp's client, which costs this process less CPU per request than
// net/http's (no reader and writer goroutines per connection): on a machine the client
// shares with the proxy and Postgres, that CPU counts against the proxy.
func (r *benchRun) viaProxy(method, path, want string) func(context.Context) error {
	return func(context.Context) error { return r.callAs(r.nextUser(), method, path, want) }
}

// pollingProxy is viaProxy with each of the concurrency clients' requests made as one
// of the first concurrency users, with the same token every time.
func (r *benchRun) pollingProxy(method, path, want string) func(context.Context) error {
	var n atomic.Uint64
	return func(context.Context) error {
		return r.callAs(r.users[(n.Add(1)-1)%uint64(min(r.cfg.Concurrency, len(r.users)))], method, path, want)
	}
}

// callAs makes one request to a user endpoint through the proxy as u; a status other
// than 200 or a body without want counts as an error.
func (r *benchRun) callAs(u benchUser, method, path, want string) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(r.proxy.url + path)
	req.Header.SetMethod(method)
	req.Header.Set("Authorization", "Bearer "+u.token)
	if err := r.userClient.DoTimeout(req, resp, time.Minute); err != nil {
		return err
	}
	if body := resp.Body(); resp.StatusCode() != http.StatusOK || !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode(), truncate(body, 200))
	}
	return nil
}

// truncate shortens a response body for an error message.
func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// jsonAggSQL has Postgres build the whole list as one JSON value, as PostgREST does.
const jsonAggSQL = "select json_agg(t) from public.active_users() t"

// errNoRows reports an active-users read that came back short.
var errNoRows = errors.New("active users: fewer rows than bench users")

// activeUsersClients are the model client counts the active-users figure runs at; the
// RSS target is for the last.
var activeUsersClients = []int{1, 4}

// activeFigure is the active-users list read by clients model clients at once, three ways.
type activeFigure struct {
	clients  int
	proxy    []time.Duration // full body through the proxy
	fetch    []time.Duration // the rows through pgx, decoded but not encoded
	jsonAgg  []time.Duration // Postgres building the JSON (PostgREST's way), read whole
	cpu      [3]cpuTimes     // used by the proxy, fetch and json_agg reads, in total
	bodySize int64           // bytes of one proxy response
	peakRSS  uint64          // the proxy process's peak resident set during this figure, bytes
	tally
}

// cpuPerRead returns the CPU one read of method i (0 proxy, 1 fetch, 2 json_agg) used.
func (f activeFigure) cpuPerRead(i int) cpuTimes {
	return f.cpu[i].perOp(len(f.proxy))
}

// median returns the middle duration.
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// activeUsers reads the whole list with clients concurrent readers, rounds times per
// method, the methods taking turns so that drift weighs on all three. The proxy's
// peak RSS is reset first, so it covers this figure only.
func (r *benchRun) activeUsers(ctx context.Context, clients int) activeFigure {
	f := activeFigure{clients: clients}
	var bodySize atomic.Int64
	if err := r.proxy.resetPeakRSS(); err != nil {
		f.addErrors(1, err)
	}
	methods := []struct {
		took *[]time.Duration
		op   func(context.Context) error
	}{
		{&f.proxy, func(ctx context.Context) error { return r.activeUsersViaProxy(ctx, &bodySize) }},
		{&f.fetch, r.fetchActiveUsers},
		{&f.jsonAgg, r.jsonAggActiveUsers},
	}
	for range r.cfg.Rounds {
		for i, m := range methods {
			var took []time.Duration
			var errs []error
			cpu := r.measureCPU(func() { took, errs = concurrently(ctx, clients, m.op) })
			f.cpu[i] = f.cpu[i].add(cpu)
			*m.took = append(*m.took, took...)
			for _, err := range errs {
				if err != nil {
					f.addErrors(1, err)
				}
			}
		}
	}
	peak, err := r.proxy.peakRSS()
	if err != nil && f.firstErr == nil {
		f.addErrors(1, err)
	}
	f.peakRSS, f.bodySize = peak, bodySize.Load()
	r.cfg.Logf("active users, %d clients: proxy %s ms, row fetch %s ms, json_agg %s ms (medians), CPU ms per read %s, %s, %s, proxy peak RSS %.0f MB, %d errors",
		clients, ms(median(f.proxy)), ms(median(f.fetch)), ms(median(f.jsonAgg)), f.cpuPerRead(0).millis(), f.cpuPerRead(1).millis(), f.cpuPerRead(2).millis(),
		float64(f.peakRSS)/(1<<20), f.errs)
	return f
}

// countRe finds the count at the end of a streamed active-users body, before its cursor.
var countRe = regexp.MustCompile(`"count":(\d+),"cursor":"\d+"\}\s*$`)

// activeUsersViaProxy reads the whole model response, uncompressed, and checks that it
// lists every bench user; size receives its length.
func (r *benchRun) activeUsersViaProxy(ctx context.Context, size *atomic.Int64) error {
	resp, err := r.modelGet(ctx, "/api/model/active-users", "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tail := &tailWriter{}
	n, err := io.Copy(tail, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("active users: %d %s", resp.StatusCode, tail.buf)
	}
	m := countRe.FindSubmatch(tail.buf)
	if m == nil {
		return fmt.Errorf("active users: body ends without a count: %q", tail.buf)
	}
	if count, _ := strconv.Atoi(string(m[1])); count < len(r.users) {
		return fmt.Errorf("active users: count %d, want at least %d", count, len(r.users))
	}
	size.Store(n)
	return nil
}

// tailWriter discards what it is given but its last bytes.
type tailWriter struct{ buf []byte }

// Write keeps the last 64 bytes seen.
func (t *tailWriter) Write(p []byte) (int, error) {
	const keep = 64
	t.buf = append(t.buf, p[max(0, len(p)-keep):]...)
	t.buf = t.buf[max(0, len(t.buf)-keep):]
	return len(p), nil
}

// fetchActiveUsers is the bare row fetch: the direct upstream's read as service_role,
// every row decoded into Go values, nothing encoded.
func (r *benchRun) fetchActiveUsers(ctx context.Context) error {
	n := 0
	_, err := sqlapi.ReadActiveUsers(ctx, r.pool, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, func(vibepass.ActiveUser) error {
		n++
		return nil
	})
	if err == nil && n < len(r.users) {
		return fmt.Errorf("%w: %d", errNoRows, n)
	}
	return err
}

// jsonAggActiveUsers has Postgres build the list as one JSON array and reads it whole.
func (r *benchRun) jsonAggActiveUsers(ctx context.Context) error {
	body, err := sqlapi.CallJSON(ctx, r.pool, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, jsonAggSQL)
	if err == nil && !bytes.HasPrefix(body, []byte("[")) {
		return fmt.Errorf("%w: json_agg gave %q", errNoRows, truncate(body, 40))
	}
	return err
}

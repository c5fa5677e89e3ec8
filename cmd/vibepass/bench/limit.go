package bench

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass"
	benchsql "github.com/vibepass/vibepass/sql/bench"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// limitTarget is the slowest a function may be against its bare statement (issue 14).
const limitTarget = 1.3

// limitFigure is a user endpoint's direct baseline against its bare statement on a
// table with only its primary key (sql/bench/limit.sql), sent in the same batch (role,
// claims, statement) by the same clients for the same users: the database's own limit.
type limitFigure struct {
	name, bareName string
	direct, bare   loadResult
}

// slower returns how many times slower the function is than its bare statement.
func (f limitFigure) slower() float64 {
	if f.direct.rate() == 0 {
		return 0
	}
	return f.bare.rate() / f.direct.rate()
}

// limits measures check-in and session status against their bare statements. Every
// bench user has a live pass by then and a row in the scratch table, so both sides of
// the check-in renew; the scratch table is dropped at the end.
func (r *benchRun) limits(ctx context.Context, superURL string) ([]limitFigure, error) {
	if err := execAll(ctx, superURL, benchsql.Limit, benchsql.FillLimit, "vacuum (analyze) vibepass_limit.passes"); err != nil {
		return nil, fmt.Errorf("making the bare statements' table (sql/bench/limit.sql): %w", err)
	}
	figures := []limitFigure{
		r.limit(ctx, "check-in renewal", "bare upsert", r.direct(sqlapi.CheckinSQL), r.bare(benchsql.LimitCheckinSQL)),
		r.limit(ctx, "session status", "bare select", r.direct(sqlapi.SessionStatusSQL), r.bare(benchsql.LimitStatusSQL)),
	}
	return figures, execAll(ctx, superURL, benchsql.DropLimit)
}

// limit measures directOp against bareOp, taking turns, and logs both.
func (r *benchRun) limit(ctx context.Context, name, bareName string, directOp, bareOp func(context.Context) error) limitFigure {
	f := limitFigure{name: name, bareName: bareName}
	f.direct, f.bare = r.abba(ctx, directOp, bareOp)
	for _, side := range []struct {
		label string
		res   loadResult
	}{{"direct", f.direct}, {bareName, f.bare}} {
		r.cfg.Logf("%s limit, %s: %.0f/s, CPU µs per request %s, %d errors", name, side.label, side.res.rate(),
			side.res.cpu.perOp(side.res.ops).micros(), side.res.errs)
	}
	return f
}

// bare returns one bare statement for the next user, in the batch the direct upstream
// sends (role, claims, statement); no row back counts as an error.
func (r *benchRun) bare(query string) func(context.Context) error {
	return func(ctx context.Context) error {
		u := r.nextUser()
		b := &pgx.Batch{}
		sqlapi.QueueAs(b, vibepass.RoleAuthenticated, u.claims)
		b.Queue(query, u.id).Query(func(rows pgx.Rows) error {
			if !rows.Next() {
				return errors.Join(rows.Err(), fmt.Errorf("%.40s... returned no row", query))
			}
			return nil
		})
		return r.pool.SendBatch(ctx, b).Close()
	}
}

// execAll runs each statement as the superuser.
func execAll(ctx context.Context, superURL string, statements ...string) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range statements {
		if _, err := conn.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// printLimits writes each limit figure: the function's rate (direct pgx) against its
// bare statement's, and the CPU each costs.
func (r *Report) printLimits(tw io.Writer) {
	for _, f := range r.limits {
		fmt.Fprintf(tw, "%s vs its bare statement, %d clients (req/s)\t%.0f direct pgx\t%.0f %s\t%.2fx slower\t<= %.1fx\t%s\n",
			f.name, r.cfg.Concurrency, f.direct.rate(), f.bare.rate(), f.bareName, f.slower(), limitTarget, met(f.slower() <= limitTarget))
		fmt.Fprintf(tw, "  CPU per request (µs: proxy/Postgres/client)\t%s\t%s\t\t\t\n",
			f.direct.cpu.perOp(f.direct.ops).micros(), f.bare.cpu.perOp(f.bare.ops).micros())
	}
}

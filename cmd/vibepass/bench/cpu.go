package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuTimes is the CPU time (user + system) used so far by the three parties of a run.
// CPU time, unlike wall time, does not depend on what else the machine runs, so the
// CPU per request shows what bounds a figure even on a noisy machine.
type cpuTimes struct {
	proxy    time.Duration // the proxy process
	postgres time.Duration // the postmaster and all its children, living or reaped; 0 if not on this machine
	client   time.Duration // this process: the load generator and the baselines' pgx client
}

// sub returns c - o.
func (c cpuTimes) sub(o cpuTimes) cpuTimes {
	return cpuTimes{proxy: c.proxy - o.proxy, postgres: c.postgres - o.postgres, client: c.client - o.client}
}

// add returns c + o.
func (c cpuTimes) add(o cpuTimes) cpuTimes {
	return cpuTimes{proxy: c.proxy + o.proxy, postgres: c.postgres + o.postgres, client: c.client + o.client}
}

// perOp divides each time by ops.
func (c cpuTimes) perOp(ops int) cpuTimes {
	if ops == 0 {
		return cpuTimes{}
	}
	n := time.Duration(ops)
	return cpuTimes{proxy: c.proxy / n, postgres: c.postgres / n, client: c.client / n}
}

// micros formats per-request times as "proxy/postgres/client" microseconds.
func (c cpuTimes) micros() string {
	return fmt.Sprintf("%d/%d/%d", c.proxy.Microseconds(), c.postgres.Microseconds(), c.client.Microseconds())
}

// millis formats times as "proxy/postgres/client" milliseconds.
func (c cpuTimes) millis() string {
	return fmt.Sprintf("%d/%d/%d", c.proxy.Milliseconds(), c.postgres.Milliseconds(), c.client.Milliseconds())
}

// measureCPU runs run and returns the CPU the three parties used meanwhile. This
// process's own time is read last before run and first after it, so that reading
// /proc (a few milliseconds) is not charged to the client.
func (r *benchRun) measureCPU(run func()) cpuTimes {
	before := r.othersCPU()
	before.client = selfCPU()
	run()
	client := selfCPU()
	after := r.othersCPU()
	after.client = client
	return after.sub(before)
}

// othersCPU reads the CPU used so far by the proxy and Postgres; one it cannot read
// counts 0.
func (r *benchRun) othersCPU() cpuTimes {
	var c cpuTimes
	if st, err := readProcStat(r.proxy.cmd.Process.Pid); err == nil {
		c.proxy = st.self
	}
	if r.postmaster != 0 {
		c.postgres = treeCPU(r.postmaster)
	}
	return c
}

// selfCPU returns the CPU this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStat is what the benchmark reads from /proc/<pid>/stat.
type procStat struct {
	ppid     int
	self     time.Duration // utime + stime
	children time.Duration // cutime + cstime: reaped children
}

// readProcStat parses /proc/<pid>/stat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if end < 0 {
		return procStat{}, errors.New("malformed /proc/<pid>/stat")
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return procStat{}, errors.New("short /proc/<pid>/stat")
	}
	var n [5]int64
	for i, field := range []int{1, 11, 12, 13, 14} { // ppid, utime, stime, cutime, cstime
		if n[i], err = strconv.ParseInt(f[field], 10, 64); err != nil {
			return procStat{}, err
		}
	}
	return procStat{
		ppid:     int(n[0]),
		self:     time.Duration(n[1]+n[2]) * clockTick,
		children: time.Duration(n[3]+n[4]) * clockTick,
	}, nil
}

// treeCPU returns the CPU used by process pid, its reaped children and its living
// children (Postgres backends and background workers are children of the postmaster).
func treeCPU(pid int) time.Duration {
	root, err := readProcStat(pid)
	if err != nil {
		return 0
	}
	total := root.self + root.children
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		child, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		if st, err := readProcStat(child); err == nil && st.ppid == pid {
			total += st.self
		}
	}
	return total
}

// findPostmaster returns the pid of the Postgres server behind pool when it runs on
// this machine (the parent of our backend, named postgres), or 0.
func findPostmaster(ctx context.Context, pool *pgxpool.Pool) int {
	var backend int
	if err := pool.QueryRow(ctx, "select pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	st, err := readProcStat(backend)
	if err != nil {
		return 0
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", st.ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
		return 0
	}
	return st.ppid
}

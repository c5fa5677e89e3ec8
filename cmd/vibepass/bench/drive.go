package bench

import (
	"context"
	"slices"
	"sync"
	"time"
)

// loadResult is what one or more closed-loop runs measured.
type loadResult struct {
	ops int
	tally
	elapsed   time.Duration
	latencies []time.Duration // sorted once the run is over
	cpu       cpuTimes        // used by the run, where measured
}

// rate returns operations per second.
func (l loadResult) rate() float64 {
	if l.elapsed <= 0 {
		return 0
	}
	return float64(l.ops) / l.elapsed.Seconds()
}

// percentile returns the p-th percentile latency (0 < p < 100).
func (l loadResult) percentile(p int) time.Duration {
	if len(l.latencies) == 0 {
		return 0
	}
	return l.latencies[min(len(l.latencies)-1, len(l.latencies)*p/100)]
}

// add merges another run into l.
func (l *loadResult) add(o loadResult) {
	l.ops += o.ops
	l.elapsed += o.elapsed
	l.cpu = l.cpu.add(o.cpu)
	l.latencies = append(l.latencies, o.latencies...)
	l.addErrors(o.errs, o.firstErr)
}

// tally counts a figure's failures and keeps the first.
type tally struct {
	errs     int
	firstErr error
}

// addErrors counts errs failures, keeping the first error seen.
func (t *tally) addErrors(errs int, first error) {
	t.errs += errs
	if t.firstErr == nil {
		t.firstErr = first
	}
}

// closedLoop runs op from workers goroutines, each issuing the next as soon as the
// last returned, until d has passed, and times every call.
func closedLoop(ctx context.Context, workers int, d time.Duration, op func(context.Context) error) loadResult {
	var (
		mu  sync.Mutex
		res loadResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine loadResult
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t := time.Now()
				err := op(ctx)
				mine.latencies = append(mine.latencies, time.Since(t))
				mine.ops++
				if err != nil {
					mine.addErrors(1, err)
				}
			}
			mu.Lock()
			res.add(mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

// concurrently runs op once from each of n goroutines at the same time and returns
// each call's duration and error.
func concurrently(ctx context.Context, n int, op func(context.Context) error) ([]time.Duration, []error) {
	took := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			errs[i] = op(ctx)
			took[i] = time.Since(t)
		}()
	}
	wg.Wait()
	return took, errs
}

// pairedFigure is a user endpoint measured through the proxy and straight at Postgres.
type pairedFigure struct {
	name          string
	proxy, direct loadResult
}

// abbaSlice is about how long one side runs before the other takes over.
const abbaSlice = time.Second

// paired measures proxyOp and directOp with abba and logs both sides.
func (r *benchRun) paired(ctx context.Context, name string, proxyOp, directOp func(context.Context) error) pairedFigure {
	f := pairedFigure{name: name}
	f.proxy, f.direct = r.abba(ctx, proxyOp, directOp)
	for _, side := range []struct {
		label string
		res   loadResult
	}{{"direct", f.direct}, {"proxy", f.proxy}} {
		r.cfg.Logf("%s %s: %.0f/s p50 %s ms p99 %s ms, CPU µs per request %s, %d errors", name, side.label, side.res.rate(),
			ms(side.res.percentile(50)), ms(side.res.percentile(99)), side.res.cpu.perOp(side.res.ops).micros(), side.res.errs)
	}
	return f
}

// abba measures opA and opB at the configured concurrency for the configured duration
// each, in short slices taking turns as B, A, A, B, repeated: the load of a shared
// machine comes and goes within seconds, and this way it weighs on both sides alike.
// A first call per client, untimed, opens the connections; its errors count.
func (r *benchRun) abba(ctx context.Context, opA, opB func(context.Context) error) (a, b loadResult) {
	c := r.cfg.Concurrency
	for _, side := range []struct {
		res *loadResult
		op  func(context.Context) error
	}{{&b, opB}, {&a, opA}} {
		_, errs := concurrently(ctx, c, side.op)
		for _, err := range errs {
			if err != nil {
				side.res.addErrors(1, err)
			}
		}
	}
	groups := max(1, int(r.cfg.Duration/(2*abbaSlice)))
	slice := r.cfg.Duration / time.Duration(2*groups)
	run := func(res *loadResult, op func(context.Context) error) {
		var l loadResult
		cpu := r.measureCPU(func() { l = closedLoop(ctx, c, slice, op) })
		l.cpu = cpu
		res.add(l)
	}
	for range groups {
		run(&b, opB)
		run(&a, opA)
		run(&a, opA)
		run(&b, opB)
	}
	slices.Sort(a.latencies)
	slices.Sort(b.latencies)
	return a, b
}

// Package benchcpu measures the CPU time a benchmark's process spends: on a machine other
// work shares, the figure to compare (wall time there measures the neighbours too).
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Process returns the user and system CPU time this process has used.
func Process(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PerOp starts counting this process's CPU time; the function it returns reports it per
// op as cpu-ns/op.
func PerOp(b *testing.B) func() {
	start := Process(b)
	return func() {
		b.ReportMetric(float64(Process(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

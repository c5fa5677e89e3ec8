package proxy

import (
	"bufio"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
)

// benchRows returns n rows shaped like the bench's: canonical ids, short names, and
// preferences with two decimals.
func benchRows(n int) []vibepass.ActiveUser {
	at := time.Date(2026, 12, 2, 5, 0, 0, 123456000, time.UTC)
	rows := make([]vibepass.ActiveUser, n)
	for i := range rows {
		rows[i] = vibepass.ActiveUser{
			UserID: "6f1e3c2a-9b8d-4e7f-a1b2-c3d4e5f60718", DisplayName: "Viber12345",
			CheckedInAt: at.Add(-time.Duration(i) * time.Millisecond), ExpiresAt: at.Add(time.Hour),
			Preferences: []float64{0.5, 0.83, 0.07, 1, float64(i%101) / 100},
		}
	}
	return rows
}

// BenchmarkAppendActiveUser encodes one row of the model list.
func BenchmarkAppendActiveUser(b *testing.B) {
	rows := benchRows(1000)
	var buf []byte
	i := 0
	defer reportCPU(b)()
	for b.Loop() {
		var err error
		if buf, err = appendActiveUser(buf[:0], rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkWriteActiveUsers builds the response body of 100,000 rows into a sink
// behind a 4 KB buffer, as the stream writer gets it: the rows are already decoded.
func BenchmarkWriteActiveUsers(b *testing.B) {
	rows := benchRows(100000)
	w := bufio.NewWriter(io.Discard)
	defer reportCPU(b)()
	for b.Loop() {
		batches := make(chan rowBatch, 2)
		go func() {
			for i := rowBatchSize; i < len(rows); i += rowBatchSize {
				batches <- rowBatch{rows: rows[i:min(i+rowBatchSize, len(rows))], end: i+rowBatchSize >= len(rows)}
			}
		}()
		n, err := writeActiveUsers(w, false, timestamp(time.Now()), 1, rowBatch{rows: rows[:rowBatchSize]}, batches)
		if err != nil || n != len(rows) {
			b.Fatalf("%d rows, %v", n, err)
		}
	}
}

// ProcessCPU returns the user and system CPU time this process has used.
func ProcessCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU starts counting this process's CPU time; the function it returns reports it
// per op as cpu-ns/op, the figure to compare on a machine other work shares (wall
// time there measures the neighbours too).
func reportCPU(b *testing.B) func() {
	start := ProcessCPU(b)
	return func() {
		b.ReportMetric(float64(ProcessCPU(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

package presence

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/apijson"
	"github.com/vibepass/vibepass/internal/benchcpu"
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
	defer benchcpu.PerOp(b)()
	for b.Loop() {
		var err error
		if buf, err = apijson.AppendActiveUser(buf[:0], rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkWriteActiveUsers builds the response body of 100,000 rows into a sink, as
// the stream does for the PostgREST upstream: the rows come decoded, as values.
func BenchmarkWriteActiveUsers(b *testing.B) {
	rows := benchRows(benchListSize)
	benchmarkList(b, func(_ func(*vibepass.ActiveUserView) error, value func(vibepass.ActiveUser) error) error {
		for _, u := range rows {
			if err := value(u); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkWriteActiveUserViews is BenchmarkWriteActiveUsers with the rows as views,
// as the direct upstream hands them on.
func BenchmarkWriteActiveUserViews(b *testing.B) {
	rows := benchRows(benchListSize)
	views := make([]vibepass.ActiveUserView, len(rows))
	for i, u := range rows {
		views[i] = vibepass.ActiveUserView{UserID: []byte(u.UserID), DisplayName: []byte(u.DisplayName),
			CheckedInAt: u.CheckedInAt, ExpiresAt: u.ExpiresAt, Preferences: u.Preferences}
	}
	benchmarkList(b, func(view func(*vibepass.ActiveUserView) error, _ func(vibepass.ActiveUser) error) error {
		for i := range views {
			if err := view(&views[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// benchListSize is the rows of the body benchmarks: the bench's list.
const benchListSize = 100000

// benchmarkList encodes the list read gives into a body and writes it to a sink, once per op.
func benchmarkList(b *testing.B, read func(view func(*vibepass.ActiveUserView) error, value func(vibepass.ActiveUser) error) error) {
	defer benchcpu.PerOp(b)()
	for b.Loop() {
		chunks, free := make(chan listChunk, 2), make(chan []byte, listBuffers)
		go encodeList(context.Background(), chunks, free, time.Now(), 1, read)
		first, err := awaitFirstChunk(chunks, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		body := &ListBody{first: &first, chunks: chunks, free: free, cancel: func() {}, log: slog.New(slog.DiscardHandler)}
		if _, err := body.WriteTo(io.Discard); err != nil || body.rows != benchListSize {
			b.Fatalf("%d rows, %v", body.rows, err)
		}
	}
}

package proxy_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/vibepass/vibepass/internal/benchcpu"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// benchListRows is the size of the list the response benchmark reads: the bench's.
const benchListRows = 100000

// BenchmarkActiveUsersResponse reads the model list of 100,000 live passes through a
// proxy on the direct upstream, to the last byte, once per op, plain and gzipped. Besides
// the wall time (mostly Postgres producing the rows) it reports cpu-ms/op: the CPU this
// process spent per read, the proxy's and the client's, Postgres being another process.
// On a shared machine that is the figure to compare.
func BenchmarkActiveUsersResponse(b *testing.B) {
	ts := startServer(b, upstreamPostgres, benchListDatabase(b), nil)
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			// A transport of its own: the default one would ask for gzip and unpack it.
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			var cpu time.Duration
			reads := 0
			for b.Loop() {
				start := benchcpu.Process(b)
				req, err := http.NewRequest(http.MethodGet, ts.URL+"/api/model/active-users", nil)
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("X-API-Key", modelKey)
				req.Header.Set("Accept-Encoding", enc)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || n < benchListRows*100/5 {
					b.Fatalf("status %d, %d bytes, %v", resp.StatusCode, n, err)
				}
				cpu += benchcpu.Process(b) - start
				reads++
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(reads), "cpu-ms/op")
		})
	}
}

// benchList is the database of the response benchmark, loaded once per test binary
// (about half a minute) however often -count runs the benchmark; the shared cluster
// drops it when it stops.
var benchList struct {
	once sync.Once
	db   *localdb.Database
}

// benchListDatabase returns a database where benchListRows users have a live pass.
func benchListDatabase(b *testing.B) *localdb.Database {
	benchList.once.Do(func() {
		db, err := localdbtest.Cluster(b).NewDatabase(context.Background(), "", true)
		if err != nil {
			b.Fatal(err)
		}
		storetest.AddUsers(b, db.PostgresURL, benchListRows)
		storetest.CheckInEveryone(b, db.PostgresURL)
		benchList.db = db
	})
	if benchList.db == nil {
		b.Fatal("the benchmark's database failed to load")
	}
	return benchList.db
}

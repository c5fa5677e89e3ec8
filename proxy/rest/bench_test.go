package rest_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// BenchmarkUpstreams compares the direct and the PostgREST upstream on one database:
// check-ins by many users at once, and reading 10,000 live passes.
func BenchmarkUpstreams(b *testing.B) {
	db := localdbtest.ForTest(b)
	ids := storetest.AddUsers(b, db.PostgresURL, 10000)
	callers := make([]vibepass.Caller, len(ids))
	for i, id := range ids {
		callers[i] = storetest.Caller(b, id)
	}
	storetest.CheckInEveryone(b, db.PostgresURL)
	stores := map[string]vibepass.Store{
		"direct":    storetest.OpenStore(b, db.AuthenticatorURL),
		"postgrest": newUpstream(b, db).store,
	}
	for _, name := range []string{"direct", "postgrest"} {
		store := stores[name]
		b.Run(name+"/Checkin", func(b *testing.B) {
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := store.Checkin(context.Background(), callers[next.Add(1)%int64(len(callers))]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(name+"/ActiveUsers10k", func(b *testing.B) {
			for b.Loop() {
				rows := 0
				if err := store.ActiveUsers(context.Background(), func(vibepass.ActiveUser) error { rows++; return nil }); err != nil {
					b.Fatal(err)
				}
				if rows < len(ids) {
					b.Fatalf("%d rows", rows)
				}
			}
		})
	}
}

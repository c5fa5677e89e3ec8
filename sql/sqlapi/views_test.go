package sqlapi_test

import (
	"context"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
	"github.com/vibepass/vibepass/sql/sqlapi"
)

// TestActiveUserViewsMatchScannedRows reads the list three ways: as views decoded from
// the wire values (pgx's default mode), as views through pgx's own decoding (the simple
// protocol, where every value comes as text), and as the values pgx scans. All three
// agree row for row, on names that need escaping, preferences at the edges of float64
// and of [0, 1], and times before 2000 and between seconds; and a value pgx refuses
// (an infinite expiry) fails both reads.
func TestActiveUserViewsMatchScannedRows(t *testing.T) {
	ctx := context.Background()
	db := localdbtest.ForTest(t)
	ids := storetest.AddUsers(t, db.PostgresURL, 4)
	storetest.CheckInEveryone(t, db.PostgresURL)
	su := storetest.OpenPool(t, db.PostgresURL)
	for i, tc := range []struct {
		name      string
		prefs     []float64
		checkedIn string
	}{
		{"MusicFan", []float64{0.5, 0.83, 0.07, 1, 0}, "2026-12-02 05:00:00.123456+00"},
		{`Zoë "🎧" <b>&amp;</b> \ back`, []float64{5e-324, math.Copysign(0, -1), 2.2250738585072014e-308, 1e-7, 0.1 + 0.2}, "1999-12-31 23:59:59.999999+00"},
		{"x", []float64{math.Nextafter(1, 0), 0.3333333333333333, 1e-6, 0.000001, 0.125}, "1970-01-01 00:00:00.000001+00"},
		{"日本語 name", []float64{0.001, 0.999, 0.01, 0.99, 0.5}, "0001-01-01 00:00:00+00"},
	} {
		if _, err := su.Exec(ctx, `update public.profiles set display_name = $2, preferences = $3 where id = $1`, ids[i], tc.name, tc.prefs); err != nil {
			t.Fatal(err)
		}
		if _, err := su.Exec(ctx, `update public.sessions set checked_in_at = $2 where user_id = $1`, ids[i], tc.checkedIn); err != nil {
			t.Fatal(err)
		}
	}
	pool := storetest.OpenPool(t, db.AuthenticatorURL)
	simple := simpleProtocolPool(t, db.AuthenticatorURL)

	want, err := readValues(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < len(ids) {
		t.Fatalf("%d rows, want at least %d", len(want), len(ids))
	}
	for name, p := range map[string]*pgxpool.Pool{"binary": pool, "simple protocol": simple} {
		got, err := readViews(ctx, p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: views differ from scanned rows:\n got %+v\nwant %+v", name, got, want)
		}
	}

	if _, err := su.Exec(ctx, `update public.sessions set expires_at = 'infinity' where user_id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	_, wantErr := readValues(ctx, pool)
	if wantErr == nil {
		t.Fatal("pgx scanned an infinite expiry into a time.Time")
	}
	for name, p := range map[string]*pgxpool.Pool{"binary": pool, "simple protocol": simple} {
		if _, err := readViews(ctx, p); err == nil || err.Error() != wantErr.Error() {
			t.Errorf("%s: an infinite expiry gave %v, want pgx's %v", name, err, wantErr)
		}
	}
}

// simpleProtocolPool opens a pool on url that sends every query in the simple protocol.
func simpleProtocolPool(t *testing.T, url string) *pgxpool.Pool {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// readValues reads the list with ReadActiveUsers.
func readValues(ctx context.Context, db sqlapi.Batcher) ([]vibepass.ActiveUser, error) {
	var rows []vibepass.ActiveUser
	_, err := sqlapi.ReadActiveUsers(ctx, db, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, func(u vibepass.ActiveUser) error {
		rows = append(rows, u)
		return nil
	})
	return rows, err
}

// readViews reads the list with ReadActiveUserViews, copying each view into a value.
func readViews(ctx context.Context, db sqlapi.Batcher) ([]vibepass.ActiveUser, error) {
	var rows []vibepass.ActiveUser
	_, err := sqlapi.ReadActiveUserViews(ctx, db, vibepass.RoleServiceRole, sqlapi.ServiceRoleClaims, func(v *vibepass.ActiveUserView) error {
		rows = append(rows, vibepass.ActiveUser{UserID: string(v.UserID), DisplayName: string(v.DisplayName),
			CheckedInAt: v.CheckedInAt, ExpiresAt: v.ExpiresAt, Preferences: slices.Clone(v.Preferences)})
		return nil
	})
	return rows, err
}

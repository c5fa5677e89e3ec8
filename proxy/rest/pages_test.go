package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/rest"
	"github.com/vibepass/vibepass/proxy/rest/resttest"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

// TestModelListIsCompleteAtAnyMaxRows: 2,500 live passes (some sharing a check-in
// time, plus ended and expired ones) read through the direct upstream and through
// PostgREST cutting set results at Supabase's 1,000 rows and at 333: every upstream
// lists exactly the live users, each once, in the SQL's order.
// With a real PostgREST given (docs/testing.md), the list through it is checked against
// the same SQL truth on its database, which then keeps the 2,600 users.
func TestModelListIsCompleteAtAnyMaxRows(t *testing.T) {
	ctx := context.Background()
	var superuserURL string
	var stores map[string]vibepass.Store
	if real, ok := realPostgREST(t); ok {
		superuserURL = real.dbURL
		stores = map[string]vibepass.Store{"real postgrest": real.store(t)}
	} else {
		db := localdbtest.ForTest(t)
		superuserURL = db.PostgresURL
		stores = map[string]vibepass.Store{
			"direct":                  storetest.OpenStore(t, db.AuthenticatorURL),
			"postgrest max_rows 1000": newUpstreamWith(t, db, currentKeys, resttest.Options{}).store,
			"postgrest max_rows 333":  newUpstreamWith(t, db, legacyKeys, resttest.Options{MaxRows: 333}).store,
		}
	}
	ids := storetest.AddUsers(t, superuserURL, 2600)
	super := storetest.OpenPool(t, superuserURL)
	// 2,500 live passes over 50 distinct check-in times, 100 that ended or expired.
	if _, err := super.Exec(ctx, `
		insert into public.sessions (user_id, checked_in_at, expires_at, status, ended_at, end_reason)
		select id::uuid, now() - (n % 50) * interval '1 second',
		       case when n <= 2550 then now() + interval '1 hour' else now() - interval '1 minute' end,
		       case when n <= 2500 or n > 2550 then 'active' else 'inactive' end,
		       case when n between 2501 and 2550 then now() end,
		       case when n between 2501 and 2550 then 'checkout' end
		from unnest($1::text[]) with ordinality u(id, n)`, ids); err != nil {
		t.Fatal(err)
	}
	rows, err := super.Query(ctx, `select user_id::text from public.sessions
		where status = 'active' and expires_at > now() order by checked_in_at desc, user_id desc`)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(truth) < 2500 {
		t.Fatalf("the SQL truth has %d live passes, want at least the 2500 made here", len(truth))
	}
	for name, store := range stores {
		var got []string
		if err := store.ActiveUsers(ctx, func(u vibepass.ActiveUser) error { got = append(got, u.UserID); return nil }); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(got, truth) {
			t.Errorf("%s listed %d users, want the %d live ones in the SQL's order", name, len(got), len(truth))
		}
	}
}

// TestModelListFollowsContentRange serves pages by hand: the walk goes on after a page
// PostgREST cut (fewer rows than its count) or whose count is unknown, stops at a
// short counted page, and fails, never returns a short list, when Content-Range and
// the body disagree.
func TestModelListFollowsContentRange(t *testing.T) {
	row := func(i int) string {
		return fmt.Sprintf(`{"user_id":"00000000-0000-4000-8000-%012d","display_name":"U","checked_in_at":"2025-11-09T14:00:00Z","expires_at":"2025-11-09T15:00:00Z","preferences":[0,0,0,0,0]}`, 999-i)
	}
	type page struct {
		contentRange string
		rows         []int
	}
	cases := []struct {
		name    string
		pages   []page
		want    int
		wantErr string
	}{
		{"one short counted page", []page{{"0-2/3", []int{0, 1, 2}}}, 3, ""},
		{"cut pages, then the rest", []page{{"0-1/1000", []int{0, 1}}, {"0-1/1000", []int{2, 3}}, {"0-0/1", []int{4}}}, 5, ""},
		{"no count: read until empty", []page{{"0-1/*", []int{0, 1}}, {"*/*", nil}}, 2, ""},
		{"empty list", []page{{"*/0", nil}}, 0, ""},
		{"more rows than the range", []page{{"0-0/3", []int{0, 1, 2}}}, 0, "Content-Range"},
		{"fewer rows than the range", []page{{"0-2/3", []int{0, 1}}}, 0, "Content-Range"},
		{"cut to nothing", []page{{"*/5", nil}}, 0, "Content-Range"},
		{"no Content-Range", []page{{"", []int{0}}}, 0, "Content-Range"},
		{"a page going back", []page{{"0-1/1000", []int{0, 1}}, {"0-0/1", []int{1}}}, 0, "order"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var served int
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/rest/v1/rpc/active_users_page" || r.Header.Get("Prefer") != "count=exact" || served >= len(c.pages) {
					http.Error(w, "unexpected request", http.StatusTeapot)
					return
				}
				p := c.pages[served]
				served++
				var body []string
				for _, i := range p.rows {
					body = append(body, row(i))
				}
				w.Header().Set("Content-Range", p.contentRange)
				_, _ = w.Write([]byte("[" + strings.Join(body, ",") + "]"))
			}))
			defer srv.Close()
			store := newFakeStore(t, srv.URL)
			var got int
			err := store.ActiveUsers(t.Context(), func(vibepass.ActiveUser) error { got++; return nil })
			switch {
			case c.wantErr == "" && (err != nil || got != c.want || served != len(c.pages)):
				t.Fatalf("%d rows in %d pages, %v; want %d rows in %d pages", got, served, err, c.want, len(c.pages))
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("err = %v after %d rows, want one about %s", err, got, c.wantErr)
			}
		})
	}
}

// TestModelListPageCursor: each page after the first starts after the last row sent.
func TestModelListPageCursor(t *testing.T) {
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		_ = json.NewDecoder(r.Body).Decode(&b)
		bodies = append(bodies, b)
		if len(bodies) == 1 {
			w.Header().Set("Content-Range", "0-0/1000")
			_, _ = w.Write([]byte(`[{"user_id":"00000000-0000-4000-8000-000000000007","checked_in_at":"2025-11-09T14:00:00.123456+00:00","expires_at":"2025-11-09T15:00:00Z","preferences":[0,0,0,0,0]}]`))
			return
		}
		w.Header().Set("Content-Range", "*/0")
		_, _ = w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	if err := newFakeStore(t, srv.URL).ActiveUsers(t.Context(), func(vibepass.ActiveUser) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 || bodies[0]["after_user_id"] != nil || bodies[0]["page_size"] != float64(1000) ||
		bodies[1]["after_user_id"] != "00000000-0000-4000-8000-000000000007" ||
		bodies[1]["after_checked_in_at"] != "2025-11-09T14:00:00.123456Z" {
		t.Fatalf("page requests = %v", bodies)
	}
}

// newFakeStore is a store in front of a hand-written server at url.
func newFakeStore(t *testing.T, url string) *rest.Store {
	t.Helper()
	store, err := rest.New(rest.Options{URL: url, AnonKey: "anon", ServiceRoleKey: "service"})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

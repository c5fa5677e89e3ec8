package proxy_test

import (
	"context"
	"strings"
	"testing"
)

// TestModelSeesPlainProfiles checks what the model reads of a profile, on both upstreams: a
// display name from hostile sign-up metadata (bidi override, zero-width space, tab, an ESC
// sequence, BEL) arrives cleaned by the database, and preferences the database holds at
// the edges of float8 (a subnormal, -0) arrive in their shortest form, not 330 digits.
func TestModelSeesPlainProfiles(t *testing.T) {
	for _, kind := range upstreamKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, kind, nil, nil)
			const user = "00000000-0000-4000-8000-0000000000e1"
			db := superuser(t, ts.DB.PostgresURL)
			ctx := context.Background()
			if _, err := db.Exec(ctx, `insert into auth.users (id, aud, role, email, raw_user_meta_data)
				values ($1, 'authenticated', 'authenticated', 'evil@example.com', jsonb_build_object('display_name', $2::text))`,
				user, "\u202eEvil\u200b\tDJ\x1b[31m\a"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, `update public.profiles set preferences = '{5e-324,-0,1e-7,1,0.5}' where id = $1`, user); err != nil {
				t.Fatal(err)
			}
			if r := do(t, "POST", ts.URL+"/api/checkin", nil, bearer(mint(t, user))); r.Status != 200 {
				t.Fatalf("checkin = %d %s", r.Status, r.Raw)
			}

			r := do(t, "GET", ts.URL+"/api/model/active-users", nil, apiKey(modelKey))
			want := `{"user_id":"` + user + `","display_name":"Evil DJ [31m","checked_in_at":"`
			if r.Status != 200 || !strings.Contains(string(r.Raw), want) || !strings.Contains(string(r.Raw), `"preferences":[5e-324,0.0,1e-7,1.0,0.5],"is_anonymous":false}`) {
				t.Fatalf("active users = %d %s\nwant the row %s… with preferences [5e-324,0.0,1e-7,1.0,0.5]", r.Status, r.Raw, want)
			}
		})
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/sql/localdb"
)

// devLinkTTL is how long dev's sign-in links work: a working day, so a link printed
// at start still opens the page in the afternoon (Supabase Auth's own tokens last an hour).
const devLinkTTL = 24 * time.Hour

// demoLink is a link to the check-in page signed in as one user.
type demoLink struct {
	DisplayName string
	URL         string
}

// demoLinks returns a link for every user of the dev database, in sign-up order:
// the page's URL at listenAddr with a token minted with the dev secret in the
// fragment, the way Supabase Auth hands a token to a page after sign-in. Each link is
// a sign-in of its own: a new row in auth.sessions that its token names, so deleting
// that row signs the link out, as Supabase Auth's sign-out does.
func demoLinks(ctx context.Context, db *localdb.Database, listenAddr string) ([]demoLink, error) {
	conn, err := pgx.Connect(ctx, db.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("demo links: %w", err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `with signed_in as (
		  insert into auth.sessions (id, user_id, created_at, updated_at, aal)
		  select gen_random_uuid(), u.id, now(), now(), 'aal1' from auth.users u
		  returning id, user_id)
		select u.id::text, coalesce(u.email, ''), coalesce(p.display_name, u.id::text), s.id::text
		  from auth.users u join public.profiles p on p.id = u.id join signed_in s on s.user_id = u.id
		 order by u.created_at, u.id`)
	base := "http://" + browsableAddr(listenAddr) + "/#access_token="
	now := time.Now()
	var links []demoLink
	var id, email, name, session string
	_, err = pgx.ForEachRow(rows, []any{&id, &email, &name, &session}, func() error {
		token, err := devtoken.Mint([]byte(devtoken.Secret), devtoken.Request{Sub: id, Email: email, SessionID: session, TTL: devLinkTTL}, now)
		links = append(links, demoLink{DisplayName: name, URL: base + token})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("demo links: %w", err)
	}
	return links, nil
}

// browsableAddr turns a listen address a browser cannot open (0.0.0.0, [::]) into the loopback one.
func browsableAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// printDemoLinks writes one line per link, under a heading that says what they are.
func printDemoLinks(w io.Writer, links []demoLink) {
	fmt.Fprintf(w, "check-in page, signed in as each demo user (links work for %.0f hours):\n", devLinkTTL.Hours())
	for _, l := range links {
		fmt.Fprintf(w, "  %-10s %s\n", l.DisplayName, l.URL)
	}
}

package page_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/vibepass/vibepass/proxy"
	"github.com/vibepass/vibepass/proxy/auth"
	"github.com/vibepass/vibepass/proxy/auth/devtoken"
	"github.com/vibepass/vibepass/proxy/page/browsertest"
	"github.com/vibepass/vibepass/proxy/storetest"
	"github.com/vibepass/vibepass/sql/localdb"
	"github.com/vibepass/vibepass/sql/localdb/localdbtest"
)

func TestMain(m *testing.M) { localdbtest.Main(m) }

const (
	musicFan = "00000000-0000-4000-8000-000000000001"
	modelKey = "browser-test-model-key"
	// stepTimeout only guards against a hang; no assertion depends on timing.
	stepTimeout = 30 * time.Second
)

// TestCheckinPageInBrowser opens the page in headless chromium the way a user
// does (a link with the token in the fragment) and checks what the page shows
// against what the database holds.
func TestCheckinPageInBrowser(t *testing.T) {
	db := localdbtest.ForTest(t)
	server := startServer(t, db)
	browser := browsertest.Start(t)
	link := func(token string) string { return server.URL + "/#access_token=" + token }

	first := openTab(t, browser)
	do(t, first, chromedp.Navigate(link(mint(t, devtoken.Secret, time.Now()))))
	waitState(t, first, "active")
	if got := text(t, first, "#timer"); got != "Vibe Pass: 60 min remaining" {
		t.Errorf("timer after check-in = %q, want %q", got, "Vibe Pass: 60 min remaining")
	}
	if loc := run(t, first, chromedp.Location()); strings.Contains(loc, "#") {
		t.Errorf("address bar still holds the fragment: %q", loc)
	}
	passes := userPasses(t, db, musicFan)
	if len(passes) != 1 || passes[0].Status != "active" {
		t.Fatalf("after opening the page, MusicFan's passes = %+v, want one active", passes)
	}

	second := openTab(t, browser)
	do(t, second, chromedp.Navigate(link(mint(t, devtoken.Secret, time.Now()))))
	waitState(t, second, "active")
	if again := userPasses(t, db, musicFan); len(again) != 1 || again[0].ID != passes[0].ID || again[0].Status != "active" {
		t.Fatalf("after a second tab, MusicFan's passes = %+v, want the same single active pass %s", again, passes[0].ID)
	}

	do(t, second, chromedp.Click(chromedp.ID("checkout")))
	waitState(t, second, "ended")
	if got := text(t, second, "#status"); !strings.Contains(got, "checked out") {
		t.Errorf("status after Check out = %q, want it to say the user checked out", got)
	}
	if got := text(t, second, "#checkin"); got != "Check in again" {
		t.Errorf("button after Check out = %q, want %q", got, "Check in again")
	}
	ended := userPasses(t, db, musicFan)
	if len(ended) != 1 || ended[0].Status != "inactive" || ended[0].EndReason != "checkout" {
		t.Fatalf("after Check out, MusicFan's passes = %+v, want the pass inactive with end_reason checkout", ended)
	}
	closeTab(first)
	closeTab(second) // their minute timers would otherwise count as calls below

	t.Run("expired token", func(t *testing.T) {
		before := server.apiCalls()
		tab := openTab(t, browser)
		expired := mint(t, devtoken.Secret, time.Now().Add(-2*time.Hour)) // one-hour token, expired an hour ago
		do(t, tab, chromedp.Navigate(link(expired)))
		waitState(t, tab, "expired")
		if got := text(t, tab, "#status"); !strings.Contains(got, "sign-in has expired") {
			t.Errorf("status = %q, want it to say the sign-in has expired", got)
		}
		if calls := server.apiCalls()[len(before):]; len(calls) != 0 {
			t.Errorf("the page sent %v with an expired token, want no API call", calls)
		}
		if after := userPasses(t, db, musicFan); !samePasses(after, ended) {
			t.Errorf("MusicFan's passes changed with an expired token: %+v, was %+v", after, ended)
		}
	})

	t.Run("token the proxy refuses", func(t *testing.T) {
		tab := openTab(t, browser)
		forged := mint(t, "not-the-secret-not-the-secret-not-the-secret", time.Now())
		do(t, tab, chromedp.Navigate(link(forged)))
		waitState(t, tab, "expired")
		if got := text(t, tab, "#status"); !strings.Contains(got, "not accepted (Invalid token signature)") {
			t.Errorf("status = %q, want the proxy's reason for refusing the token", got)
		}
	})

	t.Run("not signed in", func(t *testing.T) {
		tab := openTab(t, browser)
		do(t, tab, chromedp.Navigate(server.URL+"/"))
		waitState(t, tab, "signed-out")
		if got := text(t, tab, "#status"); !strings.Contains(got, "not signed in") {
			t.Errorf("status = %q, want it to say the user is not signed in", got)
		}
	})
}

// pageServer is the proxy with the page enabled, on a real database, behind a
// recorder of every API request that reaches it.
type pageServer struct {
	URL string

	mu    sync.Mutex
	calls []string // "POST /api/checkin", in arrival order
}

func (s *pageServer) apiCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func startServer(t *testing.T, db *localdb.Database) *pageServer {
	t.Helper()
	ctx := context.Background()
	verifier, err := auth.NewVerifier(ctx, auth.Options{HS256Secret: []byte(devtoken.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(verifier.Close)
	keys, err := auth.NewAPIKeys([]string{modelKey})
	if err != nil {
		t.Fatal(err)
	}
	cfg := proxy.DefaultConfig()
	cfg.Page.Enabled = true
	store := storetest.OpenStore(t, db.AuthenticatorURL)
	srv := proxy.New(cfg, proxy.Deps{
		Passes: store, Presence: store, Readiness: store, Views: store,
		Verifier: verifier,
		APIKeys:  keys,
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	s := &pageServer{}
	upstream := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: ln.Addr().String()})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			s.mu.Lock()
			s.calls = append(s.calls, r.Method+" "+r.URL.Path)
			s.mu.Unlock()
		}
		upstream.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	s.URL = front.URL
	return s
}

// openTab opens a new tab in the browser, closed when the test ends.
func openTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return tab
}

// closeTab closes a tab now; its page and timers go with it.
func closeTab(tab context.Context) { _ = chromedp.Cancel(tab) }

func do(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, tab, chromedp.Steps(steps...))
}

func run[T any](t *testing.T, tab context.Context, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

func text(t *testing.T, tab context.Context, selector string) string {
	t.Helper()
	return run(t, tab, chromedp.Text(chromedp.CSS(selector)))
}

// waitState waits until the page is in state want, or in a state that reports a
// problem, and fails with what the page says in the second case.
func waitState(t *testing.T, tab context.Context, want string) {
	t.Helper()
	var selectors []string
	for _, state := range []string{want, "error", "expired", "signed-out"} {
		selectors = append(selectors, `body[data-state="`+state+`"]`)
	}
	do(t, tab, chromedp.WaitReady(chromedp.CSS(strings.Join(selectors, ", "))))
	if got := run(t, tab, chromedp.Evaluate[string]("document.body.dataset.state")); got != want {
		t.Fatalf("page state = %q (%q), want %q", got, text(t, tab, "#status"), want)
	}
}

// mint returns a one-hour access token for MusicFan issued at issuedAt, signed with secret.
func mint(t *testing.T, secret string, issuedAt time.Time) string {
	t.Helper()
	token, err := devtoken.Mint([]byte(secret), devtoken.Request{Sub: musicFan, Email: "musicfan@example.com"}, issuedAt)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// pass is one row of public.sessions, as far as these tests look at it.
type pass struct {
	ID        string
	Status    string
	ExpiresAt time.Time
	EndReason string // "" while the pass has not ended
}

func samePasses(a, b []pass) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Status != b[i].Status || !a[i].ExpiresAt.Equal(b[i].ExpiresAt) || a[i].EndReason != b[i].EndReason {
			return false
		}
	}
	return true
}

// userPasses reads the user's passes straight from the database, oldest first.
func userPasses(t *testing.T, db *localdb.Database, userID string) []pass {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `select id::text, status, expires_at, coalesce(end_reason, '') from public.sessions
		where user_id = $1 order by created_at, id`, userID)
	passes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pass])
	if err != nil {
		t.Fatal(err)
	}
	return passes
}

package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/client"
)

const userRow = `{"user_id":"00000000-0000-4000-8000-000000000001","display_name":"MusicFan","checked_in_at":"2026-11-27T02:39:55Z","expires_at":"2026-11-27T03:39:55Z","preferences":[0.5,0.8,0.2,1.0,0.0],"is_anonymous":true}`

// newClient starts a server with handler and returns a client of it.
func newClient(t *testing.T, handler http.HandlerFunc, opts ...client.Option) *client.Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL+"/", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// reply writes status and body as the API's JSON.
func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:3000", "ftp://x", "http://user:pw@x"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q): no error", u)
		}
	}
}

func TestUserEndpoints(t *testing.T) {
	var n atomic.Int64
	tokens := client.TokenFunc(func(context.Context) (string, error) {
		return fmt.Sprintf("tok-%d", n.Add(1)), nil // a refreshed token each time
	})
	active := true
	var seen []string
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		switch r.Method + " " + r.URL.Path {
		case "POST /api/checkin":
			reply(w, 200, `{"success":true,"message":"1-hour vibe pass activated","data":{"session_id":"s1","expires_at":"2026-11-27T03:39:55Z","expires_in_minutes":60}}`)
		case "GET /api/session":
			if active {
				reply(w, 200, `{"success":true,"active":true,"data":{"session_id":"s1","checked_in_at":"2026-11-27T02:39:55Z","expires_at":"2026-11-27T03:39:55Z","minutes_remaining":42}}`)
			} else {
				reply(w, 200, `{"success":true,"active":false,"message":"No active session"}`)
			}
		case "POST /api/checkout":
			if active {
				active = false
				reply(w, 200, `{"success":true,"message":"Checked out successfully"}`)
			} else {
				reply(w, 200, `{"success":true,"message":"No active session"}`)
			}
		default:
			reply(w, 404, `{"success":false,"error":"Not found","code":"not_found"}`)
		}
	}, client.WithTokenSource(tokens))
	ctx := context.Background()

	in, err := c.Checkin(ctx)
	want := vibepass.Checkin{SessionID: "s1", ExpiresAt: time.Date(2026, 11, 27, 3, 39, 55, 0, time.UTC), ExpiresInMinutes: 60}
	if err != nil || in != want {
		t.Fatalf("Checkin = %+v, %v; want %+v", in, err, want)
	}
	pass, err := c.Session(ctx)
	if err != nil || pass == nil || pass.SessionID != "s1" || pass.MinutesRemaining != 42 || !pass.CheckedInAt.Equal(time.Date(2026, 11, 27, 2, 39, 55, 0, time.UTC)) {
		t.Fatalf("Session = %+v, %v", pass, err)
	}
	out, err := c.Checkout(ctx)
	if err != nil || !out.Ended {
		t.Fatalf("Checkout = %+v, %v; want Ended", out, err)
	}
	out, err = c.Checkout(ctx)
	if err != nil || out.Ended {
		t.Fatalf("second Checkout = %+v, %v; want not Ended", out, err)
	}
	pass, err = c.Session(ctx)
	if err != nil || pass != nil {
		t.Fatalf("Session after checkout = %+v, %v; want nil, nil", pass, err)
	}
	wantSeen := []string{"POST /api/checkin Bearer tok-1", "GET /api/session Bearer tok-2", "POST /api/checkout Bearer tok-3",
		"POST /api/checkout Bearer tok-4", "GET /api/session Bearer tok-5"}
	if strings.Join(seen, "\n") != strings.Join(wantSeen, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(wantSeen, "\n"))
	}
}

func TestTokenSourceFailure(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) { t.Error("a request was sent") },
		client.WithTokenSource(client.TokenFunc(func(context.Context) (string, error) { return "", errors.New("refresh failed") })))
	_, err := c.Checkin(context.Background())
	var e *client.Error
	if !errors.As(err, &e) || e.Code != client.CodeTokenSource || !strings.Contains(e.Error(), "refresh failed") {
		t.Fatalf("err = %v, want a token_source *Error", err)
	}
}

func TestActiveUsersAndETag(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/model/active-users" || r.Header.Get("X-API-Key") != "k" {
			t.Errorf("%s with key %q", r.URL.Path, r.Header.Get("X-API-Key"))
		}
		w.Header().Set("ETag", `W/"7"`)
		if r.Header.Get("If-None-Match") == `W/"7"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		reply(w, 200, `{"success":true,"timestamp":"2026-11-27T02:40:00Z","data":[`+userRow+`],"count":1,"cursor":"7"}`)
	}, client.WithAPIKey("k"))
	ctx := context.Background()
	list, err := c.ActiveUsers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if list.Unchanged || list.Count != 1 || len(list.Users) != 1 || list.Cursor != "7" || list.ETag != `W/"7"` ||
		!list.Timestamp.Equal(time.Date(2026, 11, 27, 2, 40, 0, 0, time.UTC)) {
		t.Fatalf("list = %+v", list)
	}
	u := list.Users[0]
	if u.DisplayName != "MusicFan" || !u.IsAnonymous || len(u.Preferences) != 5 || u.Preferences[3] != 1 {
		t.Errorf("row = %+v", u)
	}
	again, err := c.ActiveUsers(ctx, list.ETag)
	if err != nil || !again.Unchanged || again.ETag != `W/"7"` || again.Users != nil {
		t.Fatalf("with the ETag: %+v, %v; want Unchanged", again, err)
	}
}

func TestBadResponses(t *testing.T) {
	for name, body := range map[string]string{
		"count mismatch":    `{"success":true,"timestamp":"2026-11-27T02:40:00Z","data":[` + userRow + `],"count":2,"cursor":"7"}`,
		"no cursor":         `{"success":true,"timestamp":"2026-11-27T02:40:00Z","data":[],"count":0}`,
		"cut off":           `{"success":true,"timestamp":"2026-11-27T02:40:00Z","data":[` + userRow,
		"not JSON":          `<html>`,
		"success false":     `{"success":false,"timestamp":"2026-11-27T02:40:00Z","data":[],"count":0,"cursor":"1"}`,
		"four preferences":  `{"success":true,"timestamp":"2026-11-27T02:40:00Z","data":[{"user_id":"u","display_name":"x","checked_in_at":"2026-11-27T02:39:55Z","expires_at":"2026-11-27T03:39:55Z","preferences":[1,1,1,1],"is_anonymous":false}],"count":1,"cursor":"7"}`,
		"bad timestamp row": `{"success":true,"timestamp":"2026-11-27T02:40:00Z","data":[{"user_id":"u","checked_in_at":"yesterday"}],"count":1,"cursor":"7"}`,
	} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, body) })
			list, err := c.ActiveUsers(context.Background(), "")
			if list != nil || !errors.Is(err, client.ErrBadResponse) {
				t.Fatalf("ActiveUsers = %+v, %v; want nil and a bad_response error", list, err)
			}
		})
	}
	t.Run("304 without If-None-Match", func(t *testing.T) {
		c := newClient(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) })
		if _, err := c.ActiveUsers(context.Background(), ""); !errors.Is(err, client.ErrBadResponse) {
			t.Fatalf("err = %v, want bad_response", err)
		}
	})
}

func TestSummaryAndHistory(t *testing.T) {
	nobody := false
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/model/summary":
			if nobody {
				reply(w, 200, `{"success":true,"timestamp":"2026-11-27T02:40:00Z","count":0,"mean":null,"cursor":"9"}`)
			} else {
				reply(w, 200, `{"success":true,"timestamp":"2026-11-27T02:40:00Z","count":2,"mean":[0.4,0.7,0.55,0.55,0.35],"cursor":"9"}`)
			}
		case "/api/model/history":
			reply(w, 200, `{"success":true,"timestamp":"2026-11-27T02:40:00Z","minutes":[{"at":"2026-11-27T02:39:00Z","count":1},{"at":"2026-11-27T02:40:00Z","count":2}]}`)
		}
	})
	ctx := context.Background()
	s, err := c.Summary(ctx)
	if err != nil || s.Count != 2 || len(s.Mean) != 5 || s.Mean[2] != 0.55 || s.Cursor != "9" {
		t.Fatalf("Summary = %+v, %v", s, err)
	}
	nobody = true
	if s, err = c.Summary(ctx); err != nil || s.Count != 0 || s.Mean != nil {
		t.Fatalf("Summary with nobody = %+v, %v; want Mean nil", s, err)
	}
	h, err := c.History(ctx)
	if err != nil || len(h.Minutes) != 2 || h.Minutes[1].Count != 2 || !h.Minutes[0].At.Equal(time.Date(2026, 11, 27, 2, 39, 0, 0, time.UTC)) {
		t.Fatalf("History = %+v, %v", h, err)
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		status     int
		retryAfter string
		body       string
		code, msg  string
		kind       error
		temporary  bool
		wait       time.Duration
	}{
		{401, "", `{"success":false,"error":"Token expired","code":"token_expired"}`, "token_expired", "Token expired", client.ErrAuth, false, 0},
		{403, "", `{"success":false,"error":"Invalid API key","code":"invalid_api_key"}`, "invalid_api_key", "Invalid API key", client.ErrAuth, false, 0},
		{400, "", `{"success":false,"error":"Invalid cursor"}`, "", "Invalid cursor", client.ErrBadRequest, false, 0},
		{409, "", `{"success":false,"error":"Conflicting request, try again","code":"conflict"}`, "conflict", "Conflicting request, try again", nil, true, 0},
		{429, "3", `{"success":false,"error":"Too many requests, try again later","code":"rate_limited"}`, "rate_limited", "Too many requests, try again later", client.ErrRateLimited, true, 3 * time.Second},
		{503, "1", `{"success":false,"error":"Too many model reads at once, try again shortly","code":"model_busy"}`, "model_busy", "Too many model reads at once, try again shortly", client.ErrUnavailable, true, time.Second},
		{504, "", `{"success":false,"error":"Database timed out","code":"upstream_timeout"}`, "upstream_timeout", "Database timed out", client.ErrUnavailable, true, 0},
		{502, "", `<html>bad gateway</html>`, "", "HTTP 502 with a body that is not the API's JSON", nil, true, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				reply(w, tc.status, tc.body)
			})
			for name, call := range map[string]func() error{
				"ActiveUsers": func() error { _, err := c.ActiveUsers(context.Background(), ""); return err },
				"Summary":     func() error { _, err := c.Summary(context.Background()); return err },
				"Session":     func() error { _, err := c.Session(context.Background()); return err },
			} {
				err := call()
				var e *client.Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: %v, want *client.Error", name, err)
				}
				if e.Status != tc.status || e.Code != tc.code || e.Message != tc.msg || e.RetryAfter != tc.wait || e.Temporary() != tc.temporary {
					t.Errorf("%s: %#v (temporary %v)", name, e, e.Temporary())
				}
				if tc.kind != nil && !errors.Is(err, tc.kind) {
					t.Errorf("%s: errors.Is(%v, %v) is false", name, err, tc.kind)
				}
				for _, other := range []error{client.ErrConnection, client.ErrTimeout, client.ErrBadResponse} {
					if errors.Is(err, other) {
						t.Errorf("%s: errors.Is(%v, %v) is true", name, err, other)
					}
				}
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("cannot connect", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c, _ := client.New("http://" + addr)
		_, err = c.ActiveUsers(ctx, "")
		var e *client.Error
		if !errors.Is(err, client.ErrConnection) || errors.Is(err, client.ErrTimeout) || !errors.As(err, &e) || !e.Temporary() ||
			!strings.Contains(err.Error(), "cannot connect") {
			t.Fatalf("err = %v, want ErrConnection", err)
		}
	})
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}
	t.Run("timeout", func(t *testing.T) {
		c := newClient(t, slow, client.WithTimeout(50*time.Millisecond))
		_, err := c.Summary(ctx)
		if !errors.Is(err, client.ErrTimeout) || errors.Is(err, client.ErrConnection) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		c := newClient(t, slow)
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := c.Summary(dctx)
		if !errors.Is(err, client.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTimeout and DeadlineExceeded", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		c := newClient(t, slow)
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := c.Summary(cctx)
		var e *client.Error
		if !errors.Is(err, context.Canceled) || !errors.As(err, &e) || e.Code != client.CodeCanceled || e.Temporary() {
			t.Fatalf("err = %v, want canceled", err)
		}
	})
	t.Run("list cut off", func(t *testing.T) {
		c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"success":true,"timestamp":"2026-11-27T02:40:00Z","data":[`+userRow)
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close() // the chunked body never ends
		})
		list, err := c.ActiveUsers(ctx, "")
		if list != nil || !errors.Is(err, client.ErrConnection) || !strings.Contains(err.Error(), "cut off") {
			t.Fatalf("ActiveUsers = %+v, %v; want ErrConnection, cut off", list, err)
		}
	})
}

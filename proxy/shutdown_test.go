package proxy_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy"
)

// endlessStore streams a few hundred active users (more than the server batches
// before answering) and then waits for its context to end, like a huge list read
// slowly; ended closes when it returns.
type endlessStore struct {
	vibepass.PresenceStore
	ended chan struct{}
}

// PresenceTick answers the tick every list read starts with: an empty feed.
func (endlessStore) PresenceTick(context.Context) (vibepass.FeedHead, error) {
	return vibepass.FeedHead{}, nil
}

func (s endlessStore) ActiveUsers(ctx context.Context, emit func(vibepass.ActiveUser) error) error {
	defer close(s.ended)
	for i := 0; i < 1000; i++ {
		if err := emit(vibepass.ActiveUser{UserID: musicFan, DisplayName: "MusicFan", Preferences: []float64{0, 0, 0, 0, 0}}); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestShutdownEndsStreams checks that a model stream still running when the shutdown
// grace period ends has its store read cancelled then, not at timeouts.write: the read
// holds a database connection, and closing the pool waits for it.
func TestShutdownEndsStreams(t *testing.T) {
	verifier, keys := devAuth(t, modelKey)
	cfg := proxy.DefaultConfig()
	cfg.Timeouts.Write = time.Hour
	cfg.Timeouts.Shutdown = 100 * time.Millisecond
	store := endlessStore{ended: make(chan struct{})}
	srv := proxy.New(cfg, proxy.Deps{Presence: store, Verifier: verifier, APIKeys: keys, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx, ln, nil) }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/model/active-users", nil)
	req.Header.Set("X-API-Key", modelKey)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("model stream: %v %v", resp, err)
	}

	stop()
	select {
	case err := <-ran:
		if err != nil { // a stream cut at the end of the grace period is the shutdown working
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the grace period")
	}
	select {
	case <-store.ended:
	case <-time.After(30 * time.Second): // a guard against a hang only: the fix ends it at once
		t.Fatal("the store read was still running after the shutdown ended, so its connection would be held")
	}
}

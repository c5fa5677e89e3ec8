// Package presence is the model's side of the service: the model list streamed in chunks,
// the presence feed fanned out to every follower, the summary and the history, and the
// rules of their cursors and ETags. It depends on the domain and its JSON (apijson) only:
// the HTTP server admits, answers and counts; this package decides what is read and
// written, and when.
package presence

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/vibepass/vibepass"
)

// FeedConfig tunes the presence feed (/api/model/events), config.toml's [feed].
type FeedConfig struct {
	// Poll is how often the proxy asks the database for changes while anyone follows.
	Poll time.Duration `toml:"poll"`
	// Heartbeat is how often an idle stream gets a comment line, so proxies keep it open.
	Heartbeat time.Duration `toml:"heartbeat"`
	// Buffer is how many events a subscriber may fall behind before it is dropped.
	Buffer int `toml:"buffer"`
	// Subscribers is how many event streams may be open at once; one more gets 503
	// with Retry-After. Each holds a connection and up to Buffer events of memory.
	Subscribers int `toml:"subscribers"`
	// SubscribersPerKey is how many of them one model key may hold; one more gets 503
	// with Retry-After, so that one key cannot take every slot.
	SubscribersPerKey int `toml:"subscribers_per_key"`
}

// FeedPage is how many changes one poll hands every follower at once (one store call;
// PostgREST may cap it lower). A follower's feed.buffer below it would be dropped by a
// burst however fast it reads, so configuration refuses one.
const FeedPage = 1000

// Options are what a Service needs besides its store.
type Options struct {
	// Feed tunes the presence feed.
	Feed FeedConfig
	// ListStreams is how many model lists may stream at once (limits.model_streams).
	ListStreams int
	// Upstream bounds one store call (for a list: until its first rows).
	Upstream time.Duration
	// Write bounds one write to a client; it also caps a list's store read.
	Write time.Duration
	// Clock stamps the lists and the history's minutes.
	Clock vibepass.Clock
	// Logger receives what goes wrong with a poll.
	Logger *slog.Logger
}

// Service serves the model's reads of one proxy. It is safe for concurrent use.
type Service struct {
	store vibepass.PresenceStore
	views vibepass.ActiveUserViewer // nil: the list is read as values
	opts  Options
	// listSlots holds one token per list streaming, up to ListStreams: a list keeps its
	// store read open until its client has read it all.
	listSlots chan struct{}
	// feedSlots admits event streams: feed.subscribers in all, feed.subscribers_per_key per model key.
	feedSlots *feedSlots
	// hub fans the feed out to the event streams.
	hub *hub
	// history keeps the history's answer for the minute it was computed in.
	history historyCache
	// reads is the parent of every list read and every follower's store call;
	// CancelReads cancels it, so that no read outlives the server.
	reads       context.Context
	cancelReads context.CancelFunc
	// ended closes when EndFollowers is called, ending every event stream at once.
	ended        chan struct{}
	endFollowers func()
}

// New returns a Service over store, reading the list as views when views is not nil.
func New(store vibepass.PresenceStore, views vibepass.ActiveUserViewer, opts Options) *Service {
	s := &Service{store: store, views: views, opts: opts, listSlots: make(chan struct{}, opts.ListStreams),
		feedSlots: newFeedSlots(opts.Feed.Subscribers, opts.Feed.SubscribersPerKey),
		hub:       newHub(store, opts.Logger, opts.Feed, opts.Upstream),
		ended:     make(chan struct{})}
	s.reads, s.cancelReads = context.WithCancel(context.Background())
	s.endFollowers = sync.OnceFunc(func() { close(s.ended) })
	return s
}

// EndFollowers ends every event stream at once, as a shutdown starts: their clients
// resume elsewhere with Last-Event-ID.
func (s *Service) EndFollowers() { s.endFollowers() }

// CancelReads cancels every store read still running (the lists of slow readers), once a
// shutdown's grace period is over: they hold database connections that closing the pool
// waits for.
func (s *Service) CancelReads() { s.cancelReads() }

// Head logs the expiries due by now and returns the feed's head: what the list's ETag
// and cursor name.
func (s *Service) Head(ctx context.Context) (vibepass.FeedHead, error) {
	return s.store.PresenceTick(ctx)
}

// Summary returns the count and mean preferences of the people present, as the database
// keeps them at the feed's head. Its summary ticks first, so that passes that ran out are
// gone from both the numbers and the cursor.
func (s *Service) Summary(ctx context.Context) (vibepass.Summary, error) {
	return s.store.PresenceSummary(ctx)
}

// ListStreams returns how many lists hold a slot now: from admission until their store
// read is over.
func (s *Service) ListStreams() int { return len(s.listSlots) }

// Subscribers returns how many event streams are attached to the hub now.
func (s *Service) Subscribers() int { return s.hub.subscribers() }

package presence

import (
	"sync"
	"time"

	"github.com/vibepass/vibepass"
)

// Busy refuses a stream for want of room: a model list while ListStreams stream, an event
// stream while feed.subscribers (or its key's feed.subscribers_per_key) are open. Both are
// answered the same way: Err (503 with its reason), Retry-After, and a count under Limiter.
type Busy struct {
	// Err is the answer, EUNAVAILABLE with RMODELBUSY or RFEEDBUSY.
	Err *vibepass.Error
	// Limiter names the limit in vibepass_rate_limit_rejections_total.
	Limiter string
	// RetryAfter is when to try again.
	RetryAfter time.Duration
}

// Error implements the error interface.
func (b *Busy) Error() string { return b.Err.Error() }

// Unwrap returns Err, the answer.
func (b *Busy) Unwrap() error { return b.Err }

// The limiters a Busy refusal names.
const (
	// LimiterListStreams: limits.model_streams.
	LimiterListStreams = "model_streams"
	// LimiterFeed: feed.subscribers.
	LimiterFeed = "feed_subscribers"
	// LimiterFeedKey: feed.subscribers_per_key.
	LimiterFeedKey = "feed_key_subscribers"
)

// The refusals. A client that keeps up reads 100k rows in under half a second
// (docs/performance.md), so a list slot frees within a second; an event stream lasts
// long and its slot frees only when a follower leaves, so retrying every second would
// just add load.
var (
	errListBusy = &Busy{Limiter: LimiterListStreams, RetryAfter: time.Second,
		Err: &vibepass.Error{Code: vibepass.EUNAVAILABLE, Message: "Too many model reads at once, try again shortly", Reason: vibepass.RMODELBUSY}}
	errFeedBusy = &Busy{Limiter: LimiterFeed, RetryAfter: 5 * time.Second,
		Err: &vibepass.Error{Code: vibepass.EUNAVAILABLE, Message: "Too many event streams open, try again shortly", Reason: vibepass.RFEEDBUSY}}
	errFeedKeyBusy = &Busy{Limiter: LimiterFeedKey, RetryAfter: 5 * time.Second,
		Err: &vibepass.Error{Code: vibepass.EUNAVAILABLE, Message: "Too many event streams open for this API key, try again shortly", Reason: vibepass.RFEEDBUSY}}
)

// feedSlots admits event streams: at most max in all and perKey for any one model key,
// so that one key cannot hold every slot.
type feedSlots struct {
	mu        sync.Mutex
	open, max int
	perKey    int
	openByKey map[[8]byte]int
}

func newFeedSlots(max, perKey int) *feedSlots {
	return &feedSlots{max: max, perKey: perKey, openByKey: map[[8]byte]int{}}
}

// acquire takes a slot for a stream of key, or refuses it with errFeedBusy or
// errFeedKeyBusy. release gives the slot back; calling it again does nothing, so both the
// end of the stream and an earlier detach (a dropped follower) may call it.
func (f *feedSlots) acquire(key [8]byte) (release func(), err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.open >= f.max:
		return nil, errFeedBusy
	case f.openByKey[key] >= f.perKey:
		return nil, errFeedKeyBusy
	}
	f.open++
	f.openByKey[key]++
	return sync.OnceFunc(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.open--
		if f.openByKey[key]--; f.openByKey[key] == 0 {
			delete(f.openByKey, key)
		}
	}), nil
}

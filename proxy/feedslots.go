package proxy

import (
	"sync"

	"github.com/vibepass/vibepass"
	"github.com/vibepass/vibepass/proxy/metrics"
)

// feedSlots admits event streams: at most feed.subscribers in all and
// feed.subscribers_per_key for any one model key, so that one key cannot hold every slot.
type feedSlots struct {
	mu        sync.Mutex
	open, max int
	perKey    int
	openByKey map[[8]byte]int
	onFull    func(limiter string)
}

// errFeedBusy answers an event stream beyond feed.subscribers.
var errFeedBusy = &vibepass.Error{Code: vibepass.EUNAVAILABLE, Message: "Too many event streams open, try again shortly", Reason: vibepass.RFEEDBUSY}

// errFeedKeyBusy answers an event stream beyond feed.subscribers_per_key for its key.
var errFeedKeyBusy = &vibepass.Error{Code: vibepass.EUNAVAILABLE, Message: "Too many event streams open for this API key, try again shortly", Reason: vibepass.RFEEDBUSY}

// feedBusyRetryAfter is the refusals' Retry-After, in seconds: streams last long, so a
// slot frees only when a follower leaves; retrying every second would just add load.
const feedBusyRetryAfter = "5"

// acquire takes a slot for a stream of key, or refuses it with errFeedBusy or
// errFeedKeyBusy. release gives the slot back; calling it again does nothing, so both the
// end of the stream and an earlier detach (a dropped follower) may call it.
func (f *feedSlots) acquire(key [8]byte) (release func(), err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.open >= f.max:
		f.onFull(metrics.LimiterFeed)
		return nil, errFeedBusy
	case f.openByKey[key] >= f.perKey:
		f.onFull(metrics.LimiterFeedKey)
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

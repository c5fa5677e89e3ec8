package bench

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// feedMissingAfter is how long an event may take to reach the follower before it counts
// as lost.
const feedMissingAfter = 30 * time.Second

// feedMatcher pairs each check-in and checkout that got its 200 with its event at the
// follower (a join or renew, or a leave), in that user's order, whichever comes first.
// A pass that ends takes its join and renew rows out of the log (docs/api.md), so when a
// user checks out before the feed has handed out their check-in's event, the follower
// sees only the leave, which then stands for both: a leave settles every earlier call
// of its user.
type feedMatcher struct {
	mu      sync.Mutex
	pending map[string][]pendingCall // user id: calls whose event has not arrived
	early   map[string][]bool        // user id: events (leave or not) that came before their 200 was noted
	onMatch func(time.Duration)
}

// pendingCall is a call whose event the follower has not seen yet.
type pendingCall struct {
	done     time.Time // its 200
	checkout bool      // a checkout (a leave to come), else a check-in (a join or renew)
}

// expect notes a 200 that should bring an event for user.
func (f *feedMatcher) expect(user string, checkout bool, done time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.early[user]; len(e) > 0 {
		if k := slices.Index(e, checkout); k >= 0 {
			if e = slices.Delete(e, k, k+1); len(e) == 0 {
				delete(f.early, user)
			} else {
				f.early[user] = e
			}
			f.onMatch(0)
			return
		}
	}
	f.pending[user] = append(f.pending[user], pendingCall{done: done, checkout: checkout})
}

// arrived notes a join, renew (leave false) or leave event for user at the follower.
func (f *feedMatcher) arrived(user string, leave bool, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.pending[user]
	k := 0
	if leave {
		k = slices.IndexFunc(q, func(c pendingCall) bool { return c.checkout })
	}
	if k < 0 || k >= len(q) || q[k].checkout != leave {
		f.early[user] = append(f.early[user], leave)
		return
	}
	f.onMatch(max(0, at.Sub(q[k].done)))
	if q = q[k+1:]; len(q) == 0 {
		delete(f.pending, user)
	} else {
		f.pending[user] = q
	}
}

// sweep drops the calls noted before before whose event never came, and counts them.
func (f *feedMatcher) sweep(before time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	var first error
	for user, q := range f.pending {
		for len(q) > 0 && q[0].done.Before(before) {
			n++
			if first == nil {
				first = fmt.Errorf("no feed event for user %s %s after the 200 of their call", user, feedMissingAfter)
			}
			q = q[1:]
		}
		if len(q) == 0 {
			delete(f.pending, user)
		} else {
			f.pending[user] = q
		}
	}
	return n, first
}

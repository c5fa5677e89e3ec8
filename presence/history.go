package presence

import (
	"context"
	"sync"
	"time"

	"github.com/vibepass/vibepass"
)

// History returns how many were present at the end of each of the last 60 minutes,
// computed in the database from the passes' history at most once a minute of now (the
// last point is when it was computed).
func (s *Service) History(ctx context.Context, now time.Time) ([]vibepass.PresencePoint, error) {
	return s.history.get(ctx, now.Truncate(time.Minute), s.store.PresenceHistory)
}

// historyCache keeps the history's points for the minute they were computed in: the query
// reads an hour of passes, and however many model callers ask, it runs at most once a
// minute per proxy. Callers that ask while it runs wait for that run.
type historyCache struct {
	mu     sync.Mutex // held through a computation
	minute time.Time
	points []vibepass.PresencePoint
}

// get returns the points of minute, computing them with compute unless they are kept.
// A failed computation is not kept.
func (h *historyCache) get(ctx context.Context, minute time.Time, compute func(context.Context) ([]vibepass.PresencePoint, error)) ([]vibepass.PresencePoint, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.points != nil && h.minute.Equal(minute) {
		return h.points, nil
	}
	points, err := compute(ctx)
	if err != nil {
		return nil, err
	}
	h.minute, h.points = minute, points
	return points, nil
}

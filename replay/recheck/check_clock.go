package recheck

import (
	"container/heap"
	"sync"
	"time"

	"github.com/lifeline-vm/lifeline/engine"
)

// vclock is the virtual clock of a replay: time moves only when the
// replayer advances it, and timers fire one at a time, in order, on the
// replayer's goroutine. It implements engine.Clock.
type vclock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers timerHeap
}

var _ engine.Clock = (*vclock)(nil)

func newVClock(start time.Time) *vclock { return &vclock{now: start} }

// Now returns the virtual time.
func (c *vclock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d. f runs when the replayer advances past
// that time, never from inside AfterFunc.
func (c *vclock) AfterFunc(d time.Duration, f func()) engine.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &vtimer{c: c, due: c.now.Add(max(d, 0)), seq: c.seq, f: f}
	heap.Push(&c.timers, t)
	return t
}

// next removes the earliest timer due at or before limit, moves the clock
// to its time, and returns its function; ok is false when none is due.
func (c *vclock) next(limit time.Time) (f func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 || c.timers[0].due.After(limit) {
		return nil, false
	}
	t := heap.Pop(&c.timers).(*vtimer)
	if t.due.After(c.now) {
		c.now = t.due
	}
	return t.f, true
}

// peek returns the time of the earliest timer due at or before limit;
// ok is false when none is due.
func (c *vclock) peek(limit time.Time) (due time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 || c.timers[0].due.After(limit) {
		return time.Time{}, false
	}
	return c.timers[0].due, true
}

// set moves the clock forward to t (never back).
func (c *vclock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

type vtimer struct {
	c     *vclock
	due   time.Time
	seq   uint64
	f     func()
	index int // in the heap, -1 once fired or stopped
}

// Stop cancels the timer; it reports whether it was still pending.
func (t *vtimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.timers, t.index)
	return true
}

// timerHeap orders timers by due time, then by creation.
type timerHeap []*vtimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*vtimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

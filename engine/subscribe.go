package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/lifeline-vm/lifeline/store"
)

// MaxSubscriberBytes bounds, in bytes of records (see recordSize), how far
// one subscriber may fall behind before it is cut off with a
// *TooSlowError: a reader that does not read never makes the daemon grow.
const MaxSubscriberBytes = 4 << 20

// recordOverhead is what recordSize counts for a record besides its
// strings: the struct (360 bytes on 64-bit, its cause 136 of them) and its
// share of the queue.
const recordOverhead = 384

// recordSize is the memory a queued record holds, approximately.
func recordSize(r store.Record) int {
	return recordOverhead + len(r.VM) + len(r.Reason) + len(r.Cause.Err) + len(r.Cause.Detail) + len(r.Agent.BootID) + len(r.VMProcess.BootID)
}

// TooSlowError ends a subscription whose reader fell more than Limit bytes
// behind. Its queue was dropped: ResumeSeq is the first record it did not
// deliver, where a new subscription continues without a gap. It wraps
// ErrSubscriberTooSlow.
type TooSlowError struct {
	ResumeSeq uint64
	Limit     int
}

func (e *TooSlowError) Error() string {
	return fmt.Sprintf("%v: fell more than %d bytes behind; resume from seq %d", ErrSubscriberTooSlow, e.Limit, e.ResumeSeq)
}

// Unwrap returns ErrSubscriberTooSlow.
func (e *TooSlowError) Unwrap() error { return ErrSubscriberTooSlow }

// publisher hands committed records to subscribers in global sequence
// order. Appends of different VMs commit concurrently and may return out of
// order; publish holds a record until every lower sequence was published.
type publisher struct {
	st Store

	mu      sync.Mutex
	next    uint64                  // the next sequence to deliver
	pending map[uint64]store.Record // committed, waiting for a lower seq
	heads   map[string]store.Head   // every VM as of next-1
	subs    map[*subscriber]struct{}
	closed  bool
	// maxBytes bounds each subscriber's queue (Options.SubscriberBytes).
	maxBytes int
}

func newPublisher(st Store, heads []store.Head, maxBytes int) *publisher {
	if maxBytes <= 0 {
		maxBytes = MaxSubscriberBytes
	}
	p := &publisher{
		st:      st,
		next:    st.LastSeq() + 1,
		pending: make(map[uint64]store.Record),
		heads:   make(map[string]store.Head, len(heads)),
		subs:    make(map[*subscriber]struct{}),

		maxBytes: maxBytes,
	}
	for _, h := range heads {
		p.heads[h.VM] = h
	}
	return p
}

func (p *publisher) publish(rec store.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending[rec.Seq] = rec
	p.flush()
}

// flush needs p.mu.
func (p *publisher) flush() {
	for {
		rec, ok := p.pending[p.next]
		if !ok {
			return
		}
		delete(p.pending, p.next)
		p.next++
		p.heads[rec.VM] = p.heads[rec.VM].Apply(rec)
		for s := range p.subs {
			if !s.push(rec, p.maxBytes) {
				delete(p.subs, s)
			}
		}
	}
}

// resync is called after a failed append: the store may have committed
// records whose append reported an error, and they must still be
// delivered, in order.
func (p *publisher) resync() {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := p.st.LastSeq()
	if last < p.next {
		return
	}
	err := p.st.Records(p.next, func(r store.Record) error {
		if r.Seq > last {
			return errStop
		}
		p.pending[r.Seq] = r
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return
	}
	p.flush()
}

var errStop = errors.New("stop")

func (p *publisher) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for s := range p.subs {
		s.end(ErrClosed)
	}
	p.subs = map[*subscriber]struct{}{}
}

// subscriber queues live records for one Subscription.
type subscriber struct {
	mu     sync.Mutex
	queue  []store.Record
	bytes  int // recordSize of the queue
	err    error
	notify chan struct{}
}

// push queues rec, or, when the queue would exceed max bytes, drops the
// queue and ends the subscriber with a *TooSlowError naming the first
// record it will not deliver.
func (s *subscriber) push(rec store.Record, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	size := recordSize(rec)
	if s.bytes+size > max {
		resume := rec.Seq
		if len(s.queue) > 0 {
			resume = s.queue[0].Seq
		}
		s.queue, s.bytes = nil, 0
		s.err = &TooSlowError{ResumeSeq: resume, Limit: max}
		s.signal()
		return false
	}
	s.queue = append(s.queue, rec)
	s.bytes += size
	s.signal()
	return true
}

// queued returns the bytes s holds.
func (s *subscriber) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

func (s *subscriber) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
	s.signal()
}

// signal needs s.mu.
func (s *subscriber) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Subscription delivers records, history first and then live, each exactly
// once and in global sequence order.
type Subscription struct {
	// C delivers the records. It is closed when the subscription ends; Err
	// then says why.
	C <-chan store.Record

	mu  sync.Mutex
	err error
}

// Err returns why C was closed: the context's error, ErrClosed,
// ErrSubscriberTooSlow or a store error. It is nil while C is open.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Subscribe delivers every record with Seq >= fromSeq: those already in the
// log, then those committed later, with no gap and no duplicate. fromSeq 0
// means from the start.
func (e *Engine) Subscribe(ctx context.Context, fromSeq uint64) (*Subscription, error) {
	s, boundary, err := e.pub.subscribe()
	if err != nil {
		return nil, err
	}
	return e.serve(ctx, s, boundary, fromSeq), nil
}

func (e *Engine) serve(ctx context.Context, s *subscriber, boundary, fromSeq uint64) *Subscription {
	c := make(chan store.Record)
	sub := &Subscription{C: c}
	finish := func(err error) {
		sub.mu.Lock()
		sub.err = err
		sub.mu.Unlock()
		close(c)
	}
	if !e.goServe(func() { finish(e.pub.serve(ctx, e.ctx, s, boundary, fromSeq, c)) }) {
		e.pub.unsubscribe(s)
		finish(ErrClosed)
	}
	return sub
}

// subscribe registers a subscriber; records below boundary are history.
func (p *publisher) subscribe() (*subscriber, uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, 0, ErrClosed
	}
	s := &subscriber{notify: make(chan struct{}, 1)}
	p.subs[s] = struct{}{}
	return s, p.next, nil
}

func (p *publisher) unsubscribe(s *subscriber) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.subs, s)
}

func (p *publisher) serve(ctx, engineCtx context.Context, s *subscriber, boundary, from uint64, c chan<- store.Record) error {
	defer p.unsubscribe(s)
	send := func(r store.Record) error {
		select {
		case c <- r:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-engineCtx.Done():
			return ErrClosed
		}
	}
	if from < boundary {
		err := p.st.Records(from, func(r store.Record) error {
			if r.Seq >= boundary {
				return errStop
			}
			return send(r)
		})
		if err != nil && !errors.Is(err, errStop) {
			return fmt.Errorf("subscribe: read history from seq %d: %w", from, err)
		}
	}
	for {
		s.mu.Lock()
		q, err := s.queue, s.err
		s.queue, s.bytes = nil, 0
		s.mu.Unlock()
		for _, r := range q {
			if r.Seq < from {
				continue
			}
			if err := send(r); err != nil {
				return err
			}
		}
		if err != nil && len(q) == 0 {
			return err
		}
		if err != nil {
			continue
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return ctx.Err()
		case <-engineCtx.Done():
			return ErrClosed
		}
	}
}

// WaitFor waits until cond holds for the VM's head and returns that head.
// A VM that does not exist (or was deleted) has a head in state Absent. It
// returns ctx's error when ctx ends first; callers bound it.
func (e *Engine) WaitFor(ctx context.Context, name string, cond func(store.Head) bool) (store.Head, error) {
	e.pub.mu.Lock()
	return e.waitLocked(ctx, name, cond)
}

// WaitForSince is [Engine.WaitFor] from a sequence: cond is asked of the
// VM's head after each of its records with a seq above since, in order, so
// a state the VM passed through after since counts even when it has moved
// on since (a command answers with its record's seq; a wait from that seq
// misses nothing in between). When the VM has no record after since, its
// current head is asked first, as WaitFor does. A head folded from history
// starts at the state the first such record left, so it holds only what
// the records after since carried.
func (e *Engine) WaitForSince(ctx context.Context, name string, since uint64, cond func(store.Head) bool) (store.Head, error) {
	e.pub.mu.Lock()
	if e.pub.heads[name].Seq <= since {
		return e.waitLocked(ctx, name, cond)
	}
	e.pub.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := store.Head{VM: name}
	sub, err := e.Subscribe(ctx, since+1)
	if err != nil {
		return h, fmt.Errorf("vm %q: wait: %w", name, err)
	}
	folded := false
	for rec := range sub.C {
		if rec.VM != name {
			continue
		}
		if !folded {
			h.State, folded = rec.From, true
		}
		h = h.Apply(rec)
		if cond(h) {
			return h, nil
		}
	}
	err = sub.Err()
	if err == nil {
		err = ErrClosed
	}
	return h, fmt.Errorf("vm %q: wait: %w", name, err)
}

// waitLocked is WaitFor from the head the publisher holds; it is called
// with e.pub.mu held and releases it. The head and the subscription are
// taken under that one lock: every record after the head is delivered
// live, none is missed, and no history is read.
func (e *Engine) waitLocked(ctx context.Context, name string, cond func(store.Head) bool) (store.Head, error) {
	h := e.pub.heads[name]
	if cond(h) {
		e.pub.mu.Unlock()
		return h, nil
	}
	if e.pub.closed {
		e.pub.mu.Unlock()
		return h, fmt.Errorf("vm %q: wait: %w", name, ErrClosed)
	}
	s := &subscriber{notify: make(chan struct{}, 1)}
	e.pub.subs[s] = struct{}{}
	boundary := e.pub.next
	e.pub.mu.Unlock()

	// The subscription ends with the wait, whatever the caller's context.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub := e.serve(ctx, s, boundary, boundary)
	for rec := range sub.C {
		if rec.VM != name {
			continue
		}
		h = h.Apply(rec)
		if cond(h) {
			return h, nil
		}
	}
	err := sub.Err()
	if err == nil {
		err = ErrClosed
	}
	return h, fmt.Errorf("vm %q: wait: %w", name, err)
}

// Subscribers returns how many subscriptions (Subscribe, WaitFor) are
// live: for metrics, and for tests that must act after a wait began.
func (e *Engine) Subscribers() int {
	e.pub.mu.Lock()
	defer e.pub.mu.Unlock()
	return len(e.pub.subs)
}

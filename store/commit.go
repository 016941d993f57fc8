package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// maxBatch bounds how many appends share one transaction.
const maxBatch = 1024

// MaxNameLen is the longest VM name, in bytes.
const MaxNameLen = 255

// Write is one append: a record and, optionally, the VM's new spec.
type Write struct {
	// Record is filled by the caller: VM, Event, From, To, Time, Agent,
	// Driver, Deadline, Cause. The store assigns Seq, VMSeq, Boot and
	// SpecHash, whatever the caller put there, and Reason, the cause's
	// sentence: a caller's Reason must be empty or that sentence (or the
	// one an earlier build rendered of the same cause: Cause.renderV1).
	Record Record
	// Spec, when non-nil, becomes the VM's spec in the same transaction,
	// and the record's SpecHash is its SHA-256. When nil, the spec is
	// unchanged and SpecHash is zero.
	Spec []byte
}

// request is an append on its way to a commit.
type request struct {
	w    Write
	rec  Record
	err  error
	done chan struct{} // closed when rec and err are set; nil if committed by its own goroutine
}

// testHookCommit, when set, runs before each batch is committed.
var testHookCommit func(n int)

// errNoWrites rolls back a batch whose appends were all rejected.
var errNoWrites = errors.New("no writes")

// Append checks w's record against the VM's head and, in one transaction,
// writes it with the VM's new head and spec, and returns it as stored.
// The record's From must be the VM's state (Absent for a VM never created
// or deleted), else an error wrapping [ErrConflict]; its To must be where
// the transition table leads, else a *states.InvalidTransitionError or
// [ErrInvalidRecord]. A rejected append writes nothing. When Append
// returns nil the record is durable (unless [Options.NoSync]).
//
// An Append made while no commit is running commits at once, on the
// caller's goroutine; ctx does not interrupt it. Appends made while a
// commit runs wait, and the next commit writes them all in one
// transaction. If ctx ends while an append waits, it is withdrawn and
// Append returns ctx's error; if ctx ends after its commit began, Append
// returns ctx's error but the record may still be committed.
func (s *Store) Append(ctx context.Context, w Write) (Record, error) {
	if s.readOnly {
		return Record{}, fmt.Errorf("vm %q: append: %w", w.Record.VM, ErrReadOnly)
	}
	if err := checkWrite(&w); err != nil {
		return Record{}, err
	}
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("vm %q: append: %w", w.Record.VM, err)
	}
	req := &request{w: w}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Record{}, fmt.Errorf("vm %q: append: %w", w.Record.VM, ErrClosed)
	}
	if !s.busy { // nobody commits: lead, on this goroutine
		s.busy = true
		s.mu.Unlock()
		s.commit([]*request{req})
		s.handOff()
		return req.rec, req.err
	}
	req.done = make(chan struct{})
	s.pending = append(s.pending, req)
	s.mu.Unlock()
	select {
	case <-req.done:
		return req.rec, req.err
	case <-ctx.Done():
		if s.withdraw(req) {
			return Record{}, fmt.Errorf("vm %q: append: not written: %w", w.Record.VM, ctx.Err())
		}
		return Record{}, fmt.Errorf("vm %q: append: %w (the record may still commit)", w.Record.VM, ctx.Err())
	}
}

// handOff ends a commit made by an appender: appends that queued meanwhile
// go to the committer goroutine, so that the appender can return.
func (s *Store) handOff() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 {
		s.wake <- struct{}{} // never blocks: only the busy holder sends, once
		return
	}
	s.busy = false
	s.idle.Broadcast()
}

// withdraw takes req out of pending, if no commit took it yet.
func (s *Store) withdraw(req *request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.pending, req)
	if i >= 0 {
		s.pending = slices.Delete(s.pending, i, i+1)
	}
	return i >= 0
}

// failPending fails every waiting append with ErrClosed. s.mu is held.
func (s *Store) failPending() {
	for _, r := range s.pending {
		r.err = fmt.Errorf("vm %q: append: %w", r.w.Record.VM, ErrClosed)
		close(r.done)
	}
	s.pending = nil
}

// commitLoop is the committer goroutine. Woken by handOff, it commits
// everything pending in one transaction, then what queued during that
// commit, and so on until nothing is pending. No delay is added: while one
// commit syncs, the next batch queues.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*request, 0, maxBatch)
	for range s.wake {
		for {
			s.mu.Lock()
			if len(s.pending) == 0 {
				s.busy = false
				s.idle.Broadcast()
				s.mu.Unlock()
				break
			}
			n := min(len(s.pending), maxBatch)
			batch = append(batch[:0], s.pending[:n]...)
			rest := copy(s.pending, s.pending[n:])
			clear(s.pending[rest:])
			s.pending = s.pending[:rest]
			s.mu.Unlock()
			s.commit(batch)
			clear(batch)
		}
	}
}

// checkWrite rejects what no head can make valid, normalizes the times to
// what the file keeps, and copies the spec (the caller may reuse it once
// Append returns, even on a cancelled ctx).
func checkWrite(w *Write) error {
	r := &w.Record
	var ok1, ok2 bool
	r.Time, ok1 = normTime(r.Time)
	r.Deadline, ok2 = normTime(r.Deadline)
	var ok3 bool
	r.Cause.Deadline, ok3 = normTime(r.Cause.Deadline)
	reason := r.Cause.Render(r.Event)
	var why string
	switch {
	case r.VM == "":
		why = "no VM name"
	case len(r.VM) > MaxNameLen:
		why = fmt.Sprintf("VM name is %d bytes, max %d", len(r.VM), MaxNameLen)
	case !r.Event.Valid():
		why = fmt.Sprintf("undeclared event %d", uint8(r.Event))
	case !r.From.Valid() || !r.To.Valid():
		why = fmt.Sprintf("undeclared state in %s→%s", r.From, r.To)
	case !ok1 || !ok2 || !ok3:
		why = "time out of range (years 1678 to 2262)"
	case !r.Cause.Kind.Valid():
		why = fmt.Sprintf("undeclared cause kind %d", uint8(r.Cause.Kind))
	case !fitsInt32(r.Cause.Code) || !fitsInt32(r.Cause.Signal) || r.Cause.N < 0 || !fitsInt32(r.Cause.N) || r.Cause.Limit < 0 || !fitsInt32(r.Cause.Limit):
		why = "a cause's exit code, signal or restart count out of range"
	case r.Reason != "" && r.Reason != reason && r.Reason != r.Cause.renderV1(r.Event):
		// A copied record (a fleet stream's) may carry the sentence an
		// earlier build rendered; the cause is the same, and the store
		// renders today's.
		why = fmt.Sprintf("reason %q is not its cause's sentence %q (set Cause; the store renders Reason)", r.Reason, reason)
	case len(w.Spec) > bolt.MaxValueSize:
		why = fmt.Sprintf("spec is %d bytes, max %d", len(w.Spec), bolt.MaxValueSize)
	default:
		r.Seq, r.VMSeq, r.Boot, r.SpecHash = 0, 0, 0, SpecHash{}
		r.Reason = reason
		if w.Spec != nil {
			w.Spec = bytes.Clone(w.Spec)
			r.SpecHash = sha256.Sum256(w.Spec)
		}
		return nil
	}
	return fmt.Errorf("vm %q: append %s: %s: %w", r.VM, r.Event, why, ErrInvalidRecord)
}

func fitsInt32(n int) bool { return n >= math.MinInt32 && n <= math.MaxInt32 }

// commit writes a batch in one transaction, in order, and answers each
// request. A rejected append fails alone; a failed commit fails them all.
func (s *Store) commit(batch []*request) {
	if testHookCommit != nil {
		testHookCommit(len(batch))
	}
	if s.crashed.Load() {
		for _, r := range batch {
			r.err = fmt.Errorf("vm %q: append: %w", r.w.Record.VM, ErrClosed)
		}
		answer(batch)
		return
	}
	last := s.lastSeq.Load()
	seq := last
	err := s.db.Update(func(tx *bolt.Tx) error {
		seq = last
		records, err := getRecordsBucket(tx)
		if err != nil {
			return err
		}
		heads, err := getHeadsBucket(tx)
		if err != nil {
			return err
		}
		specs, err := getSpecsBucket(tx)
		if err != nil {
			return err
		}
		for _, r := range batch {
			r.rec, r.err = Record{}, nil
			head, err := checkHead(heads, &r.w.Record)
			if err != nil {
				r.err = err
				continue
			}
			if r.rec, err = s.write(records, heads, specs, seq+1, head, &r.w); err != nil {
				return fmt.Errorf("vm %q: %w", r.w.Record.VM, err)
			}
			seq++
		}
		if seq == last {
			return errNoWrites
		}
		return nil
	})
	switch {
	case err == nil:
		s.lastSeq.Store(seq)
		s.commits.Add(1)
	case errors.Is(err, errNoWrites):
	default:
		s.log.Error().Err(err).Int("appends", len(batch)).Msg("store commit failed")
		for _, r := range batch {
			if r.err == nil {
				r.rec, r.err = Record{}, fmt.Errorf("vm %q: append: commit: %w", r.w.Record.VM, err)
			}
		}
	}
	answer(batch)
}

// answer wakes the appenders of a batch that wait for it.
func answer(batch []*request) {
	for _, r := range batch {
		if r.done != nil {
			close(r.done)
		}
	}
}

// checkHead checks r against its VM's head in the transaction and returns
// the head (the zero Head, state Absent, for a VM never created).
func checkHead(heads *bolt.Bucket, r *Record) (Head, error) {
	h, _, err := readHead(heads, r.VM)
	if err != nil {
		return h, fmt.Errorf("vm %q: append: %w", r.VM, err)
	}
	if r.From != h.State {
		return h, fmt.Errorf("vm %q: %s from %s, but the head is %s (seq %d): %w", r.VM, r.Event, r.From, h.State, h.Seq, ErrConflict)
	}
	to, err := states.Next(r.From, r.Event)
	if err != nil {
		var inv *states.InvalidTransitionError
		if errors.As(err, &inv) {
			inv.VM = r.VM
		}
		return h, fmt.Errorf("append: %w", err)
	}
	if to != r.To {
		return h, fmt.Errorf("vm %q: append %s: %s leads to %s, not %s: %w", r.VM, r.Event, r.From, to, r.To, ErrInvalidRecord)
	}
	return h, nil
}

// write puts one checked record, chained to the VM's previous one, the new
// head and the spec, and returns the record as stored.
func (s *Store) write(records, heads, specs *bolt.Bucket, seq uint64, head Head, w *Write) (Record, error) {
	rec := w.Record
	rec.Seq, rec.VMSeq, rec.Boot = seq, head.VMSeq+1, s.boot
	prev := head.Seq
	head = head.Apply(rec)
	if err := records.Put(seqKey(rec.Seq), appendRecord(nil, &rec, prev)); err != nil {
		return Record{}, fmt.Errorf("record seq %d: %w", rec.Seq, err)
	}
	if err := heads.Put([]byte(rec.VM), appendHead(nil, &head)); err != nil {
		return Record{}, fmt.Errorf("head: %w", err)
	}
	if w.Spec != nil {
		if err := specs.Put([]byte(rec.VM), w.Spec); err != nil {
			return Record{}, fmt.Errorf("spec: %w", err)
		}
	}
	return rec, nil
}

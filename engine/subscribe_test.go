package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
)

// A subscriber that reads nothing is bounded in bytes, not records: when
// its queue would pass the bound it is dropped and the subscription ends
// with a *TooSlowError naming the first record it did not deliver; a new
// subscription from there continues without a gap (issue 9, item 10).
func TestSlowSubscriberIsCutOffAndBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		const limit = 4 << 10
		h.e.pub.mu.Lock()
		h.e.pub.maxBytes = limit
		h.e.pub.mu.Unlock()
		h.create("vm1", drivertest.Behavior{})
		from := h.st.LastSeq() + 1
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		sub, err := h.e.Subscribe(ctx, from)
		h.must(err)

		maxQueued, cut := 0, false
		for i := 0; i < 200; i++ {
			h.ok(h.e.Update(bg, "vm1", drivers.Spec{Env: map[string]string{"K": fmt.Sprint(i)}}))
			synctest.Wait()
			h.e.pub.mu.Lock()
			n := 0
			for s := range h.e.pub.subs {
				n++
				maxQueued = max(maxQueued, s.queued())
			}
			h.e.pub.mu.Unlock()
			if n == 0 {
				cut = true
			}
		}
		if !cut {
			t.Fatalf("a subscriber that read nothing of 200 records is still subscribed")
		}
		if maxQueued > limit {
			t.Errorf("subscriber queue reached %d bytes, bound %d", maxQueued, limit)
		}
		var got []uint64
		for r := range sub.C {
			got = append(got, r.Seq)
		}
		var slow *TooSlowError
		if err := sub.Err(); !errors.As(err, &slow) || !errors.Is(err, ErrSubscriberTooSlow) {
			t.Fatalf("subscription ended with %v, want a *TooSlowError", err)
		}
		next := from
		if len(got) > 0 {
			next = got[len(got)-1] + 1
		}
		for i, seq := range got {
			if seq != from+uint64(i) {
				t.Fatalf("delivered %v: not contiguous from %d", got, from)
			}
		}
		if slow.ResumeSeq != next {
			t.Fatalf("resume seq %d, want %d (the first record not delivered)", slow.ResumeSeq, next)
		}
		// Resuming there loses nothing.
		last := h.st.LastSeq()
		sub2, err := h.e.Subscribe(ctx, slow.ResumeSeq)
		h.must(err)
		want := slow.ResumeSeq
		for r := range sub2.C {
			if r.Seq != want {
				t.Fatalf("resumed stream gave seq %d, want %d", r.Seq, want)
			}
			if want == last {
				break
			}
			want++
		}
		if want != last {
			t.Errorf("resumed up to %d of %d", want, last)
		}
	})
}

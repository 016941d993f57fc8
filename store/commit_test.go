package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/states"
)

func create(vm string) Write {
	return Write{Record: Record{VM: vm, Event: states.Create, From: states.Absent, To: states.Stopped}}
}

// TestGroupCommit appends from 64 goroutines at once, with real fsync
// (sharing fsyncs is the point), and checks they shared transactions.
func TestGroupCommit(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "lifeline.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writers, each = 64, 10
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		seqs  []uint64
		start = make(chan struct{})
	)
	for w := range writers {
		wg.Go(func() {
			<-start
			vm := fmt.Sprintf("vm%02d", w)
			from := states.Absent
			for i := range each {
				ev := []states.Event{states.Create, states.Delete}[i%2]
				to, _ := states.Next(from, ev)
				r, err := s.Append(context.Background(), Write{Record: Record{VM: vm, Event: ev, From: from, To: to}})
				if err != nil {
					t.Error(err)
					return
				}
				if r.VMSeq != uint64(i+1) {
					t.Errorf("%s: append %d got vmseq %d", vm, i, r.VMSeq)
				}
				mu.Lock()
				seqs = append(seqs, r.Seq)
				mu.Unlock()
				from = to
			}
		})
	}
	close(start)
	wg.Wait()
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("seqs are not 1..%d: position %d holds %d", writers*each, i, seq)
		}
	}
	appends, commits := uint64(len(seqs)), s.commits.Load()
	t.Logf("%d appends in %d commits", appends, commits)
	if appends != writers*each || commits >= appends {
		t.Fatalf("%d appends in %d commits: no group commit", appends, commits)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// blockCommitter makes every commit wait before its transaction until
// next lets one through or release lets all through, and reports each
// batch's size on the returned channel.
func blockCommitter(t *testing.T) (batches <-chan int, next, release func()) {
	gate := make(chan struct{})
	sizes := make(chan int, 100)
	testHookCommit = func(n int) { sizes <- n; <-gate }
	t.Cleanup(func() { testHookCommit = nil })
	var once sync.Once
	return sizes, func() { gate <- struct{}{} }, func() { once.Do(func() { close(gate) }) }
}

// waitQueued waits until n appends wait behind the running commit.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	queued := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.pending)
	}
	for deadline := time.Now().Add(10 * time.Second); queued() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", queued(), n)
		}
	}
}

// queueThree appends "a", which commits at once and blocks, then
// "b" and "c", which queue behind it. The appends' errors arrive on the
// returned channel.
func queueThree(t *testing.T, s *Store, batches <-chan int) <-chan error {
	errs := make(chan error, 3)
	for i, vm := range []string{"a", "b", "c"} {
		go func() {
			_, err := s.Append(context.Background(), create(vm))
			errs <- err
		}()
		if i == 0 {
			<-batches
		} else {
			waitQueued(t, s, i)
		}
	}
	return errs
}

// TestBatchRejectsAlone queues appends behind a busy committer, one of them
// invalid, and checks they commit in one transaction without it.
func TestBatchRejectsAlone(t *testing.T) {
	batches, _, release := blockCommitter(t)
	defer release()
	s, err := Open(filepath.Join(t.TempDir(), "lifeline.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	type result struct {
		r   Record
		err error
	}
	results := make([]chan result, 5)
	appendAsync := func(i int, w Write) {
		results[i] = make(chan result, 1)
		go func() {
			r, err := s.Append(context.Background(), w)
			results[i] <- result{r, err}
		}()
	}
	appendAsync(0, create("first")) // taken by the committer, which blocks
	if n := <-batches; n != 1 {
		t.Fatalf("first batch has %d appends", n)
	}
	appendAsync(1, create("a"))
	waitQueued(t, s, 1)
	appendAsync(2, create("a")) // a is already created by the write before it
	waitQueued(t, s, 2)
	appendAsync(3, create("b"))
	waitQueued(t, s, 3)
	appendAsync(4, Write{Record: Record{VM: "b", Event: states.Start, From: states.Stopped, To: states.Starting}})
	waitQueued(t, s, 4)
	release()
	if n := <-batches; n != 4 {
		t.Fatalf("second batch has %d appends, want 4", n)
	}
	var got []result
	for _, c := range results {
		got = append(got, <-c)
	}
	if !errors.Is(got[2].err, ErrConflict) {
		t.Fatalf("the second create of a: %v, want ErrConflict", got[2].err)
	}
	for i, want := range map[int]uint64{0: 1, 1: 2, 3: 3, 4: 4} {
		if got[i].err != nil || got[i].r.Seq != want {
			t.Fatalf("append %d: seq %d, %v; want seq %d", i, got[i].r.Seq, got[i].err, want)
		}
	}
	if c := s.commits.Load(); c != 2 {
		t.Fatalf("%d commits, want 2", c)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestCrashFailsQueued checks that Crash commits nothing still queued and
// leaves the boot open.
func TestCrashFailsQueued(t *testing.T) {
	batches, _, release := blockCommitter(t)
	defer release()
	path := filepath.Join(t.TempDir(), "lifeline.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	errs := queueThree(t, s, batches)
	crashed := make(chan error)
	go func() { crashed <- s.Crash() }()
	for !s.crashed.Load() {
		time.Sleep(time.Millisecond)
	}
	release()
	if err := <-crashed; err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("append during Crash: %v, want ErrClosed", err)
		}
	}
	testHookCommit = nil
	s, err = OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	boots, err := s.Boots()
	if err != nil {
		t.Fatal(err)
	}
	if s.LastSeq() != 0 || len(boots) != 1 || !boots[0].Closed.IsZero() {
		t.Fatalf("after Crash: LastSeq %d, boots %+v; want nothing written, boot 1 open", s.LastSeq(), boots)
	}
}

// TestCancel checks what a cancelled append did: nothing if it was still
// queued; if its commit had begun, it may commit (the documented caveat).
func TestCancel(t *testing.T) {
	batches, next, release := blockCommitter(t)
	defer release()
	s, err := Open(filepath.Join(t.TempDir(), "lifeline.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendCtx := func(vm string) (context.CancelFunc, <-chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error, 1)
		go func() {
			_, err := s.Append(ctx, create(vm))
			errs <- err
		}()
		return cancel, errs
	}
	_, first := appendCtx("first") // commits at once; blocks in the hook
	<-batches
	cancelQueued, queued := appendCtx("queued")
	waitQueued(t, s, 1)
	cancelQueued()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued append = %v, want context.Canceled", err)
	}
	waitQueued(t, s, 0)
	cancelTaken, taken := appendCtx("taken")
	waitQueued(t, s, 1)
	next() // "first" commits; the committer takes "taken" and blocks
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := <-batches; n != 1 {
		t.Fatalf("second batch has %d appends, want 1", n)
	}
	cancelTaken()
	if err := <-taken; !errors.Is(err, context.Canceled) {
		t.Fatalf("taken append = %v, want context.Canceled", err)
	}
	next()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	testHookCommit = nil
	ro, err := OpenReadOnly(s.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for vm, want := range map[string]bool{"first": true, "queued": false, "taken": true} {
		if _, ok, err := ro.Head(vm); ok != want || err != nil {
			t.Errorf("vm %s written: %v (%v), want %v", vm, ok, err, want)
		}
	}
}

func TestCloseDrains(t *testing.T) {
	batches, _, release := blockCommitter(t)
	defer release()
	s, err := Open(filepath.Join(t.TempDir(), "lifeline.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	errs := queueThree(t, s, batches)
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("append queued before Close: %v", err)
		}
	}
	if s.LastSeq() != 3 {
		t.Fatalf("LastSeq %d after Close drained, want 3", s.LastSeq())
	}
	if _, err := s.Append(context.Background(), create("d")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
}

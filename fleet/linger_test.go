package fleet

import (
	"testing"
	"time"
)

// TestRecordsThatComeTogetherLeaveInOneSend: the publisher holds the
// records the engine commits one after another and hands them to the
// NATS client together: with a linger longer than the test, MaxBatch
// records leave in one send (the batch full, whatever the timing), each
// still acknowledged on its own, and the stream equals the log. The
// engine committed them all while the publisher held them.
func TestRecordsThatComeTogetherLeaveInOneSend(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", srv.ClientURL(), func(o *Options) { o.Linger = time.Hour })
	if s := th.h.sends.Load(); s != 0 {
		t.Fatalf("an empty log made %d sends; want 0", s)
	}
	churn(t, th.e, "vm", MaxBatch) // returns: the engine did not wait for the publisher
	th.waitCaughtUp(10 * time.Second)
	if s, p := th.h.sends.Load(), th.h.published.Load(); s != 1 || p != MaxBatch {
		t.Fatalf("%d records acknowledged in %d sends; want %d in 1", p, s, MaxBatch)
	}
	sameRecords(t, localRecords(t, th.st), streamRecords(t, jsOf(t, srv.ClientURL()), th.name))
}

// TestALoneRecordLeavesAfterTheLinger: a record that comes alone is held
// for the linger, no longer: it is acknowledged with no other record
// after it, not before the linger has passed since its commit.
func TestALoneRecordLeavesAfterTheLinger(t *testing.T) {
	const linger = 300 * time.Millisecond
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", srv.ClientURL(), func(o *Options) { o.Linger = linger })
	start := time.Now()
	churn(t, th.e, "vm", 1)
	th.waitCaughtUp(10 * time.Second) // a bounded poll: the record leaves alone
	if el := time.Since(start); el < linger {
		t.Fatalf("the record was acknowledged %v after its commit, before the linger (%v) passed: it was not held", el, linger)
	}
	if s, p := th.h.sends.Load(), th.h.published.Load(); s != 1 || p != 1 {
		t.Fatalf("%d records acknowledged in %d sends; want 1 in 1", p, s)
	}
}

// TestHeldRecordsLeaveWhenTheEngineCloses: records the publisher holds
// when the engine closes (the daemon stops) are sent then, not dropped
// or left to the linger: with a linger of an hour, a clean stop
// publishes them and the stream equals the log.
func TestHeldRecordsLeaveWhenTheEngineCloses(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", srv.ClientURL(), func(o *Options) { o.Linger = time.Hour })
	churn(t, th.e, "vm", 10)
	if err := th.e.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-th.done:
		th.done <- nil // for th.stop
	case <-time.After(10 * time.Second):
		t.Fatal("the Host did not end within 10s of the engine's close")
	}
	local := localRecords(t, th.st)
	if a := th.h.Acked(); a != uint64(len(local)) {
		t.Fatalf("the stream acknowledged up to seq %d; want %d (the log's last)", a, len(local))
	}
	sameRecords(t, local, streamRecords(t, jsOf(t, srv.ClientURL()), th.name))
}

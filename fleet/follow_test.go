package fleet

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// follow reads host's stream from record seq since with streamFrom (what
// `lifeline events --follow --fleet URL --host H` reads) and returns the
// record seqs of the first n messages, failing if they do not come
// within 20s or the reading ends first.
func follow(t *testing.T, js jetstream.JetStream, host string, since uint64, n int) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []uint64
	err := streamFrom(ctx, js, host, since, "", nil, func(m jetstream.Msg) error {
		seq, err := strconv.ParseUint(m.Headers().Get(HeaderSeq), 10, 64)
		if err != nil {
			t.Fatalf("a message without a record seq: %v", err)
		}
		if got = append(got, seq); len(got) == n {
			cancel()
		}
		return nil
	})
	if len(got) < n {
		t.Fatalf("following host %s from seq %d: records %v, then %v; want %d records", host, since, got, err, n)
	}
	return got
}

// TestFollowFromTheStreamAfterItsLastMessageWasDeleted: following a
// host's records from its stream works when the stream's last message
// was deleted (before, finding where to start asked for that message
// and failed: "message not found"), and, once the publisher has sent
// the deleted record again (a sequence later than where it was), from
// a record before it: the follow starts at that record, not one after
// it (before, it mapped record seqs to stream seqs by the last
// message's offset, which the records before it do not have, and
// skipped one).
func TestFollowFromTheStreamAfterItsLastMessageWasDeleted(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", srv.ClientURL(), func(o *Options) { o.Duplicates = time.Second })
	churn(t, th.e, "vm", 10)
	th.waitCaughtUp(20 * time.Second)
	n := th.st.LastSeq()
	js := jsOf(t, srv.ClientURL())
	s, err := js.Stream(t.Context(), StreamName(th.name))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(t.Context(), info.State.LastSeq); err != nil {
		t.Fatal(err)
	}
	if got := follow(t, js, th.name, n-2, 2); got[0] != n-2 || got[1] != n-1 {
		t.Fatalf("following from seq %d after the last message (seq %d) was deleted: %v; want %d, %d", n-2, n, got, n-2, n-1)
	}
	// The publisher sends record n again, after the duplicate window.
	th.waitCaughtUp(30 * time.Second)
	if got := follow(t, js, th.name, n-1, 2); got[0] != n-1 || got[1] != n {
		t.Fatalf("following from seq %d once record %d was sent again: %v; want %d, %d", n-1, n, got, n-1, n)
	}
}

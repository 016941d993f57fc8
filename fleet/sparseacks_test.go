package fleet

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestCatchUpAsksFewAcks: a host catching up on a one-replica stream
// asks the stream for an ack on a few of its records only (each record
// there is taken only right after its predecessor, so an ack says the
// records before it are stored): the server sends far fewer acks than
// records, and the stream ends equal to the log. A record made while the
// publisher is caught up asks for its ack at once.
func TestCatchUpAsksFewAcks(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	// Every ack of the host's stream, seen on the inboxes.
	watch, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	var acks atomic.Int64
	stream := []byte(`"stream":"` + StreamName("h1") + `"`)
	if _, err := watch.Subscribe("_INBOX.>", func(m *nats.Msg) {
		if bytes.Contains(m.Data, stream) && bytes.Contains(m.Data, []byte(`"seq"`)) && !bytes.Contains(m.Data, []byte(`"config"`)) {
			acks.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	th := newTestHost(t, "h1", "nats://127.0.0.1:1", nil) // no server: the log grows
	churn(t, th.e, "vm", 2000)
	th.kill()
	th.url = srv.ClientURL()
	th.open()
	th.waitCaughtUp(60 * time.Second)
	n := th.st.LastSeq()
	_ = watch.Flush()
	got := acks.Load()
	t.Logf("%d records caught up with %d acks", n, got)
	if got == 0 || got > int64(n)/10 {
		t.Errorf("%d records caught up with %d acks of the stream: want at least one and at most one in ten", n, got)
	}
	js := jsOf(t, srv.ClientURL())
	sameRecords(t, localRecords(t, th.st), streamRecords(t, js, th.name))
	// Live: a record made now is acknowledged without waiting for more.
	before := acks.Load()
	churn(t, th.e, "live", 1)
	th.waitCaughtUp(10 * time.Second)
	eventually(t, 5*time.Second, "the live record's ack", func() bool { return acks.Load() > before })
}

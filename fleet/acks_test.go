package fleet

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go"
)

const testReply = "_INBOX.test."

func ackMsg(seq uint64, data string) *nats.Msg {
	return &nats.Msg{Subject: testReply + strconv.FormatUint(seq, 10), Data: []byte(data)}
}

// runAcks runs h.acks over records 1..n, with the acks given, and
// returns the seq it recorded as acknowledged, whether it stopped the
// attempt, and its error.
func runAcks(t *testing.T, n uint64, replies []*nats.Msg) (acked uint64, stopped bool, err error) {
	t.Helper()
	h := &Host{opts: Options{Host: "h1", AckTimeout: 2 * time.Second}}
	queue := make(chan uint64, n)
	acks := make(chan *nats.Msg, len(replies))
	for _, m := range replies {
		acks <- m
	}
	for s := uint64(1); s <= n; s++ {
		queue <- s
	}
	close(queue)
	err = h.acks(queue, acks, len(testReply), func() { stopped = true })
	return h.acked.Load(), stopped, err
}

// TestAcksMatchedToRecords: the publisher's acks come on one inbox, each
// naming its record's seq in the reply subject; they are matched to the
// records whatever their order, and a reply of no record of this attempt
// is ignored.
func TestAcksMatchedToRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		acked, stopped, err := runAcks(t, 4, []*nats.Msg{
			ackMsg(2, `{"stream":"LIFELINE_h1","seq":12}`),
			{Subject: "_INBOX.test.x", Data: []byte(`{"stream":"LIFELINE_h1","seq":1}`)},
			ackMsg(1, `{"stream":"LIFELINE_h1","seq":11}`),
			ackMsg(3, `{"stream":"LIFELINE_h1","domain":"d","seq":13}`),
			ackMsg(4, `{"seq":14,"stream":"LIFELINE_h1"}`),
		})
		if err != nil || acked != 4 || stopped {
			t.Fatalf("err %v, acked %d, stopped %v; want nil, 4, false", err, acked, stopped)
		}
	})
}

// TestAcksStopAtARefusal: a record the stream refuses (the expected last
// sequence not its own) stops the attempt; what was acknowledged before
// it stays the acknowledged seq, and the records after it are not
// counted even if acknowledged.
func TestAcksStopAtARefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		acked, stopped, err := runAcks(t, 4, []*nats.Msg{
			ackMsg(1, `{"stream":"LIFELINE_h1","seq":11}`),
			ackMsg(2, `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 11"},"stream":"LIFELINE_h1","seq":0}`),
			ackMsg(3, `{"stream":"LIFELINE_h1","seq":13}`),
		})
		if err == nil || !strings.Contains(err.Error(), "record seq 2 not acknowledged") || !strings.Contains(err.Error(), "wrong last sequence: 11") || acked != 1 || !stopped {
			t.Fatalf("err %v, acked %d, stopped %v; want the refusal of seq 2, 1, true", err, acked, stopped)
		}
	})
}

// TestAcksStopAtADuplicate: a duplicate (the stream holds a message with
// the record's id) is not counted as stored, since the id does not say
// whose message it is (a second daemon with this host's name writes the
// same ids): it stops the attempt, and the next one's check of the
// stream's tail decides.
func TestAcksStopAtADuplicate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		acked, stopped, err := runAcks(t, 3, []*nats.Msg{
			ackMsg(1, `{"stream":"LIFELINE_h1","seq":11}`),
			ackMsg(2, `{"stream":"LIFELINE_h1","seq":7,"duplicate": true}`), // the server's own spelling
			ackMsg(3, `{"stream":"LIFELINE_h1","seq":12}`),
		})
		if err == nil || !errors.Is(err, errDuplicate) || !strings.Contains(err.Error(), "record seq 2 not acknowledged") || !strings.Contains(err.Error(), "stream LIFELINE_h1 seq 7") || acked != 1 || !stopped {
			t.Fatalf("err %v, acked %d, stopped %v; want seq 2 a duplicate, 1, true", err, acked, stopped)
		}
	})
}

// TestAcksTimeOut: a record with no ack within AckTimeout stops the
// attempt (the next resends from what the stream holds), after
// AckTimeout and not before.
func TestAcksTimeOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		acked, stopped, err := runAcks(t, 3, []*nats.Msg{ackMsg(1, `{"stream":"LIFELINE_h1","seq":11}`), ackMsg(3, `{"stream":"LIFELINE_h1","seq":13}`)})
		if err == nil || !strings.Contains(err.Error(), "record seq 2 not acknowledged: no ack within 2s") || acked != 1 || !stopped {
			t.Fatalf("err %v, acked %d, stopped %v; want seq 2 timed out, 1, true", err, acked, stopped)
		}
		if el := time.Since(start); el != 2*time.Second {
			t.Fatalf("gave up after %v, want the AckTimeout 2s", el)
		}
	})
}

// TestPubAckErr: the replies a stream gives a publish, read as the
// jetstream client reads them.
func TestPubAckErr(t *testing.T) {
	noResp := &nats.Msg{Subject: testReply + "1", Header: nats.Header{"Status": {"503"}}}
	for _, c := range []struct {
		m    *nats.Msg
		want string // "" for an ack
	}{
		{ackMsg(1, `{"stream":"S","seq":1}`), ""},
		{ackMsg(1, `{"stream":"S","seq":1,"duplicate":true}`), "holds a message with this record's id already (stream S seq 1)"},
		{ackMsg(1, `{"stream":"S","seq":1,"duplicate": true}`), "holds a message with this record's id already (stream S seq 1)"},
		{ackMsg(1, ` {"stream":"S","seq":1}`), ""},
		{ackMsg(1, `{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`), "maximum messages exceeded"},
		{ackMsg(1, `{"stream":"S","error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}`), "wrong last sequence: 3"},
		{noResp, "no stream took the record (status 503"},
		{ackMsg(1, ``), "an empty reply"},
		{ackMsg(1, `{"seq":1}`), "not a JetStream ack"},
		{ackMsg(1, `nonsense`), "not a JetStream ack"},
	} {
		err := pubAckErr(c.m)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("pubAckErr(%q, %v) = %v, want %q", c.m.Data, c.m.Header, err, c.want)
		}
	}
}

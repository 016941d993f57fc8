package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/store"
)

// lockedBuffer is a log sink the test reads while the Host writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// foreignID is the message id of the message another writer puts on a
// host's subjects in these tests.
const foreignID = "another-writer-1"

// injectForeign publishes, as another writer on host's subjects would
// (a second daemon started with the same --fleet-host), a message that
// looks like the host's record seq: the same headers, another message id.
func injectForeign(t testing.TB, js jetstream.JetStream, host string, seq uint64) uint64 {
	t.Helper()
	data, _ := json.Marshal(map[string]any{"seq": seq, "vmSeq": 1, "vm": "intruder", "event": "create", "from": "Absent", "to": "Stopped", "time": time.Now().UTC(), "boot": 1})
	m := &nats.Msg{Subject: RecordSubject(host, "intruder"), Data: data, Header: nats.Header{
		HeaderSeq:             {strconv.FormatUint(seq, 10)},
		HeaderHost:            {host},
		jetstream.MsgIDHeader: {foreignID},
	}}
	ack, err := js.PublishMsg(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// ownRecords is the stream's messages but the foreign one's, as the
// wire's JSON, and whether it still holds the foreign one.
func ownRecords(t testing.TB, js jetstream.JetStream, host string) (own []string, foreign bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all := streamRecords(t, js, host)
	i := 0
	err := readStream(ctx, js, host, false, func(m jetstream.Msg) error {
		if m.Headers().Get(jetstream.MsgIDHeader) == foreignID {
			foreign = true
		} else {
			own = append(own, all[i])
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return own, foreign
}

// stalledHost is a host whose publisher met another writer's message:
// what the tests of each server setup check of it.
type stalledHost struct {
	th   *testHost
	logs *lockedBuffer
	js   jetstream.JetStream
	at   uint64 // the foreign message's stream seq
	n    uint64 // the host's last record before it
}

// foreignWriter runs a host, lets it publish, puts another writer's
// message on its subjects and makes more records, until the publisher
// stops with an error (or, the old code, catches up past it).
func foreignWriter(t *testing.T, url string, tune func(*Options)) *stalledHost {
	t.Helper()
	logs := &lockedBuffer{}
	th := newTestHost(t, "h1", url, func(o *Options) {
		o.Logger = zerolog.New(logs).Level(zerolog.WarnLevel)
		if tune != nil {
			tune(o)
		}
	})
	churn(t, th.e, "before", 30)
	th.waitCaughtUp(20 * time.Second)
	js := jsOf(t, url)
	n := th.h.Acked()
	at := injectForeign(t, js, th.name, n)
	churn(t, th.e, "after", 200)
	eventually(t, 20*time.Second, "the publisher stopped with an error or caught up", func() bool {
		return strings.Contains(logs.String(), `"level":"error"`) || th.h.Acked() == th.st.LastSeq()
	})
	return &stalledHost{th: th, logs: logs, js: js, at: at, n: n}
}

// checkStalled: the publisher counts nothing past the host's last record
// before the foreign message, says so at error level (host, stream,
// stream seq, the foreign message id, what to do), and stays stopped
// while more records come. With prefix, the stream also holds no record
// of the host after a missing one (the records after the foreign message
// were refused, not taken with a gap).
func (sh *stalledHost) checkStalled(t *testing.T, prefix bool) {
	t.Helper()
	th := sh.th
	if got := th.h.Acked(); got != sh.n {
		t.Fatalf("the publisher counts seq %d acknowledged; the host's last record before another writer's message (stream seq %d) is seq %d", got, sh.at, sh.n)
	}
	local := localRecords(t, th.st)
	own, _ := ownRecords(t, sh.js, th.name)
	if len(own) > len(local) {
		t.Fatalf("the stream holds %d records of the host, the log %d", len(own), len(local))
	}
	if prefix {
		sameRecords(t, local[:len(own)], own)
		if t.Failed() {
			t.Fatalf("the stream skipped a record of the log after another writer's message at stream seq %d", sh.at)
		}
	} else {
		sameRecords(t, local[:sh.n], own[:min(uint64(len(own)), sh.n)])
	}
	out := sh.logs.String()
	for _, want := range []string{`"level":"error"`, `"fleet_host":"h1"`, `"stream":"` + StreamName("h1") + `"`, `"msg_id":` + strconv.Quote(foreignID), `"stream_seq":` + strconv.FormatUint(sh.at, 10), "--fleet-host", "delete the stream"} {
		if !strings.Contains(out, want) {
			t.Errorf("the publisher's log does not say %s:\n%s", want, out)
		}
	}
	// It stays stopped while more records come, and says so again after
	// its backoff (at most 32 Retry, 1.6s here).
	lines := strings.Count(out, `"level":"error"`)
	churn(t, th.e, "still", 20)
	eventually(t, 10*time.Second, "the publisher says again that it stopped", func() bool {
		return strings.Count(sh.logs.String(), `"level":"error"`) > lines
	})
	if got := th.h.Acked(); got != sh.n {
		t.Fatalf("the publisher went on from seq %d to %d past another writer's message", sh.n, got)
	}
}

// recoversWhenDeleted: what the error says to do, the stream deleted,
// and the log is published whole again.
func (sh *stalledHost) recoversWhenDeleted(t *testing.T) {
	t.Helper()
	if err := sh.js.DeleteStream(t.Context(), StreamName(sh.th.name)); err != nil {
		t.Fatal(err)
	}
	sh.th.waitCaughtUp(60 * time.Second)
	sameRecords(t, localRecords(t, sh.th.st), streamRecords(t, sh.js, sh.th.name))
}

// TestForeignWriterNeverSkipsARecord: another writer's message on a
// host's subjects, one server: the records after it are refused (each
// expects its predecessor's message id), none is skipped, the publisher
// stops and says why, and the log is published again once the stream is
// deleted.
func TestForeignWriterNeverSkipsARecord(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	sh := foreignWriter(t, srv.ClientURL(), nil)
	sh.checkStalled(t, true)
	sh.recoversWhenDeleted(t)
}

// TestForeignWriterAcrossServerRestart: the same, the server restarted
// while the publisher is stopped: it stays stopped (it checks the
// stream's tail, not what it knew), and once the foreign message alone
// is deleted (the stream's last sequence now a deleted message's, the
// server's last message id a deleted one's) it goes on from the record
// before it, with no gap and no duplicate.
func TestForeignWriterAcrossServerRestart(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	srv := startNATS(t, dir, port)
	sh := foreignWriter(t, srv.ClientURL(), nil)
	srv.Shutdown()
	srv.WaitForShutdown()
	srv = runNATS(t, &natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	sh.js = jsOf(t, srv.ClientURL())
	eventually(t, 20*time.Second, "the publisher back on the restarted server", func() bool {
		_, err := sh.js.Stream(t.Context(), StreamName(sh.th.name))
		return err == nil
	})
	sh.checkStalled(t, true)
	s, err := sh.js.Stream(t.Context(), StreamName(sh.th.name))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(t.Context(), sh.at); err != nil {
		t.Fatal(err)
	}
	sh.th.waitCaughtUp(60 * time.Second)
	sameRecords(t, localRecords(t, sh.th.st), streamRecords(t, sh.js, sh.th.name))
	if _, err := History(t.Context(), sh.js, sh.th.name); err != nil {
		t.Fatal(err)
	}
}

// TestForeignWriterInCluster: the same on a three-node cluster, the
// stream replicated on all three. There the records in flight after the
// refused one can be taken (a replica checks a message id as it applies
// it, and one caught up by a snapshot keeps an old one, so the publisher
// does not send it to a replicated stream): the publisher counts none of
// them, finds the gap when it resumes, stops and says so; once the stream
// is deleted the log is published whole again.
func TestForeignWriterInCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster takes seconds")
	}
	url := startCluster(t)
	sh := foreignWriter(t, url, func(o *Options) { o.Replicas = 3 })
	sh.checkStalled(t, false)
	sh.recoversWhenDeleted(t)
}

// TestTwoDaemonsOneHostName: two daemons started with the same
// --fleet-host, each with its own log, publish at once into one stream.
// Their message ids collide (host, boot, seq), so neither may take the
// other's message for its own: what each counts as acknowledged is its
// own log's records, in the stream's first places, and at least one of
// them stops and says another writer publishes as its host.
func TestTwoDaemonsOneHostName(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	var logsA, logsB lockedBuffer
	a := newTestHost(t, "same", srv.ClientURL(), func(o *Options) { o.Logger = zerolog.New(&logsA).Level(zerolog.WarnLevel) })
	b := newTestHost(t, "same", srv.ClientURL(), func(o *Options) { o.Logger = zerolog.New(&logsB).Level(zerolog.WarnLevel) })
	done := make(chan struct{})
	go func() { defer close(done); churn(t, b.e, "b", 150) }()
	churn(t, a.e, "a", 150)
	<-done
	eventually(t, 20*time.Second, "a daemon says another publishes as its host", func() bool {
		return strings.Contains(logsA.String()+logsB.String(), "--fleet-host")
	})
	js := jsOf(t, srv.ClientURL())
	stream := streamRecords(t, js, "same")
	for _, th := range []*testHost{a, b} {
		n := th.h.Acked()
		if n > uint64(len(stream)) {
			t.Fatalf("daemon %p counts seq %d acknowledged; the stream holds %d messages", th, n, len(stream))
		}
		sameRecords(t, localRecords(t, th.st)[:n], stream[:n])
		t.Logf("a daemon counted %d of its %d records acknowledged", n, th.st.LastSeq())
	}
	if a.h.Acked() > 0 && b.h.Acked() > 0 {
		t.Errorf("both daemons count records acknowledged (%d and %d): the stream's first is one's only", a.h.Acked(), b.h.Acked())
	}
}

// TestResumeChecksTheWholeTail: resume takes the stream's last record
// for this log's only when every message of the stream's tail is the
// log's, in order: a stream that holds the log's records 1..n after
// another writer's message is refused at that message, and one that
// holds them alone resumes after n.
func TestResumeChecksTheWholeTail(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", "nats://127.0.0.1:1", nil) // its own publisher has no server
	churn(t, th.e, "vm", 5)
	nc, err := Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js := jsOfConn(t, nc)
	h, err := New(nc, Options{Host: "h1", Engine: th.e, Log: th.st})
	if err != nil {
		t.Fatal(err)
	}
	publishLog := func(s jetstream.Stream) {
		t.Helper()
		if err := th.st.Records(1, func(r store.Record) error {
			ar := server.RecordOf(r)
			data, _ := appendRecord(nil, &ar)
			_, err := js.PublishMsg(t.Context(), &nats.Msg{Subject: RecordSubject("h1", r.VM), Data: data, Header: nats.Header{
				HeaderSeq: {strconv.FormatUint(r.Seq, 10)}, HeaderHost: {"h1"}, jetstream.MsgIDHeader: {MsgID("h1", r.Boot, r.Seq)},
			}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := h.stream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	at := injectForeign(t, js, "h1", 1)
	publishLog(s)
	_, _, _, err = h.resume(t.Context(), s)
	var fe *foreignError
	if !errors.As(err, &fe) || fe.streamSeq != at || fe.msgID != foreignID || !strings.Contains(err.Error(), "before this log's record seq 1") {
		t.Fatalf("resume on a stream with another writer's message before the log's records: %v; want it refused at stream seq %d, message id %q", err, at, foreignID)
	}
	if err := js.DeleteStream(t.Context(), StreamName("h1")); err != nil {
		t.Fatal(err)
	}
	// (Right after a delete the server may still remove the old store:
	// "error creating store for stream".)
	eventually(t, 10*time.Second, "the stream created again", func() bool {
		s, err = h.stream(t.Context())
		return err == nil
	})
	publishLog(s)
	seq, streamSeq, replicas, err := h.resume(t.Context(), s)
	if err != nil || seq != th.st.LastSeq() || streamSeq != seq || replicas != 1 {
		t.Fatalf("resume on the log's own stream: seq %d, stream seq %d, replicas %d, %v; want %d, %d, 1, nil", seq, streamSeq, replicas, err, th.st.LastSeq(), th.st.LastSeq())
	}
}

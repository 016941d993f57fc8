package fleet

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// removedHost is a host whose stream's duplicate window is short (5s: the removed records are refused for a while, not for the default 10m),
// its warnings and errors in logs, its records published.
func removedHost(t *testing.T, url string, tune func(*Options)) (*testHost, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	th := newTestHost(t, "h1", url, func(o *Options) {
		o.Logger = zerolog.New(logs).Level(zerolog.WarnLevel)
		o.Duplicates = 5 * time.Second
		if tune != nil {
			tune(o)
		}
	})
	churn(t, th.e, "before", 30)
	th.waitCaughtUp(20 * time.Second)
	return th, logs
}

// saysAll fails unless the log says each of want.
func saysAll(t *testing.T, logs *lockedBuffer, want ...string) {
	t.Helper()
	out := logs.String()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the publisher's log does not say %s:\n%s", w, out)
		}
	}
}

// TestRemovedRecordIsSentAgainAfterTheDuplicateWindow: records removed
// from a host's stream while its publisher runs (its last message
// deleted; the stream purged), none taken after them: the publisher
// sees the stream hold fewer messages than it acknowledged, resumes from
// what it holds and sends the removed records again. The server refuses
// them as duplicates while their ids are in the stream's duplicate
// window; the publisher says so (host, stream, record seq, message id,
// stream seq, the window, what to do) rather than only "paused", skips
// nothing (the records made meanwhile wait behind them), and once the
// window has passed the stream holds the log, record for record. Before,
// the removal went unseen and the next record was taken after it: the
// stream lacked the removed records for good.
func TestRemovedRecordIsSentAgainAfterTheDuplicateWindow(t *testing.T) {
	for _, c := range []struct {
		name   string
		remove func(t *testing.T, th *testHost) (seq, streamSeq uint64)
	}{
		{"last message deleted", func(t *testing.T, th *testHost) (uint64, uint64) {
			s, err := jsOfConn(t, th.nc).Stream(t.Context(), StreamName(th.name))
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
			return th.st.LastSeq(), info.State.LastSeq
		}},
		{"stream purged", func(t *testing.T, th *testHost) (uint64, uint64) {
			s, err := jsOfConn(t, th.nc).Stream(t.Context(), StreamName(th.name))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Purge(t.Context()); err != nil {
				t.Fatal(err)
			}
			return 1, 1
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startNATS(t, t.TempDir(), 0)
			th, logs := removedHost(t, srv.ClientURL(), nil)
			seq, streamSeq := c.remove(t, th)
			eventually(t, 10*time.Second, "the publisher says the stream refuses a removed record", func() bool {
				return strings.Contains(logs.String(), "as a duplicate of its message at stream seq")
			})
			saysAll(t, logs, `"fleet_host":"h1"`, `"stream":"`+StreamName("h1")+`"`, `"seq":`+strconv.FormatUint(seq, 10),
				`"stream_seq":`+strconv.FormatUint(streamSeq, 10), `"msg_id":"`+MsgID("h1", 1, seq)+`"`,
				"which it no longer holds (removed by a purge or a message delete)", "duplicate window", "resumes by itself", "delete the stream")
			if got := th.h.Acked(); got >= seq {
				t.Fatalf("the publisher counts seq %d acknowledged; the stream no longer holds seq %d", got, seq)
			}
			churn(t, th.e, "after", 20)
			th.waitCaughtUp(30 * time.Second)
			js := jsOf(t, srv.ClientURL())
			sameRecords(t, localRecords(t, th.st), streamRecords(t, js, th.name))
			if _, err := History(t.Context(), js, th.name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRecordsTakenAfterARemovalStopThePublisher: records removed from a
// host's stream (a purge) and later records taken after them before the
// publisher looked (its check runs as often as the liveness key, an hour
// here): the stream has a gap that publishing cannot fill in order. The
// next attempt (the daemon restarted) finds fewer messages than the
// records the stream's tail says it holds, stops rather than go on past
// the gap, and says why and what to do (host, stream, seq, how many it
// holds, delete the stream); done, the log is published whole again.
// Before, the resume took the tail for whole and went on: the stream
// lacked the purged records for good, with no word.
func TestRecordsTakenAfterARemovalStopThePublisher(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th, logs := removedHost(t, srv.ClientURL(), func(o *Options) { o.Liveness = time.Hour })
	js := jsOf(t, srv.ClientURL())
	purged := th.st.LastSeq()
	s, err := js.Stream(t.Context(), StreamName(th.name))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	churn(t, th.e, "after", 20)
	th.waitCaughtUp(20 * time.Second)
	held := th.st.LastSeq() - purged
	th.stop()
	th.open()
	eventually(t, 10*time.Second, "the publisher stops at the gap and says so", func() bool {
		return strings.Contains(logs.String(), `"level":"error"`)
	})
	saysAll(t, logs, `"fleet_host":"h1"`, `"stream":"`+StreamName("h1")+`"`, `"seq":`+strconv.FormatUint(th.st.LastSeq(), 10),
		`"held":`+strconv.FormatUint(held, 10), "records were removed from it", "gap", "delete the stream")
	if got := th.h.Acked(); got != 0 {
		t.Fatalf("the publisher counts seq %d acknowledged on a stream with a gap", got)
	}
	if err := js.DeleteStream(t.Context(), StreamName(th.name)); err != nil {
		t.Fatal(err)
	}
	th.waitCaughtUp(30 * time.Second)
	sameRecords(t, localRecords(t, th.st), streamRecords(t, js, th.name))
}

// TestStreamWithRetentionLimitsKeepsPublishing: an operator gave a
// host's stream a retention limit (here MaxMsgs; MaxAge and the others
// alike), so the server discards its oldest records and it holds fewer
// messages than the records it took, with no gap at its end. That is no
// removal to stop at: the publisher says once that the stream keeps only
// part of the history, and goes on publishing every record, through a
// restart of the daemon too. Before, the first discard stopped it for
// good ("records were removed ... delete the stream"), and the advice
// held only until the limit was reached again.
func TestStreamWithRetentionLimitsKeepsPublishing(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th, logs := removedHost(t, srv.ClientURL(), func(o *Options) { o.Liveness = 100 * time.Millisecond })
	js := jsOf(t, srv.ClientURL())
	s, err := js.Stream(t.Context(), StreamName(th.name))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.MaxMsgs = 10
	if _, err := js.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	churn(t, th.e, "after", 10)
	th.waitCaughtUp(20 * time.Second)
	// Several of the gap checks' periods (100ms) with the stream short.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	th.stop()
	th.open()
	churn(t, th.e, "later", 5)
	th.waitCaughtUp(20 * time.Second)
	out := logs.String()
	if strings.Contains(out, `"level":"error"`) || strings.Contains(out, "were removed") {
		t.Errorf("the publisher took the limit's discards for a removal:\n%s", out)
	}
	saysAll(t, logs, "retention limits", "max msgs 10", "nats stream edit")
	if info, err := s.Info(t.Context()); err != nil || info.State.Msgs != 10 || info.State.LastSeq != th.st.LastSeq() {
		t.Fatalf("the stream holds %d messages up to stream seq %d (%v); want the last 10, up to seq %d", info.State.Msgs, info.State.LastSeq, err, th.st.LastSeq())
	}
	if th.h.LostAcked() != 0 {
		t.Fatalf("LostAcked = %d on a stream that lost nothing it was not told to", th.h.LostAcked())
	}
}

// TestRemovalIsNotCountedAsLoss: records removed at the stream's end (a
// message delete) are sent again, said as a removal; LostAcked, which
// counts acknowledged records a stream lost (a cluster that lost its
// data), stays zero and nothing is logged as an error. Before, the
// resume after the removal logged "the stream lost records it had
// acknowledged" at error level and counted them.
func TestRemovalIsNotCountedAsLoss(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th, logs := removedHost(t, srv.ClientURL(), func(o *Options) { o.Liveness = 100 * time.Millisecond; o.Duplicates = 100 * time.Millisecond })
	s, err := jsOfConn(t, th.nc).Stream(t.Context(), StreamName(th.name))
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
	eventually(t, 10*time.Second, "the publisher sees the removal", func() bool {
		return strings.Contains(logs.String(), "were removed from this host's stream while it published")
	})
	churn(t, th.e, "after", 5)
	th.waitCaughtUp(30 * time.Second)
	if strings.Contains(logs.String(), `"level":"error"`) || th.h.LostAcked() != 0 {
		t.Fatalf("a removal was taken for a loss (LostAcked %d):\n%s", th.h.LostAcked(), logs.String())
	}
}

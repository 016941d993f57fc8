package fleet

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// outage is how long TestCatchUpAfterOutage keeps the server down:
// $FLEET_OUTAGE (the minute: FLEET_OUTAGE=1m), else 2s.
func outage(t *testing.T) time.Duration {
	if v := os.Getenv("FLEET_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("FLEET_OUTAGE=%q: %v", v, err)
		}
		return d
	}
	return 2 * time.Second
}

// TestCatchUpAfterOutage: the host keeps working on its own log while its
// server is down; when the server is back the stream catches up with no
// gap and no duplicate, and the heads bucket equals the engine's heads.
func TestCatchUpAfterOutage(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	srv := startNATS(t, dir, port)
	th := newTestHost(t, "h1", srv.ClientURL(), nil)
	churn(t, th.e, "before", 30)
	th.waitCaughtUp(10 * time.Second)
	acked := th.h.Acked()

	srv.Shutdown()
	srv.WaitForShutdown()
	down := time.Now()
	d := outage(t)
	n := 0
	for time.Since(down) < d { // the host works on while the server is down
		churn(t, th.e, fmt.Sprintf("during-%d", n), 20)
		n++
		time.Sleep(d / 20)
	}
	if got := th.h.Acked(); got != acked {
		t.Fatalf("the stream acknowledged seq %d while its server was down (seq %d before)", got, acked)
	}
	t.Logf("server down %v; the log grew from seq %d to %d", d, acked, th.st.LastSeq())

	srv = runNATS(t, &natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	th.waitCaughtUp(30 * time.Second)
	js := jsOf(t, srv.ClientURL())
	sameRecords(t, localRecords(t, th.st), streamRecords(t, js, th.name))
	if _, err := History(t.Context(), js, th.name); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "heads equal the engine's", func() bool { return headsEqual(js, th) })
	sameHeads(t, js, th.name, th.e)
}

// TestHostDownIsNotVMStopped: a host that stops (cleanly, or killed: its
// key expires) is shown down, with its VMs as they were.
func TestHostDownIsNotVMStopped(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	a := newTestHost(t, "a", srv.ClientURL(), nil)
	b := newTestHost(t, "b", srv.ClientURL(), nil)
	churn(t, a.e, "vm", 4)
	churn(t, b.e, "vm", 4)
	a.waitCaughtUp(10 * time.Second)
	b.waitCaughtUp(10 * time.Second)
	js := jsOf(t, srv.ClientURL())
	live := func(host string) (bool, int) {
		view, err := List(t.Context(), js)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range view {
			if h.Host == host {
				return h.Live, len(h.VMs)
			}
		}
		return false, 0
	}
	eventually(t, 5*time.Second, "both hosts live with their VMs", func() bool {
		la, na := live("a")
		lb, nb := live("b")
		return la && lb && na == len(a.e.List()) && nb == len(b.e.List())
	})
	th := a.e
	if _, err := a.e.Start(t.Context(), "vm-0"); err != nil {
		t.Fatal(err)
	}
	a.stop() // a clean stop deletes the key at once, after the last heads
	a.e = th // closed: its VMs as it left them
	if a.h.Acked() != a.st.LastSeq() {
		t.Errorf("after a clean stop the stream holds up to seq %d, the log %d", a.h.Acked(), a.st.LastSeq())
	}
	if !headsEqual(js, a) {
		t.Errorf("the heads after a clean stop are not the engine's last: %s", mustJSON(List(t.Context(), js)))
	}
	a.e = nil
	eventually(t, 5*time.Second, "host a down", func() bool { l, _ := live("a"); return !l })
	b.kill() // a killed host's key expires (3 × Liveness)
	eventually(t, 5*time.Second, "host b down", func() bool { l, _ := live("b"); return !l })
	for _, h := range []string{"a", "b"} {
		if _, n := live(h); n != 2 {
			t.Errorf("host %s down shows %d VMs, want its 2", h, n)
		}
	}
}

func mustJSON(v any, err error) string {
	if err != nil {
		return err.Error()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

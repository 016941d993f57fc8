package heavy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/fleet"
	"github.com/lifeline-vm/lifeline/internal/cli"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// TestFleetListShowsDegraded: fleet list shows a VM whose agent says it
// runs only partly (Lima's degraded flag) with "(degraded)" after its
// state, and nothing after the state of one that runs whole. Before, the
// table had no word of it (the JSON always carried "degraded").
func TestFleetListShowsDegraded(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	hosts := []fleet.HostView{
		{Host: "build-1", Live: true, VMs: []api.VM{
			{Name: "runner-1", State: "Running", Since: at, Degraded: true, AgentError: "degraded: port forwarding failed", AgentErrorAt: at},
			{Name: "runner-2", State: "Running", Since: at},
		}},
		{Host: "build-2"},
	}
	var b bytes.Buffer
	if err := printFleet(&b, func(time.Time) string { return "2026-12-01 10:00:00" }, hosts); err != nil {
		t.Fatal(err)
	}
	want := `HOST     HOST STATE  VM        STATE               SINCE                REASON
build-1  up          runner-1  Running (degraded)  2026-12-01 10:00:00  
build-1  up          runner-2  Running             2026-12-01 10:00:00  
build-2  down        -         -                   -                    -
`
	if got := b.String(); got != want {
		t.Errorf("fleet list printed\n%s\nwant\n%s", strings.ReplaceAll(got, " ", "·"), strings.ReplaceAll(want, " ", "·"))
	}
}

// lockedBuffer is a bytes.Buffer a command writes while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// runNATS runs an in-process JetStream server on port over dir.
func runNATS(t *testing.T, dir string, port int) *natsserver.Server {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready within 10s")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// publishRecords publishes host's records from..to (of VM "vm") to its
// stream, made if need be, as a daemon does.
func publishRecords(t *testing.T, url, host string, from, to int) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateStream(t.Context(), jetstream.StreamConfig{Name: fleet.StreamName(host), Subjects: []string{fleet.RecordPrefix + host + ".>"}}); err != nil {
		t.Fatal(err)
	}
	for i := from; i <= to; i++ {
		b, err := json.Marshal(store.Record{Seq: uint64(i), VMSeq: uint64(i), VM: "vm", Event: states.Start, From: states.Stopped, To: states.Starting, Boot: 1, Time: time.Unix(int64(i), 0).UTC()})
		if err != nil {
			t.Fatal(err)
		}
		m := &nats.Msg{Subject: fleet.RecordSubject(host, "vm"), Header: nats.Header{}, Data: b}
		m.Header.Set(fleet.HeaderSeq, strconv.Itoa(i))
		if _, err := js.PublishMsg(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// poll fails unless cond holds within d.
func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFleetEventsFollowSaysItWaitsForTheServer: lifeline fleet events
// --follow whose NATS server restarts says on stderr that it waits for
// the server at its address, and for how long, and that it reads again;
// it prints the records published after the restart, none twice, and
// ends on Ctrl-C (its context). Before, it said nothing.
func TestFleetEventsFollowSaysItWaitsForTheServer(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	srv := runNATS(t, dir, port)
	url := srv.ClientURL()
	publishRecords(t, url, "h1", 1, 3)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errw lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, Tree(), []string{"fleet", "events", "--follow", "--fleet", url, "--host", "h1", "-o", "json"}, &out, &errw)
	}()
	lines := func() int { return strings.Count(out.String(), "\n") }
	poll(t, 10*time.Second, "the first 3 records", func() bool { return lines() == 3 })
	srv.Shutdown()
	srv.WaitForShutdown()
	poll(t, 10*time.Second, "a word on stderr that it waits", func() bool {
		e := errw.String()
		return strings.Contains(e, "waiting for the server for") && strings.Contains(e, url) && strings.Contains(e, "Ctrl-C")
	})
	runNATS(t, dir, port)
	publishRecords(t, url, "h1", 4, 5)
	poll(t, 30*time.Second, "records 4 and 5 after the restart", func() bool { return lines() >= 5 })
	poll(t, 5*time.Second, "a word that it reads again", func() bool { return strings.Contains(errw.String(), "reading again after") })
	var seqs []uint64
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev fleet.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		seqs = append(seqs, ev.Record.Seq)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("records %v, want 1-5 once each", seqs)
	}
	cancel()
	select {
	case code := <-done:
		t.Logf("exit %d; stderr:\n%s", code, errw.String())
	case <-time.After(5 * time.Second):
		t.Fatal("fleet events --follow still running 5s after its context ended")
	}
}

// TestFleetListWithNoServerSaysWhere: lifeline fleet list with no NATS
// server at --fleet fails at once, naming the address and saying to
// start one.
func TestFleetListWithNoServerSaysWhere(t *testing.T) {
	url := fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	var out, errw lockedBuffer
	start := time.Now()
	code := cli.Run(t.Context(), Tree(), []string{"fleet", "list", "--fleet", url}, &out, &errw)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	if code == 0 || !strings.Contains(errw.String(), url) || !strings.Contains(errw.String(), "is a NATS server with JetStream (-js) running there?") {
		t.Errorf("exit %d, stderr %q: want a failure naming %s and saying to start a server", code, errw.String(), url)
	}
}

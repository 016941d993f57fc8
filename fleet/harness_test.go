package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/store"
)

// startNATS runs an in-process JetStream server on port (0: any) over
// dir, and stops it when the test ends.
func startNATS(t testing.TB, dir string, port int) *natsserver.Server {
	t.Helper()
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	return runNATS(t, &natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
}

func runNATS(t testing.TB, o *natsserver.Options) *natsserver.Server {
	t.Helper()
	s, err := natsserver.NewServer(o)
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

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testHost is one host: a store, an engine over the scripted driver (which
// outlives a daemon, as the machine's processes do) and its fleet Host.
type testHost struct {
	t    testing.TB
	name string
	dir  string
	drv  *drivertest.Driver
	url  string
	opts func(*Options)

	st     *store.Store
	e      *engine.Engine
	nc     *nats.Conn
	h      *Host
	cancel context.CancelFunc
	done   chan error
	// running is when the fleet Host's Run began (the engine open).
	running time.Time
	// durable: the store syncs each commit, as a daemon's does; tests
	// use NoSync for speed.
	durable bool
}

func newTestHost(t testing.TB, name, url string, tune func(*Options)) *testHost {
	t.Helper()
	th := &testHost{t: t, name: name, dir: t.TempDir(), drv: drivertest.New(), url: url, opts: tune}
	th.open()
	t.Cleanup(th.stop)
	return th
}

// open starts the daemon: store, engine, fleet Host.
func (th *testHost) open() {
	t := th.t
	t.Helper()
	st, err := store.Open(filepath.Join(th.dir, "lifeline.db"), store.Options{NoSync: !th.durable})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(context.Background(), engine.Options{Store: st, Driver: th.drv, GracefulTimeout: time.Second, TerminateGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := Connect(th.url, nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Host: th.name, Engine: e, Log: st, Handler: server.NewHandler(e, st, server.Options{}), Retry: 50 * time.Millisecond, AckTimeout: 2 * time.Second, Liveness: 200 * time.Millisecond}
	if os.Getenv("FLEET_LOG") != "" {
		o.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	}
	if th.opts != nil {
		th.opts(&o)
	}
	h, err := New(nc, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	th.st, th.e, th.nc, th.h, th.cancel = st, e, nc, h, cancel
	th.done = make(chan error, 1)
	th.running = time.Now()
	go func() { th.done <- h.Run(ctx) }()
}

// kill is what a SIGKILL leaves: the connection cut with publishes in
// flight, no last flush, the store closed as after a crash.
func (th *testHost) kill() {
	if th.e == nil {
		return
	}
	th.nc.Close()
	th.cancel()
	<-th.done
	_ = th.e.Close()
	_ = th.st.Crash()
	th.e = nil
}

// stop is a clean stop: the engine closes, the Host publishes what is
// left and says the host is gone.
func (th *testHost) stop() {
	if th.e == nil {
		return
	}
	_ = th.e.Close()
	// As the daemon does: the Host has a while to send the last records
	// (it cannot when the server is gone), then it is cancelled.
	select {
	case <-th.done:
	case <-time.After(5 * time.Second):
		th.cancel()
		select {
		case <-th.done:
		case <-time.After(10 * time.Second):
			th.t.Errorf("host %s: the fleet Host did not end within 10s of its cancel", th.name)
		}
	}
	th.cancel()
	th.nc.Close()
	_ = th.st.Close()
	th.e = nil
}

// waitCaughtUp polls until the stream holds the whole local log.
func (th *testHost) waitCaughtUp(d time.Duration) {
	th.t.Helper()
	deadline := time.Now().Add(d)
	for th.h.Acked() != th.st.LastSeq() {
		if time.Now().After(deadline) {
			th.t.Fatalf("host %s: stream at seq %d, log at seq %d after %v", th.name, th.h.Acked(), th.st.LastSeq(), d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// localRecords is the host's log, each record as the wire's JSON.
func localRecords(t testing.TB, st *store.Store) []string {
	t.Helper()
	var out []string
	if err := st.Records(1, func(r store.Record) error {
		b, _ := json.Marshal(server.RecordOf(r))
		out = append(out, string(b))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// streamRecords is every message of the host's stream, in stream order,
// as the wire's JSON, with no check (History checks).
func streamRecords(t testing.TB, js jetstream.JetStream, host string) []string {
	t.Helper()
	var out []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := readStream(ctx, js, host, false, func(m jetstream.Msg) error {
		var r store.Record
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			return err
		}
		b, _ := json.Marshal(server.RecordOf(r))
		out = append(out, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameRecords fails unless the stream holds the log, record for record.
func sameRecords(t testing.TB, local, stream []string) {
	t.Helper()
	if len(local) != len(stream) {
		t.Errorf("the log has %d records, the stream %d", len(local), len(stream))
	}
	for i := range min(len(local), len(stream)) {
		if local[i] != stream[i] {
			t.Fatalf("record %d differs:\n log:    %s\n stream: %s", i+1, local[i], stream[i])
		}
	}
}

// sameHeads fails unless the heads bucket holds exactly the engine's VMs.
func sameHeads(t testing.TB, js jetstream.JetStream, host string, e *engine.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	view, err := List(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	got := []byte("[]") // a host with no VM is not in the view
	for _, h := range view {
		if h.Host == host {
			got, _ = json.Marshal(h.VMs)
		}
	}
	var want []any
	for _, v := range e.List() {
		want = append(want, server.VMOf(v))
	}
	if want == nil {
		want = []any{}
	}
	wb, _ := json.Marshal(want)
	if !bytes.Equal(got, wb) {
		t.Errorf("host %s: the heads bucket holds\n %s\nthe engine\n %s", host, got, wb)
	}
}

// eventually polls cond every 10ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seed is the test's random seed: $FLEET_SEED, else the time; printed.
func seed(t testing.TB) int64 {
	s := time.Now().UnixNano()
	if v := os.Getenv("FLEET_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("FLEET_SEED=%q: %v", v, err)
		}
		s = n
	}
	t.Logf("seed %d (replay with FLEET_SEED=%d)", s, s)
	return s
}

// churn makes n records on e: VMs created, updated and deleted.
func churn(t testing.TB, e *engine.Engine, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := e.Create(ctx, name, drivers.Spec{Command: []string{"sleep", "1"}}); err != nil {
			t.Fatal(err)
		}
		i++
		if i%3 == 0 {
			if _, err := e.Delete(ctx, name); err != nil {
				t.Fatal(err)
			}
			i++
		}
	}
}

// headsEqual reports whether the heads bucket holds the engine's VMs.
func headsEqual(js jetstream.JetStream, th *testHost) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	view, err := List(ctx, js)
	if err != nil {
		return false
	}
	var got []byte = []byte("[]")
	for _, h := range view {
		if h.Host == th.name {
			got, _ = json.Marshal(h.VMs)
		}
	}
	want := []any{}
	for _, v := range th.e.List() {
		want = append(want, server.VMOf(v))
	}
	wb, _ := json.Marshal(want)
	return bytes.Equal(got, wb)
}

func drivertestIgnoreInterrupt() drivertest.Behavior {
	return drivertest.Behavior{IgnoreInterrupt: true}
}

func jsOfConn(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/fleet"
	"github.com/lifeline-vm/lifeline/internal/daemon"
	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/store"
)

// The SIGKILL suite of the fleet (issue 13, "exactly once in the stream").
const (
	// fleetKills is how many SIGKILLs the suite deals, over both hosts.
	fleetKills = 20
	// fleetKillMaxGap bounds the random time a daemon runs between its
	// start (it answers on its socket) and its SIGKILL.
	fleetKillMaxGap = 700 * time.Millisecond
	// fleetKillSeedEnv replays a run: the seed the test printed.
	fleetKillSeedEnv = "LIFELINE_FLEETKILL_SEED"
)

// fleetKillHost is one daemon of the suite: a host of the fleet.
type fleetKillHost struct {
	name string
	home string
	args []string
	d    *daemonProc

	kills  int    // SIGKILLs dealt
	behind int    // of which with records of the log not yet in the stream
	gap    uint64 // the most records the stream was behind at a SIGKILL
}

// TestFleetExactlyOnceAcrossSIGKILLs runs two real daemons (two hosts of
// one in-process JetStream server, agent-sim agents) while workers drive
// their VMs through create, start, stop, update and delete, and SIGKILLs
// one of them at seeded random moments, restarting it each time. After a
// clean stop of both, each host's stream holds every record of its log
// once, in order, equal field for field, and nothing else; its messages
// carry the host's subject, headers and message ids; the heads bucket
// holds each host's VMs as its log leaves them.
func TestFleetExactlyOnceAcrossSIGKILLs(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(fleetKillSeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", fleetKillSeedEnv, v, err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with %s=%d)", seed, fleetKillSeedEnv, seed)
	r := rand.New(rand.NewPCG(seed, 13))

	srv := startNATSServer(t, shortTemp(t))
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// A '.' in a host name: its subjects' token must not collide with
	// another host's.
	hosts := []*fleetKillHost{{name: "fk-a"}, {name: "fk.b"}}
	for _, h := range hosts {
		h.home = shortTemp(t)
		h.args = []string{"--fleet", srv.ClientURL(), "--fleet-host", h.name}
		// Registered before any daemon: runs after their cleanups (which
		// stop them), and kills whatever agent is left even when the test
		// failed half-way.
		t.Cleanup(func() { killLeftovers(t, h.home, true) })
	}
	for _, h := range hosts {
		h.d = startDaemonArgs(t, h.home, h.args)
	}

	// Workers: per host, two VMs that start and stop (agents come and go)
	// and two that are only created, updated and deleted (records in
	// quick succession, so a kill meets the publisher mid-batch).
	ctx, stopWork := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for hi, h := range hosts {
		c := client.New(filepath.Join(h.home, api.SocketName))
		for i := range 4 {
			wr := rand.New(rand.NewPCG(seed, uint64(100*hi+i)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				fleetKillWorker(ctx, c, fmt.Sprintf("vm%d", i), i < 2, wr)
			}()
		}
	}
	defer func() { stopWork(); wg.Wait() }()

	for range fleetKills {
		h := hosts[r.IntN(len(hosts))]
		select {
		case err := <-h.d.exited:
			t.Fatalf("host %s: the daemon exited on its own: %v\n%s", h.name, err, readLog(h.home))
		case <-time.After(time.Duration(r.Int64N(int64(fleetKillMaxGap)))):
		}
		// Most kills come right behind a burst of commands: the first
		// one answered (its record committed), the others' records on
		// their way through the log, the engine's subscription and the
		// publisher's window.
		var burst sync.WaitGroup
		if r.IntN(4) > 0 {
			first := make(chan struct{})
			var once sync.Once
			c := client.New(filepath.Join(h.home, api.SocketName))
			for i := range 1 + r.IntN(8) {
				burst.Add(1)
				go func() {
					defer burst.Done()
					fleetKillBurst(c, fmt.Sprintf("burst%d", i))
					once.Do(func() { close(first) })
				}()
			}
			<-first
			time.Sleep(time.Duration(r.Int64N(int64(2 * time.Millisecond))))
		}
		if err := h.d.cmd.Process.Kill(); err != nil {
			t.Fatalf("host %s: SIGKILL: %v", h.name, err)
		}
		<-h.d.exited
		burst.Wait() // the dead daemon's socket answers no more
		h.kills++
		logSeq, streamSeq := lastLocalSeq(t, h.home), lastStreamSeq(t, js, h.name)
		if streamSeq > logSeq {
			t.Fatalf("host %s: after a SIGKILL the stream holds seq %d, the log ends at seq %d", h.name, streamSeq, logSeq)
		}
		if streamSeq < logSeq {
			h.behind++
			h.gap = max(h.gap, logSeq-streamSeq)
		}
		h.d = startDaemonArgs(t, h.home, h.args)
	}
	stopWork()
	wg.Wait()

	total, behind := 0, 0
	for _, h := range hosts {
		h.d.stop(t)
		total += h.kills
		behind += h.behind
		t.Logf("host %s: %d records; %d SIGKILLs, %d of them with records of the log not yet in the stream (at most %d)", h.name, lastLocalSeq(t, h.home), h.kills, h.behind, h.gap)
	}
	if behind == 0 {
		t.Errorf("no SIGKILL came while the stream was behind the log: the test proved nothing; run it again (another seed)")
	}
	for _, h := range hosts {
		checkStreamIsLog(t, js, h)
		checkHeadsAreLog(t, js, h)
		checkLog(t, h.home)
	}
}

// fleetKillWorker drives vm on c until ctx ends: from whatever state the
// VM is in, the next command. Errors are expected (the daemon is killed
// under it): the worker looks again.
func fleetKillWorker(ctx context.Context, c *client.Client, vm string, agents bool, r *rand.Rand) {
	spec := api.Spec{Ready: "agent", GracefulTimeout: time.Second}
	for ctx.Err() == nil {
		v, err := c.Status(ctx, vm)
		var ae *client.Error
		switch {
		case errors.As(err, &ae) && ae.Code == api.CodeNotFound:
			_, err = c.Create(ctx, vm, spec)
		case err != nil:
		case v.State == "Stopped" && agents && r.IntN(4) > 0:
			_, err = c.Start(ctx, vm)
		case v.State == "Stopped" && r.IntN(3) > 0:
			spec.Env = map[string]string{"FLEETKILL_N": strconv.Itoa(r.IntN(1000))}
			_, err = c.Update(ctx, vm, spec)
		case v.State == "Stopped":
			_, err = c.Delete(ctx, vm)
		case v.State == "Running":
			_, err = c.Stop(ctx, vm, r.IntN(2) == 0)
		case v.State == "Broken":
			_, err = c.Reset(ctx, vm)
		default: // in flight: look again soon
			err = errors.New("in flight")
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// fleetKillBurst creates vm, or deletes it when it exists: one record
// either way, quickly (no agent). Errors do not matter here: the daemon
// is about to be killed.
func fleetKillBurst(c *client.Client, vm string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Create(ctx, vm, api.Spec{})
	var ae *client.Error
	if errors.As(err, &ae) && ae.Code == api.CodeExists {
		_, _ = c.Delete(ctx, vm)
	}
}

// startNATSServer runs an in-process JetStream server over dir until the
// test ends.
func startNATSServer(t testing.TB, dir string) *natsserver.Server {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
		StoreDir: dir, NoLog: true, NoSigs: true,
	})
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

// lastLocalSeq is where the log of the (stopped) daemon in home ends.
func lastLocalSeq(t testing.TB, home string) uint64 {
	t.Helper()
	st, err := store.OpenReadOnly(filepath.Join(home, daemon.DBName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.LastSeq()
}

// lastStreamSeq is the log seq of the last record host's stream holds (0:
// none, or no stream yet).
func lastStreamSeq(t testing.TB, js jetstream.JetStream, host string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, fleet.StreamName(host))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		return 0
	}
	m, err := s.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(m.Header.Get(fleet.HeaderSeq), 10, 64)
	if err != nil {
		t.Fatalf("host %s: the stream's last message: header %s: %v", host, fleet.HeaderSeq, err)
	}
	return n
}

// streamMsg is one message of a host's stream as the server holds it.
type streamMsg struct {
	subject string
	header  nats.Header
	data    []byte
}

// rawStream is every message of host's stream, in stream order, with no
// check: what the assertions look at.
func rawStream(t testing.TB, js jetstream.JetStream, host string) []streamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, fleet.StreamName(host))
	if err != nil {
		t.Fatalf("host %s: %v", host, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []streamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("host %s: stream seq %d: %v", host, seq, err)
		}
		out = append(out, streamMsg{m.Subject, m.Header, m.Data})
	}
	if uint64(len(out)) != info.State.Msgs {
		t.Fatalf("host %s: read %d messages, the stream says it holds %d", host, len(out), info.State.Msgs)
	}
	return out
}

// checkStreamIsLog asserts that h's stream holds the records of h's log,
// each once, in order, equal field for field, and nothing else.
func checkStreamIsLog(t *testing.T, js jetstream.JetStream, h *fleetKillHost) {
	t.Helper()
	local := readRecords(t, h.home)
	msgs := rawStream(t, js, h.name)

	// Exactly once: each message id (host, boot, seq) and each seq once.
	ids := map[string]int{}
	seqs := map[string]int{}
	for i, m := range msgs {
		if id := m.header.Get(jetstream.MsgIDHeader); id != "" {
			ids[id]++ // a message without one is said below
		}
		seqs[m.header.Get(fleet.HeaderSeq)]++
		if got := m.header.Get(fleet.HeaderHost); got != h.name {
			t.Errorf("host %s: stream message %d was published by host %q", h.name, i+1, got)
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("host %s: message id %q is in the stream %d times", h.name, id, n)
		}
	}
	for seq, n := range seqs {
		if n > 1 {
			t.Errorf("host %s: record seq %s is in the stream %d times", h.name, seq, n)
		}
	}
	if len(msgs) != len(local) {
		t.Errorf("host %s: the log has %d records, the stream %d messages", h.name, len(local), len(msgs))
	}

	// In order and equal: message i is record i, field for field (the
	// wire's JSON of every field the log keeps), with its subject, seq
	// header and message id.
	for i := range min(len(local), len(msgs)) {
		want, m := local[i], msgs[i]
		var got store.Record
		if err := json.Unmarshal(m.data, &got); err != nil {
			t.Fatalf("host %s: stream message %d: %v", h.name, i+1, err)
		}
		wj, _ := json.Marshal(server.RecordOf(want))
		gj, _ := json.Marshal(server.RecordOf(got))
		if string(wj) != string(gj) {
			t.Fatalf("host %s: record %d differs:\n log:    %s\n stream: %s", h.name, i+1, wj, gj)
		}
		if s := fleet.RecordSubject(h.name, want.VM); m.subject != s {
			t.Errorf("host %s: record seq %d on subject %q, want %q", h.name, want.Seq, m.subject, s)
		}
		if s := m.header.Get(fleet.HeaderSeq); s != strconv.FormatUint(want.Seq, 10) {
			t.Errorf("host %s: record seq %d carries %s=%s", h.name, want.Seq, fleet.HeaderSeq, s)
		}
		if id := fleet.MsgID(h.name, want.Boot, want.Seq); m.header.Get(jetstream.MsgIDHeader) != id {
			t.Errorf("host %s: record seq %d carries message id %q, want %q", h.name, want.Seq, m.header.Get(jetstream.MsgIDHeader), id)
		}
	}
	for _, m := range msgs[min(len(local), len(msgs)):] {
		t.Errorf("host %s: the stream holds a message that is not in the log: %s %s", h.name, m.subject, m.data)
	}

	// The fleet's own reader (what replay --fleet reads) agrees.
	hist, err := fleet.History(context.Background(), js, h.name)
	if err != nil {
		t.Fatalf("host %s: fleet.History: %v", h.name, err)
	}
	if len(hist) != len(local) {
		t.Fatalf("host %s: fleet.History has %d records, the log %d", h.name, len(hist), len(local))
	}
	for i := range hist {
		wj, _ := json.Marshal(server.RecordOf(local[i]))
		gj, _ := json.Marshal(server.RecordOf(hist[i].Record))
		if string(wj) != string(gj) {
			t.Fatalf("host %s: fleet.History record %d differs:\n log:     %s\n history: %s", h.name, i+1, wj, gj)
		}
	}
}

// checkHeadsAreLog asserts that the heads bucket holds h's VMs as its
// log's heads say (a deleted VM has no key), and that h, stopped, is down.
func checkHeadsAreLog(t *testing.T, js jetstream.JetStream, h *fleetKillHost) {
	t.Helper()
	st, err := store.OpenReadOnly(filepath.Join(h.home, daemon.DBName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	heads, err := st.Heads()
	if err != nil {
		t.Fatal(err)
	}
	want := []api.VM{}
	for _, hd := range heads {
		if !hd.State.Live() {
			continue
		}
		v := engine.VM{Name: hd.VM, Head: hd}
		raw, err := st.Spec(hd.VM)
		if err == nil {
			err = json.Unmarshal(raw, &v.Spec)
		}
		if err != nil {
			t.Fatalf("host %s: vm %s: spec: %v", h.name, hd.VM, err)
		}
		want = append(want, server.VMOf(v))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	view, err := fleet.List(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	got := []api.VM{}
	for _, hv := range view {
		if hv.Host == h.name {
			got = hv.VMs
			if hv.Live {
				t.Errorf("host %s: stopped, yet the fleet view says it is up", h.name)
			}
		}
	}
	// VM by VM, so that a failure names the VMs that differ.
	inBucket := map[string]string{}
	for _, v := range got {
		b, _ := json.Marshal(v)
		inBucket[v.Name] = string(b)
	}
	for _, v := range want {
		b, _ := json.Marshal(v)
		g, ok := inBucket[v.Name]
		delete(inBucket, v.Name)
		switch {
		case !ok:
			t.Errorf("host %s: vm %s has no head in the bucket; the log's head is\n %s", h.name, v.Name, b)
		case g != string(b):
			t.Errorf("host %s: vm %s: the bucket's head\n %s\nthe log's\n %s", h.name, v.Name, g, b)
		}
	}
	for vm, g := range inBucket {
		t.Errorf("host %s: vm %s has a head in the bucket and none in the log (deleted): %s", h.name, vm, g)
	}
}

// killLeftovers kills every process of the daemon in home still alive,
// whatever happened to the test: each agent and VM process its log names,
// and (on Linux) each process that runs in its Lima home. Any found is an
// error when leftIsError (a daemon stopped cleanly leaves none); after a
// daemon that had to be killed they are expected (agents outlive a
// daemon's crash) and only logged.
func killLeftovers(t testing.TB, home string, leftIsError bool) {
	var procs []drivers.Proc
	if st, err := store.OpenReadOnly(filepath.Join(home, daemon.DBName), store.Options{Timeout: 5 * time.Second}); err == nil {
		_ = st.Records(0, func(r store.Record) error {
			procs = append(procs, r.Agent, r.VMProcess)
			return nil
		})
		_ = st.Close()
	}
	lima := filepath.Join(home, "lima") + string(filepath.Separator)
	infos, _ := process.Scan(func(pid int) bool {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		return err == nil && strings.HasPrefix(cwd, lima)
	})
	for _, in := range infos {
		procs = append(procs, in.Proc)
	}
	var left []string
	for _, p := range procs {
		if p.IsZero() || process.Check(p) != nil {
			continue
		}
		left = append(left, fmt.Sprintf("pid %d", p.PID))
		if err := process.KillTree(context.Background(), "", p); err != nil {
			t.Errorf("kill left-over pid %d: %v", p.PID, err)
		}
	}
	switch {
	case len(left) > 0 && leftIsError:
		t.Errorf("%s: processes left behind (now killed): %s", home, strings.Join(left, ", "))
	case len(left) > 0:
		t.Logf("%s: the killed daemon's processes (now killed too): %s", home, strings.Join(left, ", "))
	}
}

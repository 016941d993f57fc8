package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
)

// benchNATS starts the benchmark's JetStream server (file storage in a
// temp dir) and returns its URL. By default it runs in the benchmark's
// process. With FLEET_BENCH_NATS=process it is a separate OS process, the
// module's nats-server built with go build into a temp dir, as a server
// on another machine would be; FLEET_BENCH_NATS_CPUS=1 runs it under
// taskset -c 1 (pin the benchmark itself with taskset -c 0 to give each
// its own core).
//
// FLEET_BENCH_NATS_DIR puts the server's storage under that directory
// (e.g. /dev/shm) instead of the host's temp dir: a server on another
// machine does not share the host's disk, and here its writes would
// otherwise slow the host's fsyncs.
func benchNATS(b *testing.B) string {
	b.Helper()
	store := b.TempDir()
	if d := os.Getenv("FLEET_BENCH_NATS_DIR"); d != "" {
		var err error
		if store, err = os.MkdirTemp(d, "fleet-bench-js-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(store) })
	}
	switch mode := os.Getenv("FLEET_BENCH_NATS"); mode {
	case "", "inprocess":
		b.Logf("nats-server: in the benchmark's process, storage in %s", store)
		return startNATS(b, store, 0).ClientURL()
	case "process":
	default:
		b.Fatalf("FLEET_BENCH_NATS=%q: want inprocess or process", mode)
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "nats-server")
	build := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build nats-server: %v\n%s", err, out)
	}
	port := freePort(b)
	args := []string{bin, "-js", "-sd", filepath.Join(store, "js"), "-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	if cpus := os.Getenv("FLEET_BENCH_NATS_CPUS"); cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		b.Fatalf("start nats-server: %v", err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("nats-server (%s) not listening on %s within 10s: %v", strings.Join(args, " "), addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Logf("nats-server: a separate process, %s", strings.Join(args, " "))
	return "nats://" + addr
}

// benchTune sets the Hosts' Options.Linger from FLEET_BENCH_LINGER (a
// duration; negative: each record sent as it comes), to compare lingers
// in one binary; unset, the default.
func benchTune(b *testing.B) func(*Options) {
	v := os.Getenv("FLEET_BENCH_LINGER")
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("FLEET_BENCH_LINGER=%q: %v", v, err)
	}
	return func(o *Options) { o.Linger = d }
}

// BenchmarkCatchUp: a host whose log holds records its stream does not
// (made with the publisher off, as during an outage) starts again with
// the server there; records/s is the catch-up rate into one JetStream
// server, from the daemon's start or from the publisher's.
func BenchmarkCatchUp(b *testing.B) {
	const n = 20000
	url := benchNATS(b)
	for i := range b.N {
		th := newTestHost(b, fmt.Sprintf("catchup-%d", i), "nats://127.0.0.1:1", benchTune(b)) // no server: publishing fails, the log grows
		churn(b, th.e, "vm", n)
		th.kill()
		th.url = url
		stopProfile := profileTimed(b, fmt.Sprintf("catchup-%d", i))
		b.StartTimer()
		start := time.Now()
		cpu0, cpuOK := processCPU()
		th.open()
		th.waitCaughtUp(2 * time.Minute)
		el, pub := time.Since(start), time.Since(th.running)
		cpu1, _ := processCPU()
		b.StopTimer()
		stopProfile()
		if cpuOK {
			// The CPU a record costs, the server's included when it runs
			// in this process: what the rate comes to on a machine whose
			// cores are taken by others too.
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(th.st.LastSeq()), "cpu-µs/record")
		}
		// records/s counts from the daemon's start (the store opened and
		// the engine's recovery of its VMs included); publisher-records/s
		// from the fleet Host's start, the engine open.
		b.ReportMetric(float64(th.st.LastSeq())/el.Seconds(), "records/s")
		b.ReportMetric(float64(th.st.LastSeq())/pub.Seconds(), "publisher-records/s")
		th.stop()
	}
}

// profileTimed writes a CPU profile of a benchmark's timed part (not its
// setup, as -test.cpuprofile would) to $FLEET_BENCH_CPUPROFILE-name.prof
// when that is set; the returned func stops it.
func profileTimed(b *testing.B, name string) func() {
	prefix := os.Getenv("FLEET_BENCH_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(prefix + "-" + name + ".prof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }
}

// BenchmarkPublishLive: records made one after another by the engine
// (create, delete) while the publisher runs; records/s counts until the
// stream acknowledged the last.
func BenchmarkPublishLive(b *testing.B) {
	url := benchNATS(b)
	th := newTestHost(b, "live", url, benchTune(b))
	b.ResetTimer()
	start := time.Now()
	churn(b, th.e, "vm", b.N)
	th.waitCaughtUp(2 * time.Minute)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkFleetList10000: the fleet view of 100 hosts × 100 VMs, their
// heads and liveness in the buckets as hosts write them.
func BenchmarkFleetList10000(b *testing.B) {
	url := benchNATS(b)
	js := jsOf(b, url)
	ctx := context.Background()
	heads, err := headsBucket(ctx, js, 1)
	if err != nil {
		b.Fatal(err)
	}
	hosts, err := hostsBucket(ctx, js, 1, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for h := range 100 {
		host := fmt.Sprintf("host-%03d", h)
		info, _ := json.Marshal(HostInfo{Host: host, PID: 1000 + h, Boot: 1, Since: now, Time: now})
		if _, err := hosts.Put(ctx, host, info); err != nil {
			b.Fatal(err)
		}
		for v := range 100 {
			vm := api.VM{Name: fmt.Sprintf("runner-%03d", v), State: "Running", Seq: uint64(4 * v), VMSeq: 4, Since: now, Event: "running", HostAgentPID: int64(20000 + v), Driver: "lima"}
			val, _ := json.Marshal(vm)
			if _, err := js.PublishAsync("$KV."+HeadsBucket+"."+HeadKey(host, vm.Name), val); err != nil {
				b.Fatal(err)
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("heads not written within a minute")
	}
	_ = heads
	b.ResetTimer()
	for range b.N {
		view, err := List(ctx, js)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, h := range view {
			n += len(h.VMs)
		}
		if len(view) != 100 || n != 10000 {
			b.Fatalf("the view has %d hosts, %d VMs; want 100, 10000", len(view), n)
		}
	}
}

// BenchmarkTransitionsPublisherOnOff: the local transition rate (create
// and delete, one after another) with the publisher on and off, in
// alternating rounds of the same run; on/off is the ratio of the rates.
// With FLEET_BENCH_CPUPROFILE=PREFIX each round's timed part is profiled
// to PREFIX-onoff-RUN-ROUND-{on,off}.prof (give the on rounds' files to
// one go tool pprof, the off rounds' to another, and compare). It also
// reports the process's CPU a transition in each kind of round.
func BenchmarkTransitionsPublisherOnOff(b *testing.B) { benchOnOff(b, false, 2000) }

// BenchmarkTransitionsPublisherOnOffDurable is the same comparison with
// the store syncing every commit, as a daemon's store does: the host's
// real local transition rate, bound by the disk rather than by the CPU
// the publisher shares.
func BenchmarkTransitionsPublisherOnOffDurable(b *testing.B) { benchOnOff(b, true, 500) }

func benchOnOff(b *testing.B, durable bool, perRound int) {
	srvURL := benchNATS(b)
	js := jsOf(b, srvURL)
	var on, off, cpuOn, cpuOff time.Duration
	var nOn, nOff int
	var recs, sends uint64 // the on rounds' records and the publisher's sends of them
	cpuOK := true
	for i := range b.N {
		for j, publish := range []bool{false, true, false, true} {
			url := "nats://127.0.0.1:1" // nothing there: the publisher is effectively off
			if publish {
				url = srvURL
			}
			// A host of its own each round: a name used before would find
			// its stream ahead of the new log and publish nothing until
			// the log passed it (as the earlier rounds of this benchmark
			// did, every second on round).
			th := &testHost{t: b, name: fmt.Sprintf("rate-%d-%d-%v", i, j, publish), dir: b.TempDir(), drv: drivertest.New(), url: url, durable: durable, opts: benchTune(b)}
			th.open()
			b.Cleanup(th.stop)
			if !publish {
				th.cancel() // the Host stops: no subscription, no publishing
				<-th.done
				th.done <- nil
			}
			// The rate is the steady one: a Host that has started (its
			// stream made, its heads synced), not its start, which a
			// daemon pays once.
			if _, err := th.e.Create(context.Background(), "warm", drivers.Spec{Command: []string{"sleep", "1"}}); err != nil {
				b.Fatal(err)
			}
			if publish {
				th.waitCaughtUp(time.Minute)
				eventually(b, time.Minute, "the heads of "+th.name, func() bool { return headsEqual(js, th) })
			}
			stopProfile := profileTimed(b, fmt.Sprintf("onoff-%d-%d-%s", i, j, map[bool]string{true: "on", false: "off"}[publish]))
			cpu0, cpuOK0 := processCPU()
			start := time.Now()
			churn(b, th.e, "vm", perRound)
			el := time.Since(start)
			cpu1, cpuOK1 := processCPU()
			stopProfile()
			cpuOK = cpuOK && cpuOK0 && cpuOK1
			if publish {
				on += el
				cpuOn += cpu1 - cpu0
				nOn += perRound
				th.waitCaughtUp(time.Minute)
				recs += th.h.published.Load()
				sends += th.h.sends.Load()
			} else {
				off += el
				cpuOff += cpu1 - cpu0
				nOff += perRound
			}
			th.stop()
		}
	}
	rOn, rOff := float64(nOn)/on.Seconds(), float64(nOff)/off.Seconds()
	b.ReportMetric(rOn, "on-transitions/s")
	b.ReportMetric(rOff, "off-transitions/s")
	b.ReportMetric(rOn/rOff, "on/off")
	if sends > 0 {
		// How many records the publisher handed the NATS client at once
		// (Options.Linger), the Host's start included.
		b.ReportMetric(float64(recs)/float64(sends), "records/send")
	}
	if cpuOK {
		// The process's CPU (all its threads) a transition while the
		// rounds ran: the engine's, and in the on rounds what the
		// publisher, the heads, the NATS client and (in-process) the
		// server add. Less moved by the machine's load than the rates.
		b.ReportMetric(float64(cpuOn.Microseconds())/float64(nOn), "on-cpu-µs/transition")
		b.ReportMetric(float64(cpuOff.Microseconds())/float64(nOff), "off-cpu-µs/transition")
		// What on/off would be were the host bound by its CPU, all of
		// it counted: with the server a separate process, the host's own
		// cost of the publisher.
		b.ReportMetric((float64(cpuOff)/float64(nOff))/(float64(cpuOn)/float64(nOn)), "cpu-off/on")
	}
}

// BenchmarkJetStreamFloor: the server's and the NATS client's part of a
// catch-up alone, with no engine, log or heads: 20,000 messages like the
// records (the same subjects, headers and body size) published into a
// one-replica stream on the benchmark's server, each expecting the last
// sequence, with an ack for each (ack-each) or for none (ack-none: the
// stream's state polled until it holds them all). records/s here is what
// no publisher on this machine can beat; cpu-µs/record is the floor of
// what a record costs.
func BenchmarkJetStreamFloor(b *testing.B) {
	const n = 20000
	url := benchNATS(b)
	data := []byte(`{"seq":32,"vmSeq":1,"vm":"vm-0","event":"create","from":"Absent","to":"Stopped","time":"2026-12-01T08:00:12.31317291Z","boot":1,"cause":{"kind":"requested"},"specHash":"fb825b7e17cc47c656000e05e22d44a2e1cfc846b1cf76fdd6c39858f3f265b4"}`)
	for _, ack := range []bool{true, false} {
		name := map[bool]string{true: "ack-each", false: "ack-none"}[ack]
		b.Run(name, func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				nc, err := Connect(url)
				if err != nil {
					b.Fatal(err)
				}
				js := jsOfConn(b, nc)
				host := fmt.Sprintf("floor-%s-%d", name, i)
				s, err := js.CreateStream(b.Context(), jetstream.StreamConfig{Name: StreamName(host), Subjects: []string{RecordPrefix + host + ".>"}, Storage: jetstream.FileStorage, Duplicates: DefaultDuplicates})
				if err != nil {
					b.Fatal(err)
				}
				inbox := nats.NewInbox()
				acks := make(chan *nats.Msg, 4096)
				sub, err := nc.ChanSubscribe(inbox+".*", acks)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				cpu0, cpuOK := processCPU()
				got := 0
				for k := 1; k <= n; k++ {
					seq := strconv.Itoa(k)
					m := &nats.Msg{Subject: RecordSubject(host, "vm-"+seq), Data: data, Header: nats.Header{
						HeaderSeq: {seq}, HeaderHost: {host}, jetstream.MsgIDHeader: {host + "-1-" + seq}, jetstream.ExpectedLastSeqHeader: {strconv.Itoa(k - 1)},
					}}
					if ack {
						m.Reply = inbox + "." + seq
					}
					if err := nc.PublishMsg(m); err != nil {
						b.Fatal(err)
					}
					for ack && k-got > DefaultWindow {
						<-acks
						got++
					}
				}
				for ack && got < n {
					<-acks
					got++
				}
				for deadline := time.Now().Add(time.Minute); !ack; {
					info, err := s.Info(b.Context())
					if err != nil {
						b.Fatal(err)
					}
					if info.State.Msgs == n {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("the stream holds %d of the %d messages published without an ack after a minute", info.State.Msgs, n)
					}
					time.Sleep(time.Millisecond)
				}
				el := time.Since(start)
				cpu1, _ := processCPU()
				b.StopTimer()
				b.ReportMetric(n/el.Seconds(), "records/s")
				if cpuOK {
					b.ReportMetric(float64((cpu1-cpu0).Microseconds())/n, "cpu-µs/record")
				}
				_ = sub.Unsubscribe()
				nc.Close()
			}
		})
	}
}

package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
)

// BenchmarkCatchUp: a host whose log holds records its stream does not
// (made with the publisher off, as during an outage) starts publishing;
// records/s is the catch-up rate into one JetStream server.
func BenchmarkCatchUp(b *testing.B) {
	const n = 20000
	srv := startNATS(b, b.TempDir(), 0)
	for i := range b.N {
		th := newTestHost(b, fmt.Sprintf("catchup-%d", i), "nats://127.0.0.1:1", nil) // no server: publishing fails, the log grows
		churn(b, th.e, "vm", n)
		th.kill()
		th.url = srv.ClientURL()
		b.StartTimer()
		start := time.Now()
		th.open()
		th.waitCaughtUp(2 * time.Minute)
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(th.st.LastSeq())/el.Seconds(), "records/s")
		th.stop()
	}
}

// BenchmarkPublishLive: records made one after another by the engine
// (create, delete) while the publisher runs; records/s counts until the
// stream acknowledged the last.
func BenchmarkPublishLive(b *testing.B) {
	srv := startNATS(b, b.TempDir(), 0)
	th := newTestHost(b, "live", srv.ClientURL(), nil)
	b.ResetTimer()
	start := time.Now()
	churn(b, th.e, "vm", b.N)
	th.waitCaughtUp(2 * time.Minute)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkFleetList10000: the fleet view of 100 hosts × 100 VMs, their
// heads and liveness in the buckets as hosts write them.
func BenchmarkFleetList10000(b *testing.B) {
	srv := startNATS(b, b.TempDir(), 0)
	js := jsOf(b, srv.ClientURL())
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
func BenchmarkTransitionsPublisherOnOff(b *testing.B) {
	const perRound = 2000
	srv := startNATS(b, b.TempDir(), 0)
	js := jsOf(b, srv.ClientURL())
	_ = js
	var on, off time.Duration
	var nOn, nOff int
	for i := range b.N {
		for _, publish := range []bool{false, true, false, true} {
			url := "nats://127.0.0.1:1" // nothing there: the publisher is effectively off
			if publish {
				url = srv.ClientURL()
			}
			th := newTestHost(b, fmt.Sprintf("rate-%d-%v", i, publish), url, nil)
			if !publish {
				th.cancel() // the Host stops: no subscription, no publishing
				<-th.done
				th.done <- nil
			}
			start := time.Now()
			churn(b, th.e, "vm", perRound)
			el := time.Since(start)
			if publish {
				on += el
				nOn += perRound
				th.waitCaughtUp(time.Minute)
			} else {
				off += el
				nOff += perRound
			}
			th.stop()
		}
	}
	rOn, rOff := float64(nOn)/on.Seconds(), float64(nOff)/off.Seconds()
	b.ReportMetric(rOn, "on-transitions/s")
	b.ReportMetric(rOff, "off-transitions/s")
	b.ReportMetric(rOn/rOff, "on/off")
}

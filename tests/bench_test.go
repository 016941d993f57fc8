package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// shutdownVMs is how many SIGINT-ignoring agents the shutdown benchmark
// runs at once.
const shutdownVMs = 100

// startVMs creates and starts n agent-sim VMs with env on daemon d and
// waits until all are Running.
func startVMs(b *testing.B, d *daemonProc, n int, env map[string]string) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("vm%03d", i)
		if _, err := d.c.Create(ctx, name, api.Spec{Ready: "agent", Env: env}); err != nil {
			b.Fatal(err)
		}
		if _, err := d.c.Start(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		if _, err := d.c.Wait(ctx, fmt.Sprintf("vm%03d", i), api.Running, client.WaitOptions{Timeout: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParallelShutdown: a daemon with 100 running agents that ignore
// SIGINT gets SIGTERM; it must exit in about one graceful timeout (plus the
// agents' own terminate time), not 100 of them. The sequential baseline,
// what a daemon that stops its VMs one after another would take, is one
// VM's stop measured in the same run times 100.
func BenchmarkParallelShutdown(b *testing.B) {
	ignore := map[string]string{"LIFELINE_SIM_IGNORE_SIGINT": "1"}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// One VM alone: the unit of the sequential baseline.
		home := shortTemp(b)
		d := startDaemon(b, home)
		startVMs(b, d, 1, ignore)
		t0 := time.Now()
		d.stop(b)
		one := time.Since(t0)

		home = shortTemp(b)
		d = startDaemon(b, home)
		startVMs(b, d, shutdownVMs, ignore)
		b.StartTimer()
		t0 = time.Now()
		d.stop(b)
		all := time.Since(t0)
		b.StopTimer()
		b.ReportMetric(all.Seconds(), "s/shutdown-of-100")
		b.ReportMetric(one.Seconds(), "s/shutdown-of-1")
		b.ReportMetric(float64(shutdownVMs)*one.Seconds(), "s/sequential-baseline")
		b.ReportMetric(crashGraceful.Seconds(), "s/graceful-timeout")
	}
}

// BenchmarkStatusRoundTrip runs `lifeline status vm000` against a live
// daemon: process start, socket, answer.
func BenchmarkStatusRoundTrip(b *testing.B) {
	home := shortTemp(b)
	d := startDaemon(b, home)
	defer d.stop(b)
	startVMs(b, d, 1, nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(lifelineBin, "status", "vm000", "-o", "json")
		cmd.Env = append(os.Environ(), "LIFELINE_HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}

// BenchmarkIdleVMMemory measures the memory an engine holds for idle VMs
// (Running, watched, nothing happening), with the scripted driver.
func BenchmarkIdleVMMemory(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				before := heapInUse()
				e, st := idleEngine(b, n)
				after := heapInUse()
				b.ReportMetric(float64(after-before)/(1<<20), "MiB-heap")
				b.ReportMetric(float64(after-before)/float64(n), "bytes/vm")
				b.ReportMetric(float64(rss())/(1<<20), "MiB-rss-process")
				e.Close()
				st.Close()
			}
		})
	}
}

func idleEngine(b *testing.B, n int) (*engine.Engine, *store.Store) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(b.TempDir(), "db"), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	e, err := engine.Open(ctx, engine.Options{Store: st, Driver: drivertest.New()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("vm%05d", i)
		if _, err := e.Create(ctx, name, drivers.Spec{}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Start(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		if _, err := e.WaitFor(wctx, fmt.Sprintf("vm%05d", i), func(h store.Head) bool { return h.State == states.Running }); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
	return e, st
}

func heapInUse() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// rss is the process's resident set, from /proc (0 elsewhere).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res int64
	fmt.Sscan(string(b), &size, &res)
	return res * int64(os.Getpagesize())
}

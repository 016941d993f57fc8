package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// These benchmarks use real fsync (no NoSync) unless they say otherwise:
// the durable transition is what they measure.

// benchEngine opens an engine over a fresh file with n Running VMs.
func benchEngine(b *testing.B, n int) (*Engine, []*vm) {
	b.Helper()
	st, err := store.Open(filepath.Join(b.TempDir(), "db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e, err := Open(context.Background(), Options{Store: st, Driver: drivertest.New()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(); st.Close() })
	var vms []*vm
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("vm%d", i)
		if _, err := e.Create(bg, name, drivers.Spec{}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Start(bg, name); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		if _, err := e.WaitFor(ctx, name, func(h store.Head) bool { return h.State == states.Running }); err != nil {
			b.Fatal(err)
		}
		cancel()
		v, _ := e.lookup(name)
		vms = append(vms, v)
	}
	return e, vms
}

// adopt is one durable transition (the Running → Running self-loop), the
// whole engine path: table, record, group commit, fsync, head, publish.
func adopt(b *testing.B, e *Engine, v *vm) {
	v.mu.Lock()
	_, err := e.transition(bg, v, states.Adopted, change{cause: store.Cause{Kind: store.CauseRecoveryAlive}})
	v.mu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkTransitionOneVM(b *testing.B) {
	e, vms := benchEngine(b, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		adopt(b, e, vms[0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
}

// rawRecord is about the size of an encoded adopted record; rawHead of a
// head. The raw benchmarks write what a transition writes, in the store's
// layout (the record under its sequence, the VM's head under its name), in
// one bbolt Update.
var (
	rawRecord = make([]byte, 96)
	rawHead   = make([]byte, 104)
)

func rawDB(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func rawPut(tx *bolt.Tx, seq uint64, vm string) error {
	rb, err := tx.CreateBucketIfNotExists([]byte("records"))
	if err != nil {
		return err
	}
	if err := rb.Put(binary.BigEndian.AppendUint64(nil, seq), rawRecord); err != nil {
		return err
	}
	hb, err := tx.CreateBucketIfNotExists([]byte("heads"))
	if err != nil {
		return err
	}
	return hb.Put([]byte(vm), rawHead)
}

func BenchmarkRawBoltUpdateOneVM(b *testing.B) {
	db := rawDB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.Update(func(tx *bolt.Tx) error { return rawPut(tx, uint64(i+1), "vm0") }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
}

const concurrentVMs = 256

func BenchmarkTransition256VMs(b *testing.B) {
	e, vms := benchEngine(b, concurrentVMs)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, v := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				adopt(b, e, v)
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
}

// BenchmarkRawBoltBatch256VMs is raw bbolt with its own group commit,
// DB.Batch, at its default settings (MaxBatchDelay 10 ms, MaxBatchSize
// 1000), 256 writers.
func BenchmarkRawBoltBatch256VMs(b *testing.B) {
	db := rawDB(b)
	var next, seq atomic.Uint64
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := 0; i < concurrentVMs; i++ {
		vm := fmt.Sprintf("vm%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= uint64(b.N) {
				if err := db.Batch(func(tx *bolt.Tx) error { return rawPut(tx, seq.Add(1), vm) }); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
}

// recoveryDB builds, once per process, a database of 10,000 VMs with 100
// records each: 19 start/stop cycles, then a last start; half are left
// Running with a live scripted agent, half are stopped again. It returns
// the path. recoveryDriver makes the matching live agents.
var recoveryDB = sync.OnceValue(func() string {
	const vms, cycles = recoveryVMs, 19
	dir, err := os.MkdirTemp("", "lifeline-bench-")
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "db")
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		panic(err)
	}
	_, agents := recoveryDriver()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for i := 0; i < vms; i++ {
		name := fmt.Sprintf("vm%05d", i)
		agent := agents[i].Agent
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			state := states.Absent
			app := func(ev states.Event, p store.Proc) {
				to, err := states.Next(state, ev)
				if err != nil {
					panic(err)
				}
				if _, err := st.Append(bg, store.Write{Record: store.Record{VM: name, Event: ev, From: state, To: to, Time: time.Now(), Agent: p}, Spec: specFor(ev)}); err != nil {
					panic(err)
				}
				state = to
			}
			app(states.Create, store.Proc{})
			for c := 0; c < cycles; c++ {
				for _, ev := range []states.Event{states.Start, states.Spawned, states.EventRunning, states.Stop, states.Exited} {
					app(ev, store.Proc{PID: 100000 + c})
				}
			}
			app(states.Start, store.Proc{})
			app(states.Spawned, agent)
			app(states.EventRunning, store.Proc{})
			if i%2 == 1 {
				app(states.Stop, store.Proc{})
			}
		}()
	}
	wg.Wait()
	if err := st.Close(); err != nil {
		panic(err)
	}
	return path
})

const recoveryVMs = 10000

// recoveryDriver starts the 10,000 agents of recoveryDB in a fresh scripted
// driver. The driver numbers pids and start times in order, so every call
// makes the same identities.
func recoveryDriver() (*drivertest.Driver, []drivers.Procs) {
	d := drivertest.New()
	out := make([]drivers.Procs, recoveryVMs)
	for i := range out {
		out[i] = d.Start(fmt.Sprintf("vm%05d", i), true)
	}
	return d, out
}

func specFor(ev states.Event) []byte {
	if ev == states.Create {
		return []byte(`{}`)
	}
	return nil
}

func copyFile(b *testing.B, from, to string) {
	src, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRecover10kVMs measures Open to ready over 10,000 VMs with 100
// records each (1M records): 5,000 Running agents adopted (a durable record
// each), 5,000 Stopping resumed (an interrupt each, the agents exit and are
// recorded Stopped in the background). The file is copied fresh for every
// iteration, outside the timer, and read once so the cache is warm.
func BenchmarkRecover10kVMs(b *testing.B) {
	path := recoveryDB()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		drv, _ := recoveryDriver()
		cp := filepath.Join(b.TempDir(), "db")
		copyFile(b, path, cp)
		st, err := store.Open(cp, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		e, err := Open(bg, Options{Store: st, Driver: drv})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if n := len(e.List()); n != 10000 {
			b.Fatalf("%d VMs recovered", n)
		}
		e.Close()
		st.Close()
	}
}

// BenchmarkTransitionOneVMvsRaw alternates blocks of 100 engine transitions
// and 100 raw bbolt updates (same three keys), so both meet the same disk
// weather, and reports their ratio.
func BenchmarkTransitionOneVMvsRaw(b *testing.B) {
	e, vms := benchEngine(b, 1)
	db := rawDB(b)
	const block = 100
	var engineTime, rawTime time.Duration
	seq := uint64(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for j := 0; j < block; j++ {
			adopt(b, e, vms[0])
		}
		t1 := time.Now()
		for j := 0; j < block; j++ {
			seq++
			if err := db.Update(func(tx *bolt.Tx) error { return rawPut(tx, seq, "vm0") }); err != nil {
				b.Fatal(err)
			}
		}
		engineTime += t1.Sub(t0)
		rawTime += time.Since(t1)
	}
	n := float64(b.N * block)
	b.ReportMetric(n/engineTime.Seconds(), "engine-transitions/s")
	b.ReportMetric(n/rawTime.Seconds(), "raw-updates/s")
	b.ReportMetric(rawTime.Seconds()/engineTime.Seconds(), "engine/raw")
}

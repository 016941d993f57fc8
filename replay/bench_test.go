package replay_test

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/replay"
	fx "github.com/lifeline-vm/lifeline/replay/internal/fixture"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// genCycle is what a generated VM does after its create, over and over.
var genCycle = []states.Event{states.Start, states.Spawned, states.EventRunning, states.Stop, states.Exited}

// genDB writes a sound database of n records over vms VMs straight into
// bbolt (the store's layout, see rawdb_test.go): every VM is created, then
// starts and stops again and again, the VMs' records interleaved. One
// boot, closed. It is how the benchmarks get millions of records in
// seconds.
func genDB(tb testing.TB, path string, n, vms int) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	t0 := time.Date(2025, 11, 25, 9, 0, 0, 0, time.UTC)
	heads := make([]store.Head, vms)
	names := make([]string, vms)
	for i := range names {
		names[i] = fmt.Sprintf("vm%05d", i)
	}
	const batch = 200_000
	for from := 1; from <= n; from += batch {
		err := db.Update(func(tx *bolt.Tx) error {
			if from == 1 {
				meta, _ := tx.CreateBucket([]byte("meta"))
				if err := meta.Put([]byte("schema"), []byte{0, 0, 0, 1}); err != nil {
					return err
				}
				for _, name := range []string{"records", "heads", "specs", "boots"} {
					if _, err := tx.CreateBucket([]byte(name)); err != nil {
						return err
					}
				}
			}
			b := tx.Bucket([]byte("records"))
			b.FillPercent = 1
			for seq := from; seq < from+batch && seq <= n; seq++ {
				v := (seq - 1) % vms
				h := &heads[v]
				ev := states.Create
				if h.VMSeq > 0 {
					ev = genCycle[(h.VMSeq-1)%uint64(len(genCycle))]
				}
				to, err := states.Next(h.State, ev)
				if err != nil {
					return err
				}
				t := t0.Add(time.Duration(seq) * time.Millisecond)
				r := store.Record{Seq: uint64(seq), VMSeq: h.VMSeq + 1, VM: names[v], Event: ev, From: h.State, To: to, Time: t, Boot: 1}
				switch ev {
				case states.Start:
					r.Deadline = t.Add(10 * time.Minute)
				case states.Spawned:
					r.Agent = store.Proc{PID: int(1000 + seq%30000), StartTime: uint64(seq), Group: int(1000 + seq%30000), BootID: "gen"}
					r.Deadline = h.Deadline
				case states.Stop:
					r.Deadline, r.Reason = t.Add(30*time.Second), "stop requested"
				case states.Exited:
					r.Reason = "agent exited: exit status 0 (interrupted)"
				}
				if err := b.Put(seqKey(r.Seq), encRecord(r, h.Seq)); err != nil {
					return err
				}
				*h = h.Apply(r)
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		hb := tx.Bucket([]byte("heads"))
		for _, h := range heads {
			if h.VMSeq == 0 {
				continue
			}
			if err := hb.Put([]byte(h.VM), encHead(h)); err != nil {
				return err
			}
		}
		end := t0.Add(time.Duration(n+1) * time.Millisecond)
		return tx.Bucket([]byte("boots")).Put(seqKey(1), encBoot(store.Boot{Number: 1, Started: t0, PID: 4101, Closed: end}))
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
}

// bigDBs caches generated databases by size across benchmarks.
var bigDBs struct {
	sync.Mutex
	paths map[int]string
}

func bigDB(tb testing.TB, n int) string {
	tb.Helper()
	bigDBs.Lock()
	defer bigDBs.Unlock()
	if p, ok := bigDBs.paths[n]; ok {
		return p
	}
	if bigDBs.paths == nil {
		bigDBs.paths = make(map[int]string)
	}
	p := filepath.Join(fx.Dir(tb), fmt.Sprintf("gen-%d.db", n))
	genDB(tb, p, n, 1000)
	bigDBs.paths[n] = p
	return p
}

// TestGeneratedDBVerifies keeps the generator honest: its databases are
// sound by the store's own check and by Verify.
func TestGeneratedDBVerifies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen.db")
	genDB(t, path, 20_000, 37)
	st, err := store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(); err != nil {
		t.Errorf("store.Check: %v", err)
	}
	st.Close()
	res, out, err := verify(t, path)
	if err != nil || res.Records != 20_000 || res.VMs != 37 {
		t.Fatalf("%v %+v\n%s", err, res, out)
	}
}

// BenchmarkVerify measures Verify's throughput on a generated database of
// a million records over 1000 VMs (goal: at least 2M records/s).
func BenchmarkVerify(b *testing.B) {
	const n = 1_000_000
	path := bigDB(b, n)
	db, err := replay.Open(path, replay.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	var total time.Duration
	for b.Loop() {
		res, err := db.Verify(io.Discard)
		if err != nil || res.Records != n {
			b.Fatalf("%v %+v", err, res)
		}
		total += res.Elapsed
	}
	b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "records/s")
}

// BenchmarkTimeline measures the text timeline on the same database.
func BenchmarkTimeline(b *testing.B) {
	const n = 1_000_000
	path := bigDB(b, n)
	db, err := replay.Open(path, replay.Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := db.Timeline(io.Discard, replay.TimelineOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// liveHeap is the heap the last GC found live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// peakLiveHeap runs f while sampling the heap that each GC finds live,
// and returns the peak.
func peakLiveHeap(f func()) uint64 {
	done := make(chan struct{})
	var peak uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, liveHeap())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	runtime.GC() // a last look, before anything f built is released
	close(done)
	wg.Wait()
	return max(peak, liveHeap())
}

// TestStreamingVerbsKeepMemoryFlat runs the streaming verbs over a large
// generated database and checks that the live heap stays far below what
// holding the records would take.
func TestStreamingVerbsKeepMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 400k-record database")
	}
	n := 400_000
	if raceEnabled {
		n = 100_000
	}
	path := bigDB(t, n)
	db := openUTC(t, path)
	runtime.GC()
	runtime.GC()
	base := liveHeap()
	// Held in memory, the records would take some 200 bytes each: 20 MB
	// for the smaller database, 80 MB for the larger.
	const budget = 8 << 20
	for name, run := range map[string]func(io.Writer) error{
		"timeline":      func(w io.Writer) error { return db.Timeline(w, replay.TimelineOptions{}) },
		"timeline json": func(w io.Writer) error { return db.Timeline(w, replay.TimelineOptions{JSON: true}) },
		"export":        func(w io.Writer) error { return db.Export(w, "jsonl") },
		"verify": func(w io.Writer) error {
			_, err := db.Verify(w)
			return err
		},
	} {
		var err error
		var gcs uint32
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		gcs = ms.NumGC
		peak := peakLiveHeap(func() { err = run(io.Discard) })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		runtime.ReadMemStats(&ms)
		if peak > base+budget {
			t.Errorf("%s: live heap peaked at %d MB (base %d MB) over %d records", name, peak>>20, base>>20, n)
		}
		t.Logf("%s: live heap peak %.1f MB (base %.1f MB), %d GCs during the scan", name, float64(peak)/(1<<20), float64(base)/(1<<20), ms.NumGC-gcs)
	}
}

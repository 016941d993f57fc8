package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// Appends use real fsync: sharing fsyncs is what group commit is for. The
// disk's fsync time drifts from second to second: compare runs made in the
// same minute, or BenchmarkOneVMvsRaw's interleaved ratio.
//
//	go test ./store -run '^$' -bench . -benchtime 2s

// cycle is a VM's endless life after create: each event from the state the
// previous one left.
var cycle = []states.Event{states.Start, states.Spawned, states.EventRunning, states.Stop, states.Exited}

// vmWriter appends vm's cycle, one record per call.
type vmWriter struct {
	vm   string
	from states.State
	i    int
}

func (w *vmWriter) next() Write {
	ev := states.Create
	if w.from != states.Absent {
		ev = cycle[w.i%len(cycle)]
		w.i++
	}
	to, _ := states.Next(w.from, ev)
	r := Record{VM: w.vm, Event: ev, From: w.from, To: to, Time: time.Now(), Cause: Cause{Kind: CauseUnknown, Detail: "benchmark"}}
	if ev == states.Spawned {
		r.Agent = Proc{PID: 4242, StartTime: 987654321, Group: 4242, BootID: "6f1c2c1e"}
	}
	w.from = to
	return Write{Record: r}
}

func benchStore(b *testing.B) *Store {
	s, err := Open(filepath.Join(b.TempDir(), "lifeline.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func reportRate(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit)
}

func BenchmarkAppendOneVM(b *testing.B) {
	s := benchStore(b)
	w := &vmWriter{vm: "vm"}
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Append(ctx, w.next()); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N, "appends/s")
}

// encodedRecord is a record as BenchmarkAppendOneVM writes one.
func encodedRecord() []byte {
	w := (&vmWriter{vm: "vm", from: states.Stopped}).next()
	w.Record.Seq, w.Record.VMSeq, w.Record.Boot = 1234, 1234, 1
	return appendRecord(nil, &w.Record, 1233)
}

func rawDB(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucketKeyRecords); return err }); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkRawBoltUpdate is the floor under BenchmarkAppendOneVM: one bbolt
// Update per record, putting the same bytes, nothing else.
func BenchmarkRawBoltUpdate(b *testing.B) {
	db := rawDB(b)
	v := encodedRecord()
	var seq uint64
	for b.Loop() {
		seq++
		err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketKeyRecords).Put(seqKey(seq), v) })
		if err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N, "appends/s")
}

// BenchmarkOneVMvsRaw alternates blocks of 100 store appends and 100 raw
// bbolt Updates, so that both see the same disk weather, and reports the
// ratio of their rates (goal: at least 0.9).
func BenchmarkOneVMvsRaw(b *testing.B) {
	s := benchStore(b)
	db := rawDB(b)
	w := &vmWriter{vm: "vm"}
	v := encodedRecord()
	ctx := context.Background()
	var seq uint64
	var store, raw time.Duration
	for b.Loop() {
		start := time.Now()
		for range 100 {
			if _, err := s.Append(ctx, w.next()); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		for range 100 {
			seq++
			if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketKeyRecords).Put(seqKey(seq), v) }); err != nil {
				b.Fatal(err)
			}
		}
		store, raw = store+mid.Sub(start), raw+time.Since(mid)
	}
	n := float64(100 * b.N)
	b.ReportMetric(n/store.Seconds(), "store-appends/s")
	b.ReportMetric(n/raw.Seconds(), "raw-appends/s")
	b.ReportMetric(raw.Seconds()/store.Seconds(), "store/raw")
}

const concurrentVMs = 256

// parallel runs b.N calls of fn spread over concurrentVMs goroutines.
func parallel(b *testing.B, fn func(g int) error) {
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range concurrentVMs {
		n := b.N / concurrentVMs
		if g < b.N%concurrentVMs {
			n++
		}
		wg.Go(func() {
			for range n {
				if err := fn(g); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	reportRate(b, b.N, "appends/s")
}

func BenchmarkAppend256VMs(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	writers := make([]*vmWriter, concurrentVMs)
	for g := range writers {
		writers[g] = &vmWriter{vm: fmt.Sprintf("vm%03d", g)}
	}
	parallel(b, func(g int) error {
		_, err := s.Append(ctx, writers[g].next())
		return err
	})
	b.ReportMetric(float64(b.N)/float64(max(s.commits.Load(), 1)), "appends/commit")
}

// BenchmarkRawBoltBatch256 is what BenchmarkAppend256VMs competes with:
// bbolt's own DB.Batch from 256 goroutines, with its default delay (10ms)
// and with none.
func BenchmarkRawBoltBatch256(b *testing.B) {
	for _, delay := range []time.Duration{0, time.Millisecond, 10 * time.Millisecond} {
		b.Run("delay="+delay.String(), func(b *testing.B) {
			db := rawDB(b)
			db.MaxBatchDelay = delay
			v := encodedRecord()
			var mu sync.Mutex
			var seq uint64
			parallel(b, func(int) error {
				mu.Lock()
				seq++
				k := seqKey(seq)
				mu.Unlock()
				return db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucketKeyRecords).Put(k, v) })
			})
		})
	}
}

// scanRecords is the size of BenchmarkScan's database.
const scanRecords = 1_000_000

var scanDB struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildScanDB writes scanRecords records of 1,000 VMs through the store's
// own checks and writes, 100,000 per transaction, without fsync (it is
// setup, not measured).
func buildScanDB() (string, error) {
	scanDB.once.Do(func() {
		if scanDB.dir, scanDB.err = os.MkdirTemp("", "lifeline-scan"); scanDB.err != nil {
			return
		}
		scanDB.path = filepath.Join(scanDB.dir, "scan.db")
		s, err := Open(scanDB.path, Options{NoSync: true})
		if err != nil {
			scanDB.err = err
			return
		}
		defer s.Close()
		writers := make([]*vmWriter, 1000)
		for i := range writers {
			writers[i] = &vmWriter{vm: fmt.Sprintf("vm%04d", i)}
		}
		for seq := uint64(0); seq < scanRecords && scanDB.err == nil; {
			scanDB.err = s.db.Update(func(tx *bolt.Tx) error {
				records, _ := getRecordsBucket(tx)
				heads, _ := getHeadsBucket(tx)
				specs, _ := getSpecsBucket(tx)
				for n := 0; n < 100_000 && seq < scanRecords; n++ {
					w := writers[seq%uint64(len(writers))].next()
					checkWrite(&w)
					head, err := checkHead(heads, &w.Record)
					if err != nil {
						return err
					}
					if _, err := s.write(records, heads, specs, seq+1, head, &w); err != nil {
						return err
					}
					seq++
				}
				return nil
			})
		}
	})
	return scanDB.path, scanDB.err
}

func cleanupBench() {
	if scanDB.dir != "" {
		_ = os.RemoveAll(scanDB.dir)
	}
	if checkDB.dir != "" {
		_ = os.RemoveAll(checkDB.dir)
	}
}

func BenchmarkScan(b *testing.B) {
	path, err := buildScanDB()
	if err != nil {
		b.Fatal(err)
	}
	s, err := OpenReadOnly(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	n := 0
	for b.Loop() {
		err := s.Records(0, func(r Record) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	if n != b.N*scanRecords {
		b.Fatalf("scanned %d records, want %d", n, b.N*scanRecords)
	}
	reportRate(b, n, "records/s")
}

func BenchmarkDecodeRecord(b *testing.B) {
	v := encodedRecord()
	d := decoder{names: map[string]string{}}
	var r Record
	for b.Loop() {
		if reason := d.record(v, &r); reason != "" {
			b.Fatal(reason)
		}
	}
}

// The open check's cost (opencheck.go) on a large database: 10,000 VMs of
// 100 records each, every VM left live (Stopping) so that each one's last
// liveTail records are followed, and a spec each.
//
//	go test ./store -run '^$' -bench OpenCheck -benchtime 5x
const (
	checkVMs       = 10_000
	checkPerVM     = 100
	checkDBRecords = checkVMs * checkPerVM
)

var checkDB struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func buildCheckDB() (string, error) {
	checkDB.once.Do(func() {
		if checkDB.dir, checkDB.err = os.MkdirTemp("", "lifeline-check"); checkDB.err != nil {
			return
		}
		checkDB.path = filepath.Join(checkDB.dir, "check.db")
		s, err := Open(checkDB.path, Options{NoSync: true})
		if err != nil {
			checkDB.err = err
			return
		}
		defer s.Close()
		writers := make([]*vmWriter, checkVMs)
		for i := range writers {
			writers[i] = &vmWriter{vm: fmt.Sprintf("vm%05d", i)}
		}
		for seq := uint64(0); seq < checkDBRecords && checkDB.err == nil; {
			checkDB.err = s.db.Update(func(tx *bolt.Tx) error {
				records, _ := getRecordsBucket(tx)
				heads, _ := getHeadsBucket(tx)
				specs, _ := getSpecsBucket(tx)
				for n := 0; n < 100_000 && seq < checkDBRecords; n++ {
					w := writers[seq%checkVMs].next()
					if w.Record.Event == states.Create {
						w.Spec = fmt.Appendf(nil, "vmType: vz\ncpus: 2\nmemory: 4GiB\nname: %s\n", w.Record.VM)
					}
					if err := checkWrite(&w); err != nil {
						return err
					}
					head, err := checkHead(heads, &w.Record)
					if err != nil {
						return err
					}
					if _, err := s.write(records, heads, specs, seq+1, head, &w); err != nil {
						return err
					}
					seq++
				}
				return nil
			})
		}
	})
	return checkDB.path, checkDB.err
}

func BenchmarkOpenCheck(b *testing.B) {
	path, err := buildCheckDB()
	if err != nil {
		b.Fatal(err)
	}
	if fi, err := os.Stat(path); err == nil {
		b.Logf("%s: %d VMs, %d records, %.1f MiB", path, checkVMs, checkDBRecords, float64(fi.Size())/(1<<20))
	}
	b.Run("OpenReadOnly", func(b *testing.B) {
		for b.Loop() {
			s, err := OpenReadOnly(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pages", func(b *testing.B) { // checkFile alone
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for b.Loop() {
			if err := checkFile(path, f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("heads", func(b *testing.B) { // checkHeads alone
		s, err := OpenReadOnly(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for b.Loop() {
			if err := s.checkOpen(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Open", func(b *testing.B) { // the daemon's: check, boot record, fsync
		for b.Loop() {
			s, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bboltOnly", func(b *testing.B) { // what opening cost before the check
		for b.Loop() {
			db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeRecordCause decodes a record whose cause renders a
// sentence on read (an agent's exit): the cost of keeping the sentence out
// of the file.
func BenchmarkDecodeRecordCause(b *testing.B) {
	r := Record{Seq: 1234, VMSeq: 1234, Boot: 1, VM: "vm", Event: states.Crashed, From: states.Running, To: states.Broken, Time: time.Now(),
		Cause: Cause{Kind: CauseAgentExit, Code: 1, PID: 4242, Detail: `exit status 1, without "exiting"`}}
	v := appendRecord(nil, &r, 1233)
	d := decoder{names: map[string]string{}}
	for b.Loop() {
		if reason := d.record(v, &r); reason != "" {
			b.Fatal(reason)
		}
	}
}

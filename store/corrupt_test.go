package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// writeFive writes five records of vm "a" (seq 1..5), each with the reason
// "reason of seq N", and closes the store.
func writeFive(t *testing.T, path string) {
	t.Helper()
	s := openT(t, path)
	from := states.Absent
	for i, ev := range []states.Event{states.Create, states.Start, states.Spawned, states.EventRunning, states.Stop} {
		to, _ := states.Next(from, ev)
		r := store.Record{VM: "a", Event: ev, From: from, To: to, Time: t0, Cause: store.Cause{Kind: store.CauseUnknown, Detail: fmt.Sprintf("reason of seq %d", i+1)}}
		if _, err := s.Append(context.Background(), store.Write{Record: r}); err != nil {
			t.Fatal(err)
		}
		from = to
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// expectCorruptSeq checks that reading stops at seq n with a CorruptError,
// after handing over the records before it, and that Check reports it.
func expectCorruptSeq(t *testing.T, path string, n uint64) {
	t.Helper()
	before := fileSum(t, path)
	// The daemon's open refuses the file, naming the damage.
	if s, err := store.Open(path, store.Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a file with a corrupt record")
	} else if want := fmt.Sprintf("record seq %d", n); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open = %v, want a refusal naming %q", err, want)
	}
	s, err := store.OpenReadOnly(path, store.Options{AllowDamage: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Damage() == nil {
		t.Fatal("OpenReadOnly with AllowDamage reported no damage")
	}
	var seen []uint64
	err = s.Records(0, func(r store.Record) error { seen = append(seen, r.Seq); return nil })
	var ce *store.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, store.ErrCorrupt) || ce.Seq != n {
		t.Fatalf("Records = %v, want a CorruptError at seq %d", err, n)
	}
	if want := fmt.Sprintf("store: record seq %d", n); !strings.Contains(err.Error(), want) {
		t.Fatalf("%q does not say %q", err, want)
	}
	if len(seen) != int(n-1) {
		t.Fatalf("saw seqs %v before the corrupt one, want 1..%d", seen, n-1)
	}
	err = s.VMRecords("a", 0, func(store.Record) error { return nil })
	if !errors.As(err, &ce) || ce.Seq != n {
		t.Fatalf("VMRecords = %v, want a CorruptError at seq %d", err, n)
	}
	err = s.Check()
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("record #%d:", n)) {
		t.Fatalf("Check = %v, want it to report seq %d", err, n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fileSum(t, path) != before {
		t.Fatal("reading a corrupt file changed it")
	}
}

func TestCorruptRecordValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	writeFive(t, path)
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("records"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 3}
		v := bytes.Clone(b.Get(k))
		v[len(v)/2] ^= 0x20
		return b.Put(k, v)
	})
	expectCorruptSeq(t, path, 3)
}

func TestCorruptFileBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	writeFive(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt copies pages on write, so freed pages may hold older copies:
	// flip a bit in every one.
	needle := []byte("reason of seq 4")
	if bytes.Count(data, needle) == 0 {
		t.Fatal("record 4 not found in the file")
	}
	data = bytes.ReplaceAll(data, needle, []byte("reason of seq 5"))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	expectCorruptSeq(t, path, 4)
}

func TestCorruptHead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	writeFive(t, path)
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("heads")).Put([]byte("a"), []byte("garbage"))
	})
	if _, err := store.Open(path, store.Options{}); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), `head of vm "a"`) {
		t.Fatalf("Open = %v, want a refusal naming the head of a", err)
	}
	s, err := store.OpenReadOnly(path, store.Options{AllowDamage: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Head("a"); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Head = %v, want ErrCorrupt", err)
	}
	if _, err := s.Heads(); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Heads = %v, want ErrCorrupt", err)
	}
	if err := s.Check(); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), `head of vm "a"`) {
		t.Fatalf("Check = %v, want it to report the head of a", err)
	}
}

func TestCheckFindsInconsistencies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	writeFive(t, path)
	// Drop record 2, a gap in the global seqs and in a's chain, and add a
	// spec for a VM that has no records.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("records")).Delete([]byte{0, 0, 0, 0, 0, 0, 0, 2}); err != nil {
			return err
		}
		return tx.Bucket([]byte("specs")).Put([]byte("ghost"), []byte("cpus: 1"))
	})
	s, err := store.OpenReadOnly(path, store.Options{AllowDamage: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Check()
	if err == nil {
		t.Fatal("Check passed a damaged file")
	}
	for _, want := range []string{
		"record #2: missing (#3 follows #1)",
		`record #3 (vm "a" vmseq 3): the VM's record vmseq 2 is missing (vmseq 3 follows 1)`,
		`spec of vm "ghost": has a spec but no records`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check did not report %q:\n%v", want, err)
		}
	}
	// The same, as data.
	var codes []string
	s.Verify(store.VerifyOptions{}, func(f store.Finding) {
		if f.Severity == store.Problem {
			codes = append(codes, fmt.Sprintf("%s %q #%d", f.Code, f.VM, f.Seq))
		}
	})
	if got, want := strings.Join(codes, "; "), `seq-gap "" #2; vmseq "a" #3; spec "ghost" #0`; got != want {
		t.Errorf("Verify found %s, want %s", got, want)
	}
}

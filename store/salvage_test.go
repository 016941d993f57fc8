package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// salvageT salvages src into a new file next to it, checks that src did
// not change and that the daemon opens the new file (and appends to it),
// and returns the report and the new file's records.
func salvageT(t *testing.T, src string) (*store.SalvageReport, []store.Record) {
	t.Helper()
	before := fileSum(t, src)
	dst := filepath.Join(t.TempDir(), "salvaged.db")
	rep, err := store.Salvage(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if fileSum(t, src) != before {
		t.Fatal("salvage changed the damaged file")
	}
	for _, l := range rep.Lost {
		t.Logf("lost: %s", l)
	}
	s, err := store.Open(dst, store.Options{})
	if err != nil {
		t.Fatalf("the daemon's Open refuses the salvaged file: %v", err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("the salvaged file does not check: %v", err)
	}
	recs := collect(t, s, 0)
	if len(recs) != rep.Records {
		t.Fatalf("the salvaged file has %d records, the report says %d", len(recs), rep.Records)
	}
	// The daemon goes on writing it.
	if _, err := s.Append(context.Background(), store.Write{Record: store.Record{VM: "new", Event: states.Create, From: states.Absent, To: states.Stopped, Time: t0}}); err != nil {
		t.Fatalf("append to the salvaged file: %v", err)
	}
	return rep, recs
}

// fleetRecords reads every record of a sound file.
func fleetRecords(t *testing.T, path string) []store.Record {
	t.Helper()
	s, err := store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return collect(t, s, 0)
}

func TestSalvageSoundFileLosesNothing(t *testing.T) {
	path, _, _ := fleet(t)
	want := fleetRecords(t, path)
	rep, got := salvageT(t, path)
	if len(rep.Lost) != 0 || rep.Renumbered != 0 {
		t.Fatalf("salvage of a sound file lost %q, renumbered from %d", rep.Lost, rep.Renumbered)
	}
	if !slices.EqualFunc(got, want, func(a, b store.Record) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Fatalf("records differ: %d salvaged, %d in the file", len(got), len(want))
	}
}

func TestSalvageLatestRecordOfRunningVM(t *testing.T) {
	path, runSeq, data := fleet(t)
	want := fleetRecords(t, path)
	flipRecord(t, path, data, runSeq)
	rep, got := salvageT(t, path)
	if len(got) != len(want)-1 {
		t.Fatalf("salvaged %d records, want all but seq %d (%d)", len(got), runSeq, len(want)-1)
	}
	mustSay(t, rep.Lost, fmt.Sprintf("records seq %d: damaged", runSeq))
	mustSay(t, rep.Lost, `vm "run": its head said vmseq 4 (Running), but only its records up to vmseq 3 (Starting) survive`)
}

func TestSalvageMiddleRecordRenumbers(t *testing.T) {
	path, _, data := fleet(t)
	want := fleetRecords(t, path)
	// vm03's 10th record: the rest of vm03's history cannot be placed.
	var victim store.Record
	for _, r := range want {
		if r.VM == "vm03" && r.VMSeq == 10 {
			victim = r
		}
	}
	flipRecord(t, path, data, victim.Seq)
	rep, got := salvageT(t, path)
	var after int
	for _, r := range want {
		if r.VM == "vm03" && r.VMSeq > 10 {
			after++
		}
	}
	if len(got) != len(want)-1-after {
		t.Fatalf("salvaged %d records, want %d - 1 - %d", len(got), len(want), after)
	}
	// vm03's records are contiguous: the first one kept after the gap is
	// the one after vm03's last.
	if want := victim.Seq + 1 + uint64(after); rep.Renumbered != want {
		t.Fatalf("renumbered from seq %d, want %d", rep.Renumbered, want)
	}
	mustSay(t, rep.Lost, fmt.Sprintf("records seq %d: damaged", victim.Seq))
	mustSay(t, rep.Lost, fmt.Sprintf(`vm "vm03": history kept up to vmseq 9 (Running); from vmseq 10 (the record after seq %d, lost) on, %d records`, victim.Seq-1, after))
	// Every other VM's records survive as they were, but for their seqs.
	for _, vm := range []string{"vm00", "vm10", "run"} {
		if a, b := vmEvents(want, vm), vmEvents(got, vm); a != b {
			t.Errorf("vm %s: salvaged %s, want %s", vm, b, a)
		}
	}
}

func TestSalvageTruncatedHalf(t *testing.T) {
	path, _, data := fleet(t)
	writeFile(t, path, data[:len(data)/2])
	rep, got := salvageT(t, path)
	if len(rep.Lost) == 0 {
		t.Fatal("salvage of a file cut in half lost nothing")
	}
	t.Logf("salvaged %d records of %d VMs from half a file", len(got), rep.VMs)
}

func TestSalvageMetaPageZeroed(t *testing.T) {
	path, _, data := fleet(t)
	want := fleetRecords(t, path)
	clear(data[:os.Getpagesize()])
	writeFile(t, path, data)
	rep, got := salvageT(t, path)
	if len(got) != len(want) {
		t.Fatalf("salvaged %d records, want all %d", len(got), len(want))
	}
	mustSay(t, rep.Lost, "bbolt meta page 0 is damaged")
}

func TestSalvageRefusesExistingOutput(t *testing.T) {
	path, _, _ := fleet(t)
	dst := filepath.Join(t.TempDir(), "there.db")
	writeFile(t, dst, []byte("mine"))
	if _, err := store.Salvage(path, dst); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("Salvage over an existing file = %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "mine" {
		t.Fatal("Salvage overwrote an existing file")
	}
}

func flipRecord(t *testing.T, path string, data []byte, seq uint64) {
	t.Helper()
	var v []byte
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket([]byte("records")).Get(binary8(seq)))
		return nil
	})
	_ = db.Close()
	n := 0
	for i := 0; ; n++ {
		j := bytes.Index(data[i:], v)
		if j < 0 {
			break
		}
		data[i+j+len(v)/2] ^= 0x01
		i += j + len(v)
	}
	if v == nil || n == 0 {
		t.Fatalf("record seq %d not found in the file", seq)
	}
	writeFile(t, path, data)
}

func mustSay(t *testing.T, lost []string, want string) {
	t.Helper()
	for _, l := range lost {
		if strings.Contains(l, want) {
			return
		}
	}
	t.Errorf("the report does not say %q:\n%s", want, strings.Join(lost, "\n"))
}

func vmEvents(recs []store.Record, vm string) string {
	var b strings.Builder
	for _, r := range recs {
		if r.VM == vm {
			fmt.Fprintf(&b, "%d:%s,", r.VMSeq, r.Event)
		}
	}
	return b.String()
}

package replay_test

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// verify runs Verify on path and returns its output.
func verify(t *testing.T, path string) (replay.VerifyResult, string, error) {
	t.Helper()
	db := openUTC(t, path)
	var b bytes.Buffer
	res, err := db.Verify(&b)
	return res, b.String(), err
}

// rewrite re-encodes the record seq of the database at path after f
// changed it, with a valid checksum.
func rewrite(t *testing.T, path string, seq uint64, f func(*store.Record)) {
	t.Helper()
	recs, prev := readRecords(t, path)
	r := recs[seq-1]
	f(&r)
	editDB(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("records")).Put(seqKey(seq), encRecord(r, prev[seq]))
	})
}

func TestVerifyCleanHistories(t *testing.T) {
	for _, name := range []string{"lifecycle", "incident", "crash-6", "crash-9-acklost"} {
		t.Run(name, func(t *testing.T) {
			res, out, err := verify(t, fixture(t, name))
			if err != nil || res.Problems != 0 {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "0 problems") {
				t.Errorf("summary:\n%s", out)
			}
		})
	}
}

// The incident's first boot never closed: a daemon crash, reported as a
// warning with its position, not as corruption.
func TestVerifyUnclosedBootIsACrashNotCorruption(t *testing.T) {
	res, out, err := verify(t, fixture(t, "incident"))
	if err != nil {
		t.Fatalf("an unclosed boot made verify fail: %v\n%s", err, out)
	}
	if res.Problems != 0 || res.Warnings != 1 {
		t.Fatalf("%d problems, %d warnings\n%s", res.Problems, res.Warnings, out)
	}
	want := "warning: boot 1: never closed: the daemon (pid 4101, started 2000-01-01 00:00:00.000 UTC) crashed after record #13; boot 2 started 2000-01-01 00:00:05.000 UTC"
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if res.Records != 27 || res.VMs != 3 || res.Boots != 3 {
		t.Errorf("result %+v", res)
	}
}

func TestVerifyFindsDamage(t *testing.T) {
	cases := []struct {
		name string
		edit func(t *testing.T, path string)
		want []string // lines the output must hold
	}{
		{"flipped byte in the file", func(t *testing.T, path string) {
			// Find record #10's encoding in the file and flip one of its bits.
			var enc []byte
			editDB(t, path, func(tx *bolt.Tx) error {
				enc = bytes.Clone(tx.Bucket([]byte("records")).Get(seqKey(10)))
				return nil
			})
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			i := bytes.Index(b, enc)
			if i < 0 || bytes.Contains(b[i+1:], enc) {
				t.Fatalf("record #10's encoding found at %d (want exactly once)", i)
			}
			b[i+len(enc)/2] ^= 0x10
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"problem: record #10: checksum mismatch", `record #11 (vm "vm3" vmseq 4): the VM's record vmseq 3 is missing`}},
		{"flipped byte in a head", func(t *testing.T, path string) {
			editDB(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("heads"))
				v := bytes.Clone(b.Get([]byte("vm1")))
				v[3] ^= 0x01
				return b.Put([]byte("vm1"), v)
			})
		}, []string{`problem: head of vm "vm1": checksum mismatch (corrupt)`}},
		{"missing record", func(t *testing.T, path string) {
			editDB(t, path, func(tx *bolt.Tx) error { return tx.Bucket([]byte("records")).Delete(seqKey(16)) })
		}, []string{"problem: record #16: missing (#17 follows #15)", `problem: record #17 (vm "vm1" vmseq 7): the VM's record vmseq 6 is missing (vmseq 7 follows 5)`}},
		{"duplicated sequence", func(t *testing.T, path string) {
			rewrite(t, path, 10, func(r *store.Record) { r.VMSeq = 2 }) // vm3's spawned claims vm3's start's vmseq
		}, []string{`problem: record #10 (vm "vm3" vmseq 2): duplicated sequence: vmseq 2 again, after the VM's record #9 (vmseq 2)`}},
		{"record copied over the next", func(t *testing.T, path string) {
			editDB(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("records"))
				return b.Put(seqKey(20), bytes.Clone(b.Get(seqKey(19))))
			})
		}, []string{"problem: record #20: value says seq 19"}},
		{"forbidden transition", func(t *testing.T, path string) {
			rewrite(t, path, 13, func(r *store.Record) { r.Event = states.Start; r.To = states.Starting })
		}, []string{`problem: record #13 (vm "vm1" vmseq 5): start from Running: the transition table forbids it`}},
		{"to is not where the table leads", func(t *testing.T, path string) {
			rewrite(t, path, 19, func(r *store.Record) { r.To = states.Stopped })
		}, []string{`problem: record #19 (vm "vm2" vmseq 6): stop from Running leads to Stopping, not Stopped`,
			`problem: record #20 (vm "vm2" vmseq 7): from Stopping, but the VM's previous record #19 left it Stopped`}},
		{"head disagrees with its log", func(t *testing.T, path string) {
			editDB(t, path, func(tx *bolt.Tx) error {
				h := store.Head{VM: "vm3", State: states.Running, Seq: 24, VMSeq: 11}
				return tx.Bucket([]byte("heads")).Put([]byte("vm3"), encHead(h))
			})
		}, []string{`problem: head of vm "vm3": disagrees with its log: the head says Running (record #24), the records fold to Stopped (record #26)`}},
		{"record of a boot that does not exist", func(t *testing.T, path string) {
			rewrite(t, path, 27, func(r *store.Record) { r.Boot = 9 })
		}, []string{`problem: record #27 (vm "vm2" vmseq 8): written by boot 9, which does not exist (the last boot is 3)`}},
		{"spec that does not match its hash", func(t *testing.T, path string) {
			editDB(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("specs")).Put([]byte("vm1"), []byte(`{"template":"ZXZpbA=="}`))
			})
		}, []string{`problem: spec of vm "vm1": does not match the hash its records give`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := fixture(t, "incident")
			c.edit(t, path)
			res, out, err := verify(t, path)
			var pe *replay.ProblemsError
			if !errors.As(err, &pe) || !errors.Is(err, replay.ErrProblems) || pe.Problems != res.Problems || res.Problems == 0 {
				t.Fatalf("verify returned %v (%d problems)\n%s", err, res.Problems, out)
			}
			for _, want := range c.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			// The unclosed boot is still a warning, not one of the problems.
			if !strings.Contains(out, "warning: boot 1: never closed") {
				t.Errorf("the daemon crash is not reported as a warning:\n%s", out)
			}
			t.Logf("\n%s", out)
		})
	}
}

// TestVerifyAndStoreFindTheSame: replay verify presents the store's
// findings, nothing else: on a damaged history (a record gone, a chain
// link broken, a spec replaced) its lines are the store's findings
// ([store.Store.Verify]) one for one, and store.Check reports the same
// problems.
func TestVerifyAndStoreFindTheSame(t *testing.T) {
	path := fixture(t, "incident")
	recs, _ := readRecords(t, path)
	editDB(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("records"))
		if err := b.Delete(seqKey(16)); err != nil {
			return err
		}
		// vm2's record #20 links to #3 instead of its previous, #19.
		if err := b.Put(seqKey(20), encRecord(recs[19], 3)); err != nil {
			return err
		}
		return tx.Bucket([]byte("specs")).Put([]byte("vm1"), []byte(`{"template":"ZXZpbA=="}`))
	})
	db := openUTC(t, path)
	var b bytes.Buffer
	res, err := db.Verify(&b)
	if !errors.Is(err, replay.ErrProblems) {
		t.Fatalf("verify: %v\n%s", err, b.String())
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	printed := lines[:len(lines)-1] // the summary last

	var found, codes, problems []string
	stats := db.Store().Verify(store.VerifyOptions{Location: time.UTC}, func(f store.Finding) {
		found = append(found, f.String())
		codes = append(codes, f.Code.String())
		if f.Severity == store.Problem {
			problems = append(problems, f.Error())
		}
	})
	if strings.Join(printed, "\n") != strings.Join(found, "\n") {
		t.Errorf("replay verify printed\n%s\nthe store found\n%s", strings.Join(printed, "\n"), strings.Join(found, "\n"))
	}
	if stats.Problems != res.Problems || stats.Warnings != res.Warnings || stats.Records != res.Records {
		t.Errorf("store %+v, replay %+v", stats, res)
	}
	for _, want := range []string{"seq-gap", "vmseq", "link", "spec", "boot-crashed"} {
		if !slices.Contains(codes, want) {
			t.Errorf("no %s finding among %q", want, codes)
		}
	}
	err = db.Store().Check()
	for _, p := range problems {
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("store.Check = %v; lacks %q", err, p)
		}
	}
}

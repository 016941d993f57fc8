package replay_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/replay"
)

// FuzzVerify opens arbitrary bytes as a database and verifies them: no
// panic, no hang, an error that says what is wrong, and the file left as
// it was.
func FuzzVerify(f *testing.F) {
	seeds := [][]byte{{}, []byte("not a database"), bytes.Repeat([]byte{0}, 8192)}
	if b, err := os.ReadFile(filepath.Join("testdata", "schema1.db")); err == nil {
		seeds = append(seeds, b, b[:len(b)/2])
		// Damage inside the data pages, behind valid meta pages.
		for _, off := range []int{2 * 4096, 3*4096 + 100, len(b) - 200} {
			if off < len(b) {
				c := bytes.Clone(b)
				c[off] ^= 0xff
				seeds = append(seeds, c)
			}
		}
	}
	gen := filepath.Join(f.TempDir(), "gen.db")
	genDB(f, gen, 300, 7)
	if b, err := os.ReadFile(gen); err == nil {
		seeds = append(seeds, b)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := replay.Open(path, replay.Options{})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an open error with no message")
			}
		} else {
			_, verr := db.Verify(io.Discard)
			if verr != nil && verr.Error() == "" {
				t.Fatal("a verify error with no message")
			}
			_ = db.Timeline(io.Discard, replay.TimelineOptions{})
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
		after, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(after, data) {
			t.Fatalf("the file changed (%v)", err)
		}
	})
}

// FuzzVerifyValues puts arbitrary bytes, as a record, head or boot value,
// into a sound database: Verify never panics, and reports a problem unless
// the bytes happen to be what was there.
func FuzzVerifyValues(f *testing.F) {
	base := filepath.Join(f.TempDir(), "base.db")
	genDB(f, base, 60, 4)
	orig, err := os.ReadFile(base)
	if err != nil {
		f.Fatal(err)
	}
	recs, prev := readRecords(f, base)
	for i, r := range recs[:10] {
		v := encRecord(r, prev[r.Seq])
		f.Add(byte(i), v)
		f.Add(byte(i), v[:len(v)-1])
		w := bytes.Clone(v)
		w[len(w)/2] ^= 0x40
		f.Add(byte(i), w)
	}
	f.Add(byte(200), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, where byte, value []byte) {
		if len(value) == 0 {
			return // bbolt stores an empty value as is; nothing new
		}
		path := filepath.Join(t.TempDir(), "fuzz.db")
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		var bucket, key []byte
		switch {
		case where < 60:
			bucket, key = []byte("records"), seqKey(uint64(where)+1)
		case where < 120:
			bucket, key = []byte("heads"), []byte(recs[int(where)%4].VM)
		default:
			bucket, key = []byte("boots"), seqKey(1)
		}
		var old []byte
		editDB(t, path, func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			old = bytes.Clone(b.Get(key))
			return b.Put(key, value)
		})
		db, err := replay.Open(path, replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		res, err := db.Verify(io.Discard)
		if bytes.Equal(old, value) {
			if err != nil {
				t.Fatalf("unchanged database: %v", err)
			}
			return
		}
		if err == nil || res.Problems == 0 {
			// A different encoding of the same record (a varint with a
			// redundant byte cannot pass the checksum, so this is damage).
			t.Fatalf("%s %x: %x → %x went unnoticed", bucket, key, old, value)
		}
		_ = db.Timeline(io.Discard, replay.TimelineOptions{})
		_ = db.Export(io.Discard, "")
	})
}

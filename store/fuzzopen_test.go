package store_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lifeline-vm/lifeline/store"
)

var smallDB struct {
	once sync.Once
	data []byte
	err  error
}

// smallFleet returns the bytes of a small sound database (writeFleet's).
func smallFleet(f *testing.F) []byte {
	smallDB.once.Do(func() {
		dir, err := os.MkdirTemp("", "lifeline-fuzz")
		if err != nil {
			smallDB.err = err
			return
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "small.db")
		writeFleet(f, path)
		smallDB.data, smallDB.err = os.ReadFile(path)
	})
	if smallDB.err != nil {
		f.Fatal(smallDB.err)
	}
	return smallDB.data
}

// FuzzOpenDamaged damages a sound database and opens it the ways lifeline
// does: the daemon's Open, then replay's OpenReadOnly with AllowDamage and
// everything replay reads. None may panic or hang; each returns a store or
// an error. Then it salvages the file: what the salvage writes must check
// and open.
//
// muts is a list of 4-byte edits: a 3-byte big-endian offset (modulo the
// file's size) and a byte to XOR there; cut, when not 0, truncates the
// file to cut modulo its size.
func FuzzOpenDamaged(f *testing.F) {
	data := smallFleet(f)
	ps := os.Getpagesize()
	f.Add([]byte{}, uint32(0))                                // sound
	f.Add([]byte{}, uint32(len(data)/2))                      // cut in half
	f.Add([]byte{0, 0, 16, 0xff}, uint32(0))                  // meta 0's magic
	f.Add([]byte{0, byte(ps >> 8), 16 + 40, 0x01}, uint32(0)) // meta 1's high water mark
	f.Add([]byte{0, byte(2 * ps >> 8), 8, 0x03}, uint32(0))   // page 2's type
	f.Add([]byte{0, byte(2 * ps >> 8), 10, 0x40, 0, byte(3 * ps >> 8), 20, 0x80}, uint32(0))
	f.Add([]byte{0, 0x30, 0x00, 0x5a, 0, 0x40, 0x10, 0x01, 0, 0x50, 0x77, 0x10}, uint32(0))
	f.Fuzz(func(t *testing.T, muts []byte, cut uint32) {
		b := append([]byte(nil), data...)
		for i := 0; i+4 <= len(muts) && i < 4*64; i += 4 {
			off := int(binary.BigEndian.Uint32(append([]byte{0}, muts[i:i+3]...))) % len(b)
			b[off] ^= muts[i+3]
		}
		if cut != 0 {
			b = b[:int(cut)%len(b)]
		}
		path := filepath.Join(t.TempDir(), "lifeline.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := store.Open(path, store.Options{NoSync: true}); err == nil {
			readAll(s)
			if err := s.Close(); err != nil {
				t.Logf("close: %v", err)
			}
		}
		if s, err := store.OpenReadOnly(path, store.Options{AllowDamage: true}); err == nil {
			readAll(s)
			_ = s.Check()
			_ = s.Close()
		}
		// What a salvage writes, the daemon opens.
		dst := filepath.Join(t.TempDir(), "salvaged.db")
		if _, err := store.Salvage(path, dst); err == nil {
			s, err := store.Open(dst, store.Options{NoSync: true})
			if err != nil {
				t.Fatalf("the daemon refuses what salvage wrote: %v", err)
			}
			readAll(s)
			_ = s.Close()
		} else if strings.Contains(err.Error(), "does not check") {
			t.Fatal(err)
		}
	})
}

// readAll reads what the engine and replay read, ignoring errors: only a
// panic or a hang fails.
func readAll(s *store.Store) {
	heads, _ := s.Heads()
	for _, h := range heads {
		_ = s.VMRecords(h.VM, 0, func(store.Record) error { return nil })
		_, _ = s.Spec(h.VM)
	}
	_ = s.Records(0, func(store.Record) error { return nil })
	_, _ = s.Boots()
}

package store

import (
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var updateBoots = flag.Bool("update-boots", false, "rewrite testdata/boots-v2.db")

// goldenBootsV2 is testdata/v1.db opened twice more by a build that writes
// boot encoding version 2: boot 1 is the version 1 boot of v1.db, boot 2
// detached (its VMs left running) and boot 3, on a host that rebooted in
// between, closed cleanly. Kept forever: every later build must read it.
const goldenBootsV2 = "testdata/boots-v2.db"

var goldenBootInfo = [...]BootInfo{
	{Version: "v0.9.0 (rev 3e3fd85a1b2c, 2026-11-30T20:00:00Z)", HostBootID: "0e4bd7a6-5b1c-4b52-9f0a-2c1e6f1c2c1e", HostName: "build-host"},
	{Version: "(devel) (rev d8767b1f00d2, modified)", HostBootID: "7c9f2a31-8e4d-4f6b-a1d2-55e0b3c4d5e6", HostName: "build-host"},
}

// wantGoldenBoots is what goldenBootsV2's boots read as.
func wantGoldenBoots() []Boot {
	return []Boot{
		{Number: 1, Started: goldenT0, PID: 0, Closed: goldenT0},
		{Number: 2, Started: goldenT0.Add(time.Hour), Closed: goldenT0.Add(2 * time.Hour), Detached: true, BootInfo: goldenBootInfo[0]},
		{Number: 3, Started: goldenT0.Add(3 * time.Hour), Closed: goldenT0.Add(4 * time.Hour), BootInfo: goldenBootInfo[1]},
	}
}

// TestBootsOfVersion1And2 is issue 10 part 1's boot record: the database of
// version 1 boots (testdata/v1.db) and the one with version 2 boots after a
// version 1 boot (testdata/boots-v2.db) both read, unchanged by the read;
// a version 1 boot has no daemon version, host or detach mark, a version 2
// boot has all of them, and a host boot id that changed between two boots
// is a host reboot.
func TestBootsOfVersion1And2(t *testing.T) {
	if *updateBoots {
		writeGoldenBoots(t)
	}
	for _, tc := range []struct {
		path string
		want []Boot
	}{
		{goldenV1, wantGoldenBoots()[:1]},
		{goldenBootsV2, wantGoldenBoots()},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			before := fileSum(t, tc.path)
			s, err := OpenReadOnly(tc.path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
			got, err := s.Boots()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// The boots were written by a test process: their pids are
			// whatever they were.
			for i := range got {
				got[i].PID = 0
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("boots\n%+v\nwant\n%+v", got, tc.want)
			}
			if fileSum(t, tc.path) != before {
				t.Fatalf("OpenReadOnly changed %s", tc.path)
			}
		})
	}
	b := wantGoldenBoots()
	if b[1].HostRebooted(b[0]) {
		t.Error("boot 2 after a version 1 boot (no host boot id): reported a host reboot")
	}
	if !b[2].HostRebooted(b[1]) {
		t.Error("boot 3, whose host boot id differs from boot 2's: no host reboot reported")
	}
	if b[1].HostRebooted(b[1]) {
		t.Error("the same host boot id: reported a host reboot")
	}
}

// writeGoldenBoots makes testdata/boots-v2.db from testdata/v1.db.
func writeGoldenBoots(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "boots.db")
	copyFile(t, goldenV1, tmp)
	at := func(h int) func() time.Time {
		return func() time.Time { return goldenT0.Add(time.Duration(h) * time.Hour) }
	}
	s, err := Open(tmp, Options{Now: at(1), BootInfo: goldenBootInfo[0]})
	if err != nil {
		t.Fatal(err)
	}
	s.now = at(2)
	if err := s.CloseDetached(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(tmp, Options{Now: at(3), BootInfo: goldenBootInfo[1]}); err != nil {
		t.Fatal(err)
	}
	s.now = at(4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	copyFile(t, tmp, goldenBootsV2)
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestOpenRefusesBootInfoItCannotHold: a field over 256 bytes or not UTF-8
// is refused before anything is written, naming the field.
func TestOpenRefusesBootInfoItCannotHold(t *testing.T) {
	for _, tc := range []struct {
		bi   BootInfo
		want string
	}{
		{BootInfo{HostName: strings.Repeat("h", 257)}, "host name is 257 bytes"},
		{BootInfo{Version: "v1\xff"}, "version"},
		{BootInfo{HostBootID: strings.Repeat("b", 300)}, "host boot id is 300 bytes"},
	} {
		path := filepath.Join(t.TempDir(), "lifeline.db")
		s, err := Open(path, Options{BootInfo: tc.bi})
		if err == nil {
			s.Close()
			t.Fatalf("Open with %+v: no error", tc.bi)
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("Open with %+v: %v, want it to name %s and %q", tc.bi, err, path, tc.want)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("Open with %+v created the file", tc.bi)
		}
	}
}

// TestBootRecordCarriesBootInfo: Open records Options.BootInfo in its boot,
// Close leaves it and CloseDetached marks the boot detached.
func TestBootRecordCarriesBootInfo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	bi := BootInfo{Version: "v1.2.3 (rev abc)", HostBootID: "boot-a", HostName: "host-a"}
	for i, closeFn := range []func(*Store) error{(*Store).CloseDetached, (*Store).Close} {
		s, err := Open(path, Options{BootInfo: bi})
		if err != nil {
			t.Fatal(err)
		}
		if err := closeFn(s); err != nil {
			t.Fatal(err)
		}
		ro, err := OpenReadOnly(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		boots, err := ro.Boots()
		ro.Close()
		if err != nil || len(boots) != i+1 {
			t.Fatalf("boots %+v, %v", boots, err)
		}
		b := boots[i]
		if b.BootInfo != bi || b.Closed.IsZero() || b.Detached != (i == 0) {
			t.Errorf("boot %d: %+v, want info %+v, closed, detached %v", b.Number, b, bi, i == 0)
		}
	}
}

// appendBootV1 is appendBoot as builds before boot encoding version 2
// wrote it.
func appendBootV1(b []byte, bt *Boot) []byte {
	start := len(b)
	b = append(b, 1)
	b = binary.AppendUvarint(b, bt.Number)
	b = binary.AppendVarint(b, unixNano(bt.Started))
	b = binary.AppendVarint(b, int64(bt.PID))
	b = binary.AppendVarint(b, unixNano(bt.Closed))
	return appendChecksum(b, start)
}

// TestDecodeBootVersions: a version 1 boot reads with no flags and an
// empty BootInfo; a version 2 boot reads back what was written; a version
// this build does not know, or a flag it does not know, is corrupt.
func TestDecodeBootVersions(t *testing.T) {
	b := Boot{Number: 3, Started: time.Unix(10, 0).UTC(), PID: 77, Closed: time.Unix(20, 0).UTC()}
	got, err := decodeBoot(appendBootV1(nil, &b), 3)
	if err != nil || got != b {
		t.Fatalf("version 1: %+v, %v; want %+v", got, err, b)
	}
	b.Detached, b.BootInfo = true, BootInfo{Version: "v1", HostBootID: "id", HostName: "h"}
	v := appendBoot(nil, &b)
	if v[0] != 2 {
		t.Fatalf("appendBoot wrote version %d, want 2", v[0])
	}
	if got, err = decodeBoot(v, 3); err != nil || got != b {
		t.Fatalf("version 2: %+v, %v; want %+v", got, err, b)
	}
	for _, bad := range []struct {
		mutate func([]byte)
		want   string
	}{
		{func(v []byte) { v[0] = 3 }, "unknown encoding version 3"},
		{func(v []byte) { v[0] = 0 }, "unknown encoding version 0"},
		{func(v []byte) { v[len(v)-checksumLen-len("h")-1-len("id")-1-len("v1")-1-1] = 2 }, "unknown boot flags 2"},
	} {
		w := append([]byte(nil), v...)
		bad.mutate(w)
		// Re-seal, so that the version or flag is what is wrong.
		w = appendChecksum(w[:len(w)-checksumLen], 0)
		if _, err := decodeBoot(w, 3); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%x: %v, want %q", w, err, bad.want)
		}
	}
}

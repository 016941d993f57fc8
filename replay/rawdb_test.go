package replay_test

// This file writes lifeline databases with raw bbolt, following the layout
// documented in store/doc.go and store/encode.go (encoding version 1, the
// layout with reasons as sentences, which every build reads), to craft
// damage the store itself never writes and to build large databases fast.
// TestRawEncoderMatchesStore keeps it honest.

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/store"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func rawNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func rawString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func rawProc(b []byte, p store.Proc) []byte {
	b = binary.AppendVarint(b, int64(p.PID))
	b = binary.AppendUvarint(b, p.StartTime)
	b = binary.AppendVarint(b, int64(p.Group))
	return rawString(b, p.BootID)
}

func rawHash(b []byte, h store.SpecHash) []byte {
	if h.IsZero() {
		return append(b, 0)
	}
	return append(append(b, 1), h[:]...)
}

func rawSum(b []byte) []byte { return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)) }

// encRecord encodes r, chained to the VM's previous record prev.
func encRecord(r store.Record, prev uint64) []byte {
	b := []byte{1}
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendUvarint(b, r.VMSeq)
	b = binary.AppendUvarint(b, prev)
	b = rawString(b, r.VM)
	b = append(b, byte(r.Event), byte(r.From), byte(r.To))
	b = binary.AppendVarint(b, rawNano(r.Time))
	b = binary.AppendUvarint(b, r.Boot)
	b = rawProc(b, r.Agent)
	b = rawProc(b, r.VMProcess)
	b = binary.AppendVarint(b, rawNano(r.Deadline))
	b = rawString(b, r.Reason)
	b = rawHash(b, r.SpecHash)
	return rawSum(b)
}

func encHead(h store.Head) []byte {
	b := []byte{1}
	b = rawString(b, h.VM)
	b = append(b, byte(h.State))
	b = binary.AppendUvarint(b, h.Seq)
	b = binary.AppendUvarint(b, h.VMSeq)
	b = binary.AppendVarint(b, rawNano(h.Since))
	b = append(b, byte(h.Event))
	b = rawString(b, h.Reason)
	b = rawProc(b, h.Agent)
	b = rawProc(b, h.VMProcess)
	b = binary.AppendVarint(b, rawNano(h.Deadline))
	b = rawHash(b, h.SpecHash)
	return rawSum(b)
}

func encBoot(bt store.Boot) []byte {
	if bt.Detached || bt.BootInfo != (store.BootInfo{}) {
		return encBootV2(bt)
	}
	b := []byte{1}
	b = binary.AppendUvarint(b, bt.Number)
	b = binary.AppendVarint(b, rawNano(bt.Started))
	b = binary.AppendVarint(b, int64(bt.PID))
	b = binary.AppendVarint(b, rawNano(bt.Closed))
	return rawSum(b)
}

// encBootV2 is a boot of encoding version 2: version 1's fields, flags
// (1: detached), then the daemon's version, host boot id and host name.
func encBootV2(bt store.Boot) []byte {
	b := []byte{2}
	b = binary.AppendUvarint(b, bt.Number)
	b = binary.AppendVarint(b, rawNano(bt.Started))
	b = binary.AppendVarint(b, int64(bt.PID))
	b = binary.AppendVarint(b, rawNano(bt.Closed))
	var flags byte
	if bt.Detached {
		flags = 1
	}
	b = append(b, flags)
	b = rawString(b, bt.Version)
	b = rawString(b, bt.HostBootID)
	b = rawString(b, bt.HostName)
	return rawSum(b)
}

// editDB runs f in a read-write bbolt transaction on the file at path.
func editDB(t testing.TB, path string, f func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(f); err != nil {
		db.Close()
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// readRecords reads every record and each one's chain link, through the
// store (the links through the raw file).
func readRecords(t testing.TB, path string) (recs []store.Record, prev map[uint64]uint64) {
	t.Helper()
	st, err := store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Records(1, func(r store.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	prev = make(map[uint64]uint64)
	last := make(map[string]uint64)
	for _, r := range recs {
		prev[r.Seq] = last[r.VM]
		last[r.VM] = r.Seq
	}
	return recs, prev
}

// fixBootPIDs gives boot n the pid 4100+n, so that a database made by a
// test reads the same whatever the test process's pid was.
func fixBootPIDs(t testing.TB, path string) {
	t.Helper()
	st, err := store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	boots, err := st.Boots()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	editDB(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("boots"))
		for _, bt := range boots {
			bt.PID = 4100 + int(bt.Number)
			if err := b.Put(seqKey(bt.Number), encBoot(bt)); err != nil {
				return err
			}
		}
		return nil
	})
}

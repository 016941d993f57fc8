// Package store is lifeline's log: one bbolt file holding every VM's
// transition records, each VM's head and spec, and the daemon's boots.
//
// # Schema
//
// The file is a tree of buckets. Every key below is declared once, as a
// variable in doc.go, beside the helpers that open its bucket.
//
//	meta
//	╰── schema : uint32, big-endian; the schema version (2)
//	records
//	╰── <seq> : record       seq: 8 bytes big-endian, from 1, gap-free
//	heads
//	╰── <vm name> : head     every VM ever created, deleted ones too
//	specs
//	╰── <vm name> : bytes    what to run, as the engine gave it
//	boots
//	╰── <number> : boot      8 bytes big-endian, from 1
//
// A VM's history is a chain through the records bucket: its head holds the
// seq of its last record, and each record the seq of the VM's record
// before it (0 for its first). An append thus writes one record, one head
// and, when given, one spec, into flat buckets whose pages many VMs share,
// so a transaction of a hundred VMs' appends writes a few pages, not a
// hundred. [Store.VMRecords] walks the chain back from the head.
//
// Records, heads and boots are encoded compactly (encode.go): a version byte,
// the fields as varints and length-prefixed strings, times as Unix
// nanoseconds (0 for the zero time), and a CRC-32C (Castagnoli) of all of it
// appended. A value that does not decode, or whose checksum does not match,
// is an error wrapping [ErrCorrupt] that says where it is ([CorruptError]).
// The store never skips or repairs a corrupt value.
//
// Each kind of value has its own encoding version, and every version of a
// kind stays readable: a value keeps the version it was written with until
// it is written again, so a file holds values of both versions side by
// side. Records and heads are at version 2, which holds why a transition
// happened as a typed [Cause] (cause.go); version 1 held a sentence, and a
// version-1 value reads back with that sentence and the cause
// [ParseReason] finds in it (a sentence it does not know is kept as
// [CauseUnknown]). Boots are at version 2, which adds to version 1's
// number, start, pid and close the detach mark ([Boot.Detached]) and what
// the daemon said of itself and its host ([BootInfo]: its version, the
// host's boot id and name); a version 1 boot reads with those empty.
//
// Changing the layout of the buckets means bumping the schema version and
// adding a migration (migrate.go); [Open] runs pending ones, [OpenReadOnly]
// never does. A new encoding version needs no rewrite (the readers of every
// older version live beside it), but it bumps the schema with a migration
// that changes no data, so that a build older than it refuses the file as
// newer ([ErrNewerSchema]) rather than reporting its values as corrupt:
// schema 2 is the first such step (encoding version 2 of records, heads and
// boots).
//
// # Writes
//
// Every [Store.Append] is one record, the VM's new head and, when given,
// its spec, written in one bbolt transaction, after the record was checked
// against the VM's head in that same transaction. Appends share
// transactions (group commit) without any added delay: an append made
// while no commit runs commits at once, on its caller's goroutine, so a
// lone writer pays one transaction per append and no hand-off; appends
// made while a commit runs queue, and when it ends one committer goroutine
// writes everything queued in one transaction, in order, and repeats until
// the queue is empty. An append that fails its checks fails alone; one
// whose transaction fails to commit reports that error.
//
// # Caveats
//
//   - An Append whose context ends while it is queued is withdrawn. One
//     whose context ends after its commit began returns the context's
//     error, but the record may still be committed (bbolt's DB.Batch has
//     the same caveat): read the head to know.
//   - Readers ([Store.Records], [Store.VMRecords]) read in chunks, each in
//     its own read transaction, and call fn outside of them: fn may append,
//     and records committed during a scan may or may not be seen by it.
//   - The file is locked while open. A second Open of it, by this process
//     or another, fails with [ErrLocked] after [Options.Timeout].
//     OpenReadOnly takes a shared lock, so it too fails while a read-write
//     Store holds the file: copy the file with [Store.Backup] first.
//   - The instant 1970-01-01T00:00:00Z is the encoding of the zero time: a
//     record carrying exactly that time reads back as the zero time.
package store

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// The keys of the schema (see the package doc). Never change one; add a
// migration.
var (
	bucketKeyMeta    = []byte("meta")
	bucketKeyRecords = []byte("records")
	bucketKeyHeads   = []byte("heads")
	bucketKeySpecs   = []byte("specs")
	bucketKeyBoots   = []byte("boots")

	bucketKeySchema = []byte("schema") // in meta
)

// topBuckets are the buckets a schema-1 file has at its root.
var topBuckets = [][]byte{bucketKeyMeta, bucketKeyRecords, bucketKeyHeads, bucketKeySpecs, bucketKeyBoots}

// recordsFill is the fill percent of the records bucket: nearly full
// pages, since its keys only ever grow.
const recordsFill = 0.9

// seqKey encodes a sequence or boot number as a key: 8 bytes big-endian, so
// that bbolt's byte order is numeric order.
func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }

// parseSeqKey decodes a key written by seqKey.
func parseSeqKey(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

// getBucket returns a top-level bucket, or a *CorruptError when a schema-1
// file lacks it.
func getBucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if b := tx.Bucket(name); b != nil {
		return b, nil
	}
	return nil, &CorruptError{Bucket: string(name), Reason: "missing bucket"}
}

func getRecordsBucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	b, err := getBucket(tx, bucketKeyRecords)
	if b != nil && tx.Writable() {
		b.FillPercent = recordsFill
	}
	return b, err
}

func getHeadsBucket(tx *bolt.Tx) (*bolt.Bucket, error) { return getBucket(tx, bucketKeyHeads) }
func getSpecsBucket(tx *bolt.Tx) (*bolt.Bucket, error) { return getBucket(tx, bucketKeySpecs) }
func getBootsBucket(tx *bolt.Tx) (*bolt.Bucket, error) { return getBucket(tx, bucketKeyBoots) }

// createTopBuckets creates the root of a new file.
func createTopBuckets(tx *bolt.Tx) error {
	for _, name := range topBuckets {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	return nil
}

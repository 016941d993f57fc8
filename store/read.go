package store

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// scanChunk is how many records a scan reads per read transaction before
// handing them to its callback.
const scanChunk = 1024

// readHead decodes vm's head; ok is false if there is none.
func readHead(heads *bolt.Bucket, vm string) (h Head, ok bool, err error) {
	v := heads.Get([]byte(vm))
	if v == nil {
		return Head{}, false, nil
	}
	h, err = decodeHead(v, vm)
	return h, err == nil, err
}

// decodeHead decodes the head stored under vm's name.
func decodeHead(v []byte, vm string) (Head, error) {
	var d decoder
	var h Head
	reason := "not a value"
	if v != nil {
		reason = d.head(v, &h)
	}
	if reason == "" && h.VM != vm {
		reason = fmt.Sprintf("head names vm %q", h.VM)
	}
	if reason != "" {
		return Head{}, &CorruptError{Bucket: "heads", Key: []byte(vm), VM: vm, Reason: reason}
	}
	return h, nil
}

// Head returns vm's head; ok is false if vm was never created. A deleted
// VM has a head in state Absent.
func (s *Store) Head(vm string) (h Head, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		heads, err := getHeadsBucket(tx)
		if err != nil {
			return err
		}
		h, ok, err = readHead(heads, vm)
		return err
	})
	if err != nil {
		return Head{}, false, fmt.Errorf("vm %q: head: %w", vm, err)
	}
	return h, ok, nil
}

// Heads returns the head of every VM ever created, deleted ones (state
// Absent) included, sorted by name.
func (s *Store) Heads() ([]Head, error) {
	var out []Head
	err := s.view(func(tx *bolt.Tx) error {
		heads, err := getHeadsBucket(tx)
		if err != nil {
			return err
		}
		return heads.ForEach(func(k, v []byte) error {
			h, err := decodeHead(v, string(k))
			out = append(out, h)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	return out, nil
}

// Spec returns a copy of vm's spec, or an error wrapping [ErrNotFound].
func (s *Store) Spec(vm string) ([]byte, error) {
	var spec []byte
	err := s.view(func(tx *bolt.Tx) error {
		specs, err := getSpecsBucket(tx)
		if err != nil {
			return err
		}
		v := specs.Get([]byte(vm))
		if v == nil {
			return ErrNotFound
		}
		spec = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vm %q: spec: %w", vm, err)
	}
	return spec, nil
}

// Records calls fn with every record whose Seq is fromSeq or later, in
// global order, and stops at the first error fn returns, returning it as
// is. A corrupt record ends the scan with an error wrapping [ErrCorrupt],
// after fn saw every record before it.
func (s *Store) Records(fromSeq uint64, fn func(Record) error) error {
	next := max(fromSeq, 1)
	d := decoder{names: make(map[string]string)}
	buf := make([]Record, 0, scanChunk)
	for {
		buf = buf[:0]
		readErr := s.view(func(tx *bolt.Tx) error {
			records, err := getRecordsBucket(tx)
			if err != nil {
				return err
			}
			c := records.Cursor()
			for k, v := c.Seek(seqKey(next)); k != nil && len(buf) < scanChunk; k, v = c.Next() {
				buf = append(buf, Record{})
				if err := decodeAt(&d, k, v, &buf[len(buf)-1]); err != nil {
					buf = buf[:len(buf)-1]
					return err
				}
			}
			return nil
		})
		for i := range buf {
			if err := fn(buf[i]); err != nil {
				return err
			}
		}
		if readErr != nil {
			return fmt.Errorf("records: %w", readErr)
		}
		if len(buf) < scanChunk {
			return nil
		}
		next = buf[len(buf)-1].Seq + 1
	}
}

// decodeAt decodes the record at key k of the records bucket.
func decodeAt(d *decoder, k, v []byte, r *Record) error {
	seq, ok := parseSeqKey(k)
	if !ok {
		return &CorruptError{Bucket: "records", Key: keyPrefix(k), Reason: fmt.Sprintf("key of %d bytes is not a sequence number", len(k))}
	}
	reason := "missing"
	if v != nil {
		reason = d.record(v, r)
	}
	if reason == "" && r.Seq != seq {
		reason = fmt.Sprintf("value says seq %d", r.Seq)
	}
	if reason != "" {
		return &CorruptError{Bucket: "records", Key: keyPrefix(k), Seq: seq, VM: r.VM, Reason: reason}
	}
	return nil
}

// maxErrorKey bounds how much of a key a CorruptError keeps: a damaged
// page may claim a key of hundreds of megabytes.
const maxErrorKey = 16

// keyPrefix copies at most maxErrorKey bytes of a key for an error.
func keyPrefix(k []byte) []byte {
	return bytes.Clone(k[:min(len(k), maxErrorKey)])
}

// VMRecords calls fn with vm's records whose VMSeq is fromVMSeq or later,
// oldest first, and stops at the first error fn returns, returning it as
// is. A VM never created is an error wrapping [ErrNotFound]. It walks the
// VM's chain back from its head first, so a corrupt record anywhere in
// the range fails it before fn is called.
func (s *Store) VMRecords(vm string, fromVMSeq uint64, fn func(Record) error) error {
	seqs, err := s.vmChain(vm, max(fromVMSeq, 1))
	if err != nil {
		return fmt.Errorf("vm %q: records: %w", vm, err)
	}
	slices.Reverse(seqs)
	d := decoder{names: make(map[string]string)}
	buf := make([]Record, min(len(seqs), scanChunk)) // a VM's tail is often a few records
	for len(seqs) > 0 {
		chunk := seqs[:min(len(seqs), scanChunk)]
		seqs = seqs[len(chunk):]
		err := s.view(func(tx *bolt.Tx) error {
			records, err := getRecordsBucket(tx)
			if err != nil {
				return err
			}
			for i, seq := range chunk {
				k := seqKey(seq)
				if err := decodeAt(&d, k, records.Get(k), &buf[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("vm %q: records: %w", vm, err)
		}
		for i := range chunk {
			if err := fn(buf[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// vmChain returns the seqs of vm's records from vmseq from on, newest
// first, following the chain back from the head.
func (s *Store) vmChain(vm string, from uint64) (seqs []uint64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		heads, err := getHeadsBucket(tx)
		if err != nil {
			return err
		}
		records, err := getRecordsBucket(tx)
		if err != nil {
			return err
		}
		h, ok, err := readHead(heads, vm)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		var d decoder
		var r Record
		for seq, vmseq := h.Seq, h.VMSeq; vmseq >= from; seq, vmseq = d.prev, vmseq-1 {
			k := seqKey(seq)
			if err := decodeAt(&d, k, records.Get(k), &r); err != nil {
				return err
			}
			if r.VM != vm || r.VMSeq != vmseq || d.prev >= seq || (vmseq == 1) != (d.prev == 0) {
				return &CorruptError{Bucket: "records", Key: k, Seq: seq, VM: vm, Reason: fmt.Sprintf(
					"vm %q's chain reaches vm %q vmseq %d (previous seq %d) where vmseq %d should be", vm, r.VM, r.VMSeq, d.prev, vmseq)}
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	return seqs, err
}

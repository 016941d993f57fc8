package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// maxProblems bounds how many problems Check lists; it counts the rest.
const maxProblems = 100

// Check verifies the database in one read transaction: every value decodes
// and matches its checksum; global seqs run from 1 without gaps; each
// VM's records have VMSeqs contiguous from 1, each one's From is the
// previous one's To (Absent first), its link is the previous one's seq,
// and its To is where the transition table leads; each VM's head equals
// [Fold] of its records and its spec matches the head's hash; every
// record's boot exists. It returns nil for a clean file, else an error joining every
// problem (up to 100) with its position.
func (s *Store) Check() error { return s.check(nil) }

// check is Check, passing the missing specs of specLost's VMs.
func (s *Store) check(specLost map[string]bool) error {
	c := checker{vms: make(map[string]Head), specLost: specLost}
	if err := s.view(c.run); err != nil {
		return fmt.Errorf("check %s: %w", s.path, err)
	}
	if c.more > 0 {
		c.problems = append(c.problems, fmt.Errorf("and %d more problems", c.more))
	}
	return errors.Join(c.problems...)
}

type checker struct {
	problems []error
	more     int
	boots    uint64
	vms      map[string]Head // each VM's records, folded
	specLost map[string]bool // VMs whose missing spec a salvage reported
}

func (c *checker) add(err error) {
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, err)
	} else {
		c.more++
	}
}

func (c *checker) run(tx *bolt.Tx) error {
	if _, _, err := readSchema(tx); err != nil {
		c.add(err)
	}
	for _, name := range topBuckets {
		if _, err := getBucket(tx, name); err != nil {
			c.add(err)
		}
	}
	if b := tx.Bucket(bucketKeyBoots); b != nil {
		c.checkBoots(b)
	}
	if b := tx.Bucket(bucketKeyRecords); b != nil {
		c.checkRecords(b)
	}
	if heads, specs := tx.Bucket(bucketKeyHeads), tx.Bucket(bucketKeySpecs); heads != nil && specs != nil {
		c.checkHeads(heads, specs)
	}
	return nil
}

func (c *checker) checkBoots(boots *bolt.Bucket) {
	_ = boots.ForEach(func(k, v []byte) error {
		n, ok := parseSeqKey(k)
		if !ok {
			c.add(&CorruptError{Bucket: "boots", Key: keyPrefix(k), Reason: "key is not a boot number"})
			return nil
		}
		if n != c.boots+1 {
			c.add(fmt.Errorf("boot %d: follows boot %d", n, c.boots))
		}
		c.boots = n
		if _, err := decodeBoot(v, n); err != nil {
			c.add(err)
		}
		return nil
	})
}

func (c *checker) checkRecords(records *bolt.Bucket) {
	var d decoder
	var last uint64
	_ = records.ForEach(func(k, v []byte) error {
		var r Record
		if err := decodeAt(&d, k, v, &r); err != nil {
			c.add(err)
			if seq, ok := parseSeqKey(k); ok {
				last = seq
			}
			return nil
		}
		if r.Seq != last+1 {
			c.add(fmt.Errorf("record seq %d: follows seq %d", r.Seq, last))
		}
		last = r.Seq
		at := fmt.Sprintf("record seq %d (vm %q vmseq %d)", r.Seq, r.VM, r.VMSeq)
		h := c.vms[r.VM]
		if r.VMSeq != h.VMSeq+1 {
			c.add(fmt.Errorf("%s: follows vmseq %d", at, h.VMSeq))
		}
		if d.prev != h.Seq {
			c.add(fmt.Errorf("%s: links to seq %d, but the VM's previous record is seq %d", at, d.prev, h.Seq))
		}
		if r.From != h.State {
			c.add(fmt.Errorf("%s: from %s, but the previous record left %s", at, r.From, h.State))
		}
		if to, err := states.Next(r.From, r.Event); err != nil {
			c.add(fmt.Errorf("%s: %w", at, err))
		} else if to != r.To {
			c.add(fmt.Errorf("%s: %s from %s leads to %s, not %s", at, r.Event, r.From, to, r.To))
		}
		if r.Boot == 0 || r.Boot > c.boots {
			c.add(fmt.Errorf("%s: boot %d does not exist (last is %d)", at, r.Boot, c.boots))
		}
		if !r.Cause.Kind.Valid() {
			c.add(fmt.Errorf("%s: undeclared cause kind %d (written by a newer build?)", at, uint8(r.Cause.Kind)))
		}
		c.vms[r.VM] = h.Apply(r)
		return nil
	})
}

func (c *checker) checkHeads(heads, specs *bolt.Bucket) {
	_ = heads.ForEach(func(k, v []byte) error {
		name := string(k)
		want, ok := c.vms[name]
		if !ok {
			c.add(fmt.Errorf("vm %q: has a head but no records", name))
		}
		h, err := decodeHead(v, name)
		if err != nil {
			c.add(err)
		} else if ok && h != want { // both decoded the same way: == is exact
			c.add(fmt.Errorf("vm %q: head (seq %d, %s) differs from its folded records (seq %d, %s)", name, h.Seq, h.State, want.Seq, want.State))
		}
		return nil
	})
	for _, name := range slices.Sorted(maps.Keys(c.vms)) {
		h := c.vms[name]
		if heads.Get([]byte(name)) == nil {
			c.add(fmt.Errorf("vm %q: has records but no head", name))
		}
		if spec := specs.Get([]byte(name)); !h.SpecHash.IsZero() && SpecHash(sha256.Sum256(spec)) != h.SpecHash && !(spec == nil && c.specLost[name]) {
			c.add(fmt.Errorf("vm %q: spec does not match the hash of record seq %d", name, h.Seq))
		}
	}
	_ = specs.ForEach(func(k, _ []byte) error {
		if _, ok := c.vms[string(k)]; !ok {
			c.add(fmt.Errorf("vm %q: has a spec but no records", k))
		}
		return nil
	})
}

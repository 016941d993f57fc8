package store

import (
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Boot is one open of the database by a daemon. Every [Open] appends one,
// and [Store.Close] closes it: a boot that was never closed is a daemon
// that crashed (or is still running).
type Boot struct {
	Number  uint64
	Started time.Time
	PID     int
	Closed  time.Time // zero if never closed
}

// openBoot appends this open's boot record.
func (s *Store) openBoot(tx *bolt.Tx) error {
	boots, err := getBootsBucket(tx)
	if err != nil {
		return err
	}
	var last uint64
	if k, _ := boots.Cursor().Last(); k != nil {
		var ok bool
		if last, ok = parseSeqKey(k); !ok {
			return &CorruptError{Bucket: "boots", Key: keyPrefix(k), Reason: "key is not a boot number"}
		}
	}
	started, _ := normTime(s.now())
	b := Boot{Number: last + 1, Started: started, PID: os.Getpid()}
	if err := boots.Put(seqKey(b.Number), appendBoot(nil, &b)); err != nil {
		return fmt.Errorf("boot %d: %w", b.Number, err)
	}
	s.boot = b.Number
	return nil
}

// closeBoot marks this open's boot closed, at a clean shutdown.
func (s *Store) closeBoot() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		boots, err := getBootsBucket(tx)
		if err != nil {
			return err
		}
		b, err := decodeBoot(boots.Get(seqKey(s.boot)), s.boot)
		if err != nil {
			return err
		}
		b.Closed, _ = normTime(s.now())
		return boots.Put(seqKey(b.Number), appendBoot(nil, &b))
	})
	if err != nil {
		return fmt.Errorf("close %s: boot %d: %w", s.path, s.boot, err)
	}
	return nil
}

// Boots returns every boot record, oldest first.
func (s *Store) Boots() ([]Boot, error) {
	var out []Boot
	err := s.view(func(tx *bolt.Tx) error {
		boots, err := getBootsBucket(tx)
		if err != nil {
			return err
		}
		return boots.ForEach(func(k, v []byte) error {
			n, ok := parseSeqKey(k)
			if !ok {
				return &CorruptError{Bucket: "boots", Key: keyPrefix(k), Reason: "key is not a boot number"}
			}
			b, err := decodeBoot(v, n)
			out = append(out, b)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boots: %w", err)
	}
	return out, nil
}

// decodeBoot decodes the value of boot n.
func decodeBoot(v []byte, n uint64) (Boot, error) {
	var d decoder
	var b Boot
	reason := d.boot(v, &b)
	if v == nil {
		reason = "missing"
	} else if reason == "" && b.Number != n {
		reason = fmt.Sprintf("value says boot %d", b.Number)
	}
	if reason != "" {
		return Boot{}, &CorruptError{Bucket: "boots", Key: seqKey(n), Seq: n, Reason: reason}
	}
	return b, nil
}

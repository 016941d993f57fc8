package store

import (
	"fmt"
	"os"
	"time"
	"unicode/utf8"

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
	// Detached: the daemon closed the boot leaving VMs running on purpose
	// (lifeline daemon --detach-on-exit), for the next boot to adopt. A
	// closed boot without it stopped every VM first.
	Detached bool
	// What the daemon said of itself and its host ([Options.BootInfo]).
	// Empty in a boot written before boot encoding version 2.
	BootInfo
}

// BootInfo is what a boot record says of the daemon that opened the file
// and of its host. The store does not look at the host: the daemon fills
// it in ([Options.BootInfo]).
type BootInfo struct {
	// Version is the daemon's build: its module version and VCS revision,
	// as runtime/debug.ReadBuildInfo reports them ("(devel)" for a build
	// outside a module version).
	Version string
	// HostBootID names the host's boot: it changes when the host reboots
	// ("" when the daemon could not tell).
	HostBootID string
	// HostName is the host's name.
	HostName string
}

// maxBootInfo bounds each field of a BootInfo, in bytes.
const maxBootInfo = 256

// validate refuses what a boot record cannot hold: a field over
// maxBootInfo bytes or not UTF-8.
func (bi BootInfo) validate() error {
	for _, f := range []struct{ name, v string }{{"version", bi.Version}, {"host boot id", bi.HostBootID}, {"host name", bi.HostName}} {
		if len(f.v) > maxBootInfo {
			return fmt.Errorf("boot info: %s is %d bytes, at most %d: shorten it", f.name, len(f.v), maxBootInfo)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("boot info: %s %q is not UTF-8", f.name, f.v)
		}
	}
	return nil
}

// HostRebooted tells whether the host rebooted between boot prev and boot
// b: both know the host's boot id, and it changed. A boot written before
// boot encoding version 2 knows none, and so tells nothing.
func (b Boot) HostRebooted(prev Boot) bool {
	return prev.HostBootID != "" && b.HostBootID != "" && prev.HostBootID != b.HostBootID
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
	b := Boot{Number: last + 1, Started: started, PID: os.Getpid(), BootInfo: s.bootInfo}
	if err := boots.Put(seqKey(b.Number), appendBoot(nil, &b)); err != nil {
		return fmt.Errorf("boot %d: %w", b.Number, err)
	}
	s.boot = b.Number
	return nil
}

// closeBoot marks this open's boot closed, at a clean shutdown, and
// detached when the daemon left VMs running.
func (s *Store) closeBoot(detached bool) error {
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
		b.Detached = detached
		return boots.Put(seqKey(b.Number), appendBoot(nil, &b))
	})
	if err != nil {
		return fmt.Errorf("close %s: boot %d: %w", s.path, s.boot, err)
	}
	return nil
}

// PrevBoot returns the boot record before this open's: the previous
// daemon's. It is the zero Boot for the first boot of a file, and for a
// read-only Store.
func (s *Store) PrevBoot() (Boot, error) {
	if s.boot <= 1 {
		return Boot{}, nil
	}
	var b Boot
	err := s.view(func(tx *bolt.Tx) error {
		boots, err := getBootsBucket(tx)
		if err != nil {
			return err
		}
		b, err = decodeBoot(boots.Get(seqKey(s.boot-1)), s.boot-1)
		return err
	})
	if err != nil {
		return Boot{}, fmt.Errorf("%s: previous boot: %w", s.path, err)
	}
	return b, nil
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

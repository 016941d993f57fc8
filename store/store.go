package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultTimeout is how long Open and OpenReadOnly wait for the file's
// lock when [Options.Timeout] is zero.
const DefaultTimeout = time.Second

// fileMode is the mode of a new database file.
const fileMode = 0o600

// Options configure [Open] and [OpenReadOnly]. The zero value is ready to
// use.
type Options struct {
	// Timeout is how long to wait for the file lock held by another open
	// of the file. Zero means [DefaultTimeout]; a negative value tries once.
	Timeout time.Duration
	// NoSync skips fsync on commit (bbolt's NoSync). For tests only: a
	// crash loses records the caller was told are durable.
	NoSync bool
	// Logger receives the store's events. The zero Logger, like
	// zerolog.Nop(), logs nothing.
	Logger zerolog.Logger
	// Now is the clock of boot records. Default time.Now.
	Now func() time.Time
	// AllowDamage, for OpenReadOnly, opens a damaged file whose bbolt
	// page structure is still sound (a bad checksum, head or meta page),
	// so that a post-mortem reads what is left; [Store.Damage] says what
	// the open check found. Open ignores it: nothing runs on damage.
	AllowDamage bool
	// BootInfo is what [Open]'s boot record says of the daemon and its
	// host: its version, the host's boot id and name. Open refuses a field
	// over 256 bytes or not UTF-8. OpenReadOnly ignores it.
	BootInfo BootInfo
}

// Store is an open lifeline database. Its methods are safe for concurrent
// use.
type Store struct {
	db       *bolt.DB
	file     *os.File // bbolt's file, which bbolt closes
	created  bool     // this open created the file
	damage   *DamagedError
	path     string
	readOnly bool
	boot     uint64
	bootInfo BootInfo
	log      zerolog.Logger
	now      func() time.Time

	lastSeq atomic.Uint64 // last committed global seq; written by whoever commits
	commits atomic.Uint64 // transactions that wrote appends (for tests)

	// The commit queue (commit.go). mu guards closed, busy and pending;
	// pending is never empty unless busy.
	mu      sync.Mutex
	idle    sync.Cond     // broadcast when busy turns false
	closed  bool          // Close or Crash was called
	busy    bool          // an appender or the committer is committing
	pending []*request    // appends waiting for the committer
	wake    chan struct{} // hands pending over to the committer goroutine
	done    chan struct{} // closed when the committer goroutine has exited
	crashed atomic.Bool   // Crash was called: nothing more commits
}

// Open opens the database at path, creating it if it does not exist, runs
// pending migrations, and appends a boot record: [Store.Boot] is its
// number. A file that is not a lifeline database, or whose schema is newer
// than this build, is left untouched and reported ([ErrNotDatabase],
// [ErrNewerSchema]).
func Open(path string, opts Options) (*Store, error) {
	if err := opts.BootInfo.validate(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	_, statErr := os.Stat(path)
	s, err := open(path, opts, false)
	if err != nil {
		return nil, err
	}
	if err := s.prepare(); err != nil {
		return nil, errors.Join(err, s.db.Close())
	}
	// A new file's directory entry survives a power cut only once its
	// directory is synced (dirsync.go).
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, errors.Join(fmt.Errorf("open %s: created, but its directory was not synced (try again): %w", path, err), s.db.Close())
		}
	}
	s.wake = make(chan struct{}, 1)
	s.done = make(chan struct{})
	go s.commitLoop()
	// Debug: the daemon logs the one "store opened" line, with its host's
	// boot and version.
	s.log.Debug().Str("path", path).Uint64("boot", s.boot).Uint64("seq", s.LastSeq()).Msg("store opened")
	return s, nil
}

// OpenReadOnly opens the database at path without ever changing it: no
// migration, no boot record. A database of an older schema is read as it
// is; one of a newer schema is refused with [ErrNewerSchema]. Writes return
// [ErrReadOnly], and [Store.Boot] is 0.
func OpenReadOnly(path string, opts Options) (*Store, error) {
	s, err := open(path, opts, true)
	if err != nil {
		return nil, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if _, fresh, err := readSchema(tx); err != nil {
			return err
		} else if fresh {
			return fmt.Errorf("a bbolt file with no buckets (no %s bucket): %w", bucketKeyMeta, ErrNotDatabase)
		}
		return s.loadLastSeq(tx)
	})
	if err == nil {
		err = s.checkOpen()
	}
	if d := (*DamagedError)(nil); errors.As(err, &d) && opts.AllowDamage {
		s.damage = s.damage.join(d)
		err = nil
	}
	if err != nil {
		var damaged *DamagedError
		if errors.As(err, &damaged) {
			return nil, errors.Join(err, s.db.Close())
		}
		return nil, errors.Join(fmt.Errorf("open %s: %w", path, err), s.db.Close())
	}
	return s, nil
}

func open(path string, opts Options, readOnly bool) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var file *os.File
	var created bool
	var damage *DamagedError
	var db *bolt.DB
	err := guard(path, func() (err error) {
		db, err = bolt.Open(path, fileMode, &bolt.Options{
			Timeout:  opts.Timeout,
			NoSync:   opts.NoSync,
			ReadOnly: readOnly,
			OpenFile: func(string, int, os.FileMode) (*os.File, error) {
				file, created, err = openFile(path, readOnly, opts.Timeout)
				if err == nil && lockBeforeCheck && !created {
					if damage, err = allowed(checkFile(path, file), readOnly && opts.AllowDamage); err != nil {
						file.Close()
					}
				}
				return file, err
			},
		})
		if err == nil && !lockBeforeCheck && !created {
			if damage, err = allowed(checkFile(path, file), readOnly && opts.AllowDamage); err != nil {
				err = errors.Join(err, db.Close())
			}
		}
		return err
	})
	if err != nil && db == nil && file != nil {
		// A panic recovered by guard in the middle of OpenFile or
		// bolt.Open: nobody else closes the file, and its lock would be
		// held for the life of the process.
		_ = file.Close()
	}
	var pathErr *fs.PathError
	var damaged *DamagedError
	switch {
	case err == nil:
	case errors.As(err, &damaged), errors.Is(err, ErrNotDatabase), errors.Is(err, ErrNotRegularFile):
		return nil, err
	case errors.As(err, &pathErr): // "open <path>: no such file or directory"
		return nil, err
	case errors.Is(err, berrors.ErrTimeout):
		return nil, &LockedError{Path: path, PID: lockHolder(path)}
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("open %s: %w: %w", path, ErrNotDatabase, err)
	default:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, file: file, created: created, damage: damage, path: path, readOnly: readOnly, log: opts.Logger, now: opts.Now, bootInfo: opts.BootInfo}
	s.idle.L = &s.mu
	return s, nil
}

// openFile opens the database file for bbolt: never through a symlink,
// only a regular file, creating it (mode 0600) only where nothing is. It
// takes the file's lock and, on a file it did not create, checks the
// file's pages (checkFile) before bbolt reads anything.
func openFile(path string, readOnly bool, timeout time.Duration) (f *os.File, created bool, err error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err = openNoFollow(path, flag, fileMode)
	if errors.Is(err, fs.ErrNotExist) && !readOnly {
		f, err = openNoFollow(path, flag|os.O_CREATE|os.O_EXCL, fileMode)
		created = err == nil
	}
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
			return nil, false, notRegular(path, fi.Mode())
		}
		return nil, false, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = notRegular(path, fi.Mode())
	}
	if err == nil {
		err = lockFile(f, !readOnly, timeout)
	}
	if err == nil && !created {
		if fi, err = f.Stat(); err == nil && fi.Size() == 0 {
			err = fmt.Errorf("open %s: empty file: %w; lifeline makes a database only where no file is "+
				"(a daemon killed while creating one leaves an empty file): remove it to start afresh", path, ErrNotDatabase)
		}
	}
	if err != nil {
		f.Close()
		return nil, false, err
	}
	return f, created, nil
}

// allowed returns the damage err reports when allow is set and the file
// stays readable, else err.
func allowed(err error, allow bool) (*DamagedError, error) {
	var d *DamagedError
	if allow && errors.As(err, &d) && !d.Unreadable {
		return d, nil
	}
	return nil, err
}

func notRegular(path string, mode fs.FileMode) error {
	what := "a " + mode.Type().String()
	if mode&fs.ModeSymlink != 0 {
		what = "a symlink (never followed to a database)"
	} else if mode.IsDir() {
		what = "a directory"
	}
	return fmt.Errorf("open %s: %s: %w; put the database file itself there, or point --data-dir elsewhere", path, what, ErrNotRegularFile)
}

// guard runs f and turns a panic or a memory fault inside it (bbolt
// reading a damaged file) into an error naming path that wraps ErrCorrupt.
func guard(path string, f func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if p := recover(); p != nil {
			err = &DamagedError{Path: path, Problems: []error{fmt.Errorf("bbolt failed reading it: %v", p)}}
		}
	}()
	return f()
}

// prepare brings a read-write database to the current schema and appends
// this open's boot record. It writes nothing to a file it refuses.
func (s *Store) prepare() error {
	var schema uint32
	var fresh bool
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		schema, fresh, err = readSchema(tx)
		return err
	})
	if err == nil && fresh && !s.created {
		// A file lifeline did not just create: someone else's.
		err = fmt.Errorf("a bbolt file with no buckets: %w; lifeline makes a database only where no file is: remove it to start afresh", ErrNotDatabase)
	}
	if err == nil && !fresh {
		if err = s.checkOpen(); err != nil {
			return err
		}
	}
	if err == nil && (fresh || schema != currentSchema) {
		err = s.db.Update(func(tx *bolt.Tx) error {
			if fresh {
				return initSchema(tx)
			}
			return migrate(tx, schema, s.log)
		})
	}
	if err == nil {
		err = s.db.Update(func(tx *bolt.Tx) error {
			if err := s.loadLastSeq(tx); err != nil {
				return err
			}
			return s.openBoot(tx)
		})
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	return nil
}

// checkOpen runs checkHeads (see opencheck.go) and reports what it found
// as a *DamagedError.
func (s *Store) checkOpen() error {
	var p problems
	err := guard(s.path, func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			checkHeads(tx, &p)
			return nil
		})
	})
	if err != nil {
		return err
	}
	return p.err(s.path)
}

// loadLastSeq reads the last global seq from the records bucket.
func (s *Store) loadLastSeq(tx *bolt.Tx) error {
	records, err := getRecordsBucket(tx)
	if err != nil {
		return err
	}
	k, _ := records.Cursor().Last()
	if k == nil {
		return nil
	}
	seq, ok := parseSeqKey(k)
	if !ok {
		return &CorruptError{Bucket: "records", Key: keyPrefix(k), Reason: "key is not a sequence number"}
	}
	s.lastSeq.Store(seq)
	return nil
}

// Damage returns what the open check found in a file opened with
// [Options.AllowDamage], nil for a sound file.
func (s *Store) Damage() *DamagedError { return s.damage }

// Path returns the database file's path as given to Open.
func (s *Store) Path() string { return s.path }

// Boot returns the number of this open's boot record, 0 for a read-only
// Store.
func (s *Store) Boot() uint64 { return s.boot }

// LastSeq returns the global seq of the last committed record, 0 if none.
func (s *Store) LastSeq() uint64 { return s.lastSeq.Load() }

// Close waits for queued appends to commit, marks this boot closed (a clean
// shutdown), and closes the file. It is idempotent; appends after it return
// [ErrClosed].
func (s *Store) Close() error { return s.shutdown(false, false) }

// CloseDetached is Close for a daemon that leaves its VMs running on
// purpose (--detach-on-exit): the boot is closed with [Boot.Detached], so
// that readers know the VMs live on for the next boot to adopt.
func (s *Store) CloseDetached() error { return s.shutdown(false, true) }

// Crash closes the file as if the process had died: queued appends fail
// with [ErrClosed] instead of committing, and the boot stays unclosed. For
// tests of recovery.
func (s *Store) Crash() error { return s.shutdown(true, false) }

func (s *Store) shutdown(crash, detached bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if crash {
		s.crashed.Store(true)
		s.failPending()
	}
	for s.busy {
		s.idle.Wait()
	}
	s.mu.Unlock()
	if s.wake != nil {
		close(s.wake)
		<-s.done
	}
	var err error
	if !crash && !s.readOnly {
		err = s.closeBoot(detached)
	}
	if cerr := s.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close %s: %w", s.path, cerr))
	}
	s.log.Info().Str("path", s.path).Uint64("boot", s.boot).Bool("crash", crash).Msg("store closed")
	return err
}

// view runs fn in a read transaction, reporting [ErrClosed] on a closed
// Store.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	err := s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Backup writes a consistent copy of the database to w, from one read
// transaction, and returns the bytes written. Appends go on meanwhile.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) (err error) {
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup %s: %w", s.path, err)
	}
	return n, nil
}

package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Damage to a database file, as issue 9 found it: each kind must be refused
// at open with one error naming the file, the damage and the salvage, and
// leave the file as it was.

// writeFleet writes a database of 12 VMs through their lives, several
// hundred records over a few bbolt pages and a branch page, and leaves
// vm "run" Running (agent pid 4242). It returns the seq of run's last
// record.
func writeFleet(t testing.TB, path string) (runSeq uint64) {
	t.Helper()
	s, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	app := func(vm string, ev states.Event, from states.State, spec []byte, agent int) store.Record {
		to, err := states.Next(from, ev)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Append(ctx, store.Write{
			Record: store.Record{VM: vm, Event: ev, From: from, To: to, Time: t0.Add(time.Duration(s.LastSeq()) * time.Second),
				Agent: store.Proc{PID: agent}, Cause: store.Cause{Kind: store.CauseUnknown, Detail: "fleet " + vm}},
			Spec: spec,
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := range 11 {
		vm := fmt.Sprintf("vm%02d", i)
		app(vm, states.Create, states.Absent, []byte("cpus: "+strconv.Itoa(i)), 0)
		for range 8 {
			app(vm, states.Start, states.Stopped, nil, 0)
			app(vm, states.Spawned, states.Starting, nil, 1000+i)
			app(vm, states.EventRunning, states.Starting, nil, 0)
			app(vm, states.Stop, states.Running, nil, 0)
			app(vm, states.Exited, states.Stopping, nil, 0)
		}
	}
	app("run", states.Create, states.Absent, []byte("cpus: 4"), 0)
	app("run", states.Start, states.Stopped, nil, 0)
	app("run", states.Spawned, states.Starting, nil, 4242)
	runSeq = app("run", states.EventRunning, states.Starting, nil, 0).Seq
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return runSeq
}

// expectDamaged checks that Open refuses path with a *DamagedError whose
// message names the file, each of mention and the salvage command, that
// OpenReadOnly refuses it too unless readable (then AllowDamage opens it
// and reports the damage), and that the file did not change.
func expectDamaged(t *testing.T, path string, readable bool, mention ...string) *store.DamagedError {
	t.Helper()
	before := fileSum(t, path)
	s, err := store.Open(path, store.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open accepted a damaged file")
	}
	var d *store.DamagedError
	if !errors.As(err, &d) || !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open = %v, want a *DamagedError", err)
	}
	for _, m := range append(mention, path, "lifeline replay salvage --db "+path) {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("Open's error does not mention %q:\n%v", m, err)
		}
	}
	if d.Unreadable == readable {
		t.Errorf("Unreadable = %v, want %v", d.Unreadable, !readable)
	}
	if _, err := store.OpenReadOnly(path, store.Options{}); !errors.As(err, new(*store.DamagedError)) {
		t.Errorf("OpenReadOnly = %v, want a *DamagedError", err)
	}
	ro, err := store.OpenReadOnly(path, store.Options{AllowDamage: true})
	switch {
	case readable && err != nil:
		t.Errorf("OpenReadOnly with AllowDamage = %v, want it open", err)
	case readable && ro.Damage() == nil:
		t.Errorf("OpenReadOnly with AllowDamage reports no damage")
	case !readable && !errors.As(err, new(*store.DamagedError)):
		t.Errorf("OpenReadOnly with AllowDamage = %v, want a *DamagedError", err)
	}
	if ro != nil {
		_ = ro.Close()
	}
	if fileSum(t, path) != before {
		t.Fatal("the failed opens changed the file")
	}
	return d
}

func fleet(t *testing.T) (path string, runSeq uint64, data []byte) {
	path = filepath.Join(t.TempDir(), "lifeline.db")
	runSeq = writeFleet(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, runSeq, data
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDamagedTruncatedHalf(t *testing.T) {
	path, _, data := fleet(t)
	writeFile(t, path, data[:len(data)/2])
	expectDamaged(t, path, false, "it was cut short", fmt.Sprintf("the file is %d bytes", len(data)/2))
}

// damageSeeds are the seeds TestOpenDamagedFlippedBytes runs by default;
// LIFELINE_DAMAGE_SEED runs one other.
var damageSeeds = []uint64{1, 2, 3, 4, 5, 6, 7, 8}

func TestOpenDamagedFlippedBytes(t *testing.T) {
	seeds := damageSeeds
	if env := os.Getenv("LIFELINE_DAMAGE_SEED"); env != "" {
		seed, err := strconv.ParseUint(env, 10, 64)
		if err != nil {
			t.Fatalf("LIFELINE_DAMAGE_SEED=%q: %v", env, err)
		}
		seeds = []uint64{seed}
	}
	_, _, clean := fleet(t)
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d (replay: LIFELINE_DAMAGE_SEED=%d)", seed, seed)
			rng := rand.New(rand.NewPCG(seed, seed))
			data := bytes.Clone(clean)
			var at []int
			for range 20 {
				i := rng.IntN(len(data))
				data[i] ^= byte(1 + rng.IntN(255))
				at = append(at, i)
			}
			t.Logf("flipped bytes at %v", at)
			path := filepath.Join(t.TempDir(), "lifeline.db")
			writeFile(t, path, data)
			d := expectDamagedAnyhow(t, path)
			t.Logf("refused: %v", d)
		})
	}
}

// expectDamagedAnyhow checks that Open refuses path as damaged, whether its
// page structure is or only its values are.
func expectDamagedAnyhow(t *testing.T, path string) *store.DamagedError {
	t.Helper()
	s, err := store.Open(path, store.Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open accepted a file with 20 flipped bytes")
	}
	var d *store.DamagedError
	if !errors.As(err, &d) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "lifeline replay salvage") {
		t.Fatalf("Open = %v, want a *DamagedError naming the file and the salvage", err)
	}
	return d
}

func TestOpenDamagedLatestRecordOfRunningVM(t *testing.T) {
	path, runSeq, data := fleet(t)
	// The record's bytes, found in the file: bbolt copies pages on write,
	// so flip the byte in every copy.
	var v []byte
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket([]byte("records")).Get(binary8(runSeq)))
		return nil
	})
	_ = db.Close()
	if n := bytes.Count(data, v); v == nil || n == 0 {
		t.Fatalf("record seq %d not found in the file", runSeq)
	}
	for i := 0; ; {
		j := bytes.Index(data[i:], v)
		if j < 0 {
			break
		}
		data[i+j+len(v)/2] ^= 0x01
		i += j + len(v)
	}
	writeFile(t, path, data)
	d := expectDamaged(t, path, true, fmt.Sprintf("record seq %d", runSeq), "checksum mismatch")
	if len(d.Problems) == 0 {
		t.Fatal("no problem listed")
	}
}

func binary8(n uint64) []byte {
	return []byte{byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

func TestOpenDamagedPageZeroed(t *testing.T) {
	for page := range 2 {
		t.Run(fmt.Sprint("page ", page), func(t *testing.T) {
			path, _, data := fleet(t)
			ps := os.Getpagesize()
			clear(data[page*ps : (page+1)*ps])
			writeFile(t, path, data)
			d := expectDamaged(t, path, true, fmt.Sprintf("bbolt meta page %d is damaged", page))
			if len(d.Pages) != 1 {
				t.Errorf("Pages = %v, want the one meta page", d.Pages)
			}
		})
	}
}

func TestOpenEmptyFileIsNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	writeFile(t, path, nil)
	openBoth(t, path, store.ErrNotDatabase, "empty file", "remove it")
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty file changed: %v, %v", fi, err)
	}
}

func TestOpenForeignFile(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 9))
	noise := make([]byte, 64<<10)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	path := filepath.Join(dir, "noise.db")
	writeFile(t, path, noise)
	openBoth(t, path, store.ErrNotDatabase, "no valid bbolt meta page")

	// A bbolt file with no buckets at all: not lifeline's to take.
	path = filepath.Join(dir, "bare.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	openBoth(t, path, store.ErrNotDatabase, "no buckets")
}

func TestOpenRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	writeFile(t, victim, []byte("the victim's own data\n"))
	path := filepath.Join(dir, "lifeline.db")
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(string, store.Options) (*store.Store, error){"Open": store.Open, "OpenReadOnly": store.OpenReadOnly} {
		if _, err := open(path, store.Options{}); !errors.Is(err, store.ErrNotRegularFile) || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("%s through a symlink = %v, want ErrNotRegularFile naming the symlink", name, err)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "the victim's own data\n" {
		t.Fatalf("the victim changed: %q %v", b, err)
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the victim's mode changed to %v", fi.Mode())
	}
	// A dangling symlink: nothing is created at its target.
	missing := filepath.Join(dir, "missing")
	dangling := filepath.Join(dir, "dangling.db")
	if err := os.Symlink(missing, dangling); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(dangling, store.Options{}); !errors.Is(err, store.ErrNotRegularFile) {
		t.Errorf("Open through a dangling symlink = %v, want ErrNotRegularFile", err)
	}
	if _, err := os.Lstat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created the symlink's target: %v", err)
	}
	// A directory.
	if _, err := store.Open(dir, store.Options{}); !errors.Is(err, store.ErrNotRegularFile) {
		t.Errorf("Open of a directory = %v, want ErrNotRegularFile", err)
	}
}

func TestOpenCreatesMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	s := openT(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("new database has mode %v, want 0600", fi.Mode().Perm())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A sound file opens again, and again read-only: the check passes it.
	openT(t, path)
}

func TestOpenCheckPassesSoundFleet(t *testing.T) {
	path, _, _ := fleet(t)
	for range 3 { // each open appends a boot: the file changes between
		s, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

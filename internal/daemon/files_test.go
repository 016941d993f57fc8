package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/drivers/mux"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// recordingFiles is a VMFiles that remembers what it was asked.
type recordingFiles struct {
	mu    sync.Mutex
	calls []string
}

func (f *recordingFiles) Make(vm string, _ drivers.Spec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "make "+vm)
	return nil
}

func (f *recordingFiles) Remove(vm string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "remove "+vm)
	return nil
}

// brokenLog fails every append while broken is set, as a full disk does.
type brokenLog struct {
	engine.Store
	mu     sync.Mutex
	broken error
}

func (b *brokenLog) set(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broken = err
}

func (b *brokenLog) Append(ctx context.Context, w store.Write) (store.Record, error) {
	b.mu.Lock()
	err := b.broken
	b.mu.Unlock()
	if err != nil {
		return store.Record{}, err
	}
	return b.Store.Append(ctx, w)
}

// TestFailedCreateMakesNoFiles is issue 9 item 6's "creates that failed
// leave no disks/NAME.raw behind": a VM's files are made only once its
// create record is durable, and removed with its delete.
func TestFailedCreateMakesNoFiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		log := &brokenLog{Store: st}
		files := &recordingFiles{}
		e, err := engine.Open(ctx, engine.Options{Store: log, Driver: withFiles(drivertest.New(), files)})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		enospc := errors.New("no space left on device")
		log.set(enospc)
		if _, err := e.Create(ctx, "vm1", drivers.Spec{}); !errors.Is(err, enospc) {
			t.Fatalf("create on a full disk: %v", err)
		}
		if len(files.calls) != 0 {
			t.Fatalf("a create that was not recorded made files: %v", files.calls)
		}
		log.set(nil)
		if _, err := e.Create(ctx, "vm1", drivers.Spec{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Delete(ctx, "vm1"); err != nil {
			t.Fatal(err)
		}
		if want := []string{"make vm1", "remove vm1"}; !slices.Equal(files.calls, want) {
			t.Errorf("files calls %v, want %v", files.calls, want)
		}
	})
}

// TestWrappedMuxAdoptsAStartFromOutside is the daemon's wiring of a limactl
// start: its driver is the mux (a driver per VM) wrapped with the VM's
// files, and each must pass on the Lima driver's drivers.OutsideFinder, or
// the engine never looks (a type assertion finds the wrapper's methods
// only), and a VM started with limactl stays Stopped in lifeline.
func TestWrappedMuxAdoptsAStartFromOutside(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		lima := drivertest.New()
		m, err := mux.New("lima", map[string]drivers.Driver{"lima": lima, "command": drivertest.New()})
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.Open(ctx, engine.Options{Store: st, Driver: withFiles(m, &recordingFiles{})})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		if _, err := e.Create(ctx, "vm1", drivers.Spec{Driver: "lima"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(time.Second)
		lima.StartOutside("vm1")
		time.Sleep(2 * engine.DefaultOutsidePoll)
		synctest.Wait()
		v, err := e.Get("vm1")
		if err != nil || v.State != states.Running || v.Cause.Kind != store.CauseStartedOutside {
			t.Fatalf("vm1 after a start from outside: %+v, want Running, adopted with cause started_outside", v)
		}
	})
}

//go:build linux

package lima_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// Storm finding A(1): the daemon was killed after the spawn, before the
// agent wrote ha.pid. Recovery's Lookup (no agent recorded) must still find
// the agent, by its command line, and only one started after since; and a
// KillTree with nothing recorded kills it. The agent here is a shell that
// never writes ha.pid.
func TestLookupFindsAgentBeforeItWritesPIDFile(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	d, err := lima.New(lima.Options{
		LimaHome:     home,
		HostAgentCmd: []string{"/bin/sh", "-c", "sleep 60; exit 0", "agent"},
		Logger:       zerolog.New(zerolog.NewTestWriter(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, home: home, d: d, disk: filepath.Join(home, "blank.raw"), procs: map[string]*drivers.Procs{}}
	if err := lima.CreateBlankDisk(f.disk, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.killAll)
	before := time.Now()
	spec := f.spec("", nil)
	procs := f.spawn("vm1", spec)
	if _, err := os.Stat(filepath.Join(f.dir("vm1"), filenames.HostAgentPID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ha.pid: %v; want none (the agent never writes it)", err)
	}
	ctx := context.Background()
	live, found, err := d.Lookup(ctx, "vm1", spec, drivers.Procs{}, before)
	if err != nil || live == drivers.Gone {
		t.Fatalf("Lookup before ha.pid = %s, %v; want the agent found by its command line", live, err)
	}
	if found.Agent != procs.Agent {
		t.Errorf("found %+v, want %+v", found.Agent, procs.Agent)
	}
	live, _, err = d.Lookup(ctx, "vm1", spec, drivers.Procs{}, time.Now().Add(time.Hour))
	if err != nil || live != drivers.Gone {
		t.Errorf("Lookup with since after the agent started = %s, %v; want gone", live, err)
	}
	if err := d.KillTree(ctx, "vm1", drivers.Procs{}); err != nil {
		t.Fatal(err)
	}
	if !gone(procs.Agent) || groupAlive(procs.Agent.Group) {
		t.Fatalf("unrecorded agent %d survived KillTree with nothing recorded", procs.Agent.PID)
	}
	if err := d.Cleanup(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
}

// Storm finding A(2): the agent died unrecorded and its QEMU lives on, named
// by qemu.pid. The VM's log names neither (its spawn record was lost), so
// the engine's force stop calls KillTree with nothing recorded. It must
// kill the process Cleanup refuses on, so the VM is never stuck with every
// force stop kill_failed and every start refused.
func TestKillTreeWithNothingRecordedKillsOrphanedDriver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", env{"LIFELINE_SIM_ORPHAN_DRIVER": "1"})
	procs := f.spawn("vm1", spec)
	qemuPID := filepath.Join(f.dir("vm1"), filenames.PIDFile("qemu"))
	var driver drivers.Proc
	eventually(t, "qemu.pid names a live process", func() bool {
		b, err := os.ReadFile(qemuPID)
		if err != nil {
			return false
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return false
		}
		driver, err = process.Identify(pid)
		return err == nil
	})
	f.track("vm1", drivers.Procs{VMProcess: driver})
	killAgentGroup(t, procs.Agent)
	if gone(driver) {
		t.Fatal("the driver child died with its agent; want an orphan")
	}
	ctx := context.Background()
	if err := f.d.Cleanup(ctx, "vm1"); !errors.Is(err, lima.ErrDriverAlive) {
		t.Fatalf("Cleanup with an orphan alive: %v; want ErrDriverAlive", err)
	}
	if err := f.d.KillTree(ctx, "vm1", drivers.Procs{}); err != nil {
		t.Fatal(err)
	}
	if !gone(driver) {
		t.Fatalf("driver %d (qemu.pid) survived KillTree with nothing recorded", driver.PID)
	}
	if err := f.d.Cleanup(ctx, "vm1"); err != nil {
		t.Fatalf("Cleanup after KillTree: %v", err)
	}
}

// Storm finding (seed 1796071919090828101, vm s1): the daemon was killed in
// the middle of a force stop's tree kill, after the agent died and before
// its QEMU, which had not written qemu.pid yet. The next daemon's KillTree,
// given the dead agent, found nothing to kill, Cleanup found nothing to
// refuse on, and the QEMU ran on, unnamed, after stop-all. KillTree now
// finds such an orphan by its working directory and LIMA_HOME.
func TestKillTreeFindsOrphanWithoutPIDFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", env{"LIFELINE_SIM_ORPHAN_DRIVER": "1"})
	procs := f.spawn("vm1", spec)
	qemuPID := filepath.Join(f.dir("vm1"), filenames.PIDFile("qemu"))
	var driver drivers.Proc
	eventually(t, "qemu.pid names a live process", func() bool {
		b, err := os.ReadFile(qemuPID)
		if err != nil {
			return false
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return false
		}
		driver, err = process.Identify(pid)
		return err == nil
	})
	f.track("vm1", drivers.Procs{VMProcess: driver})
	killAgentGroup(t, procs.Agent)
	// As if the agent had died before QEMU wrote its pid file.
	if err := os.Remove(qemuPID); err != nil {
		t.Fatal(err)
	}
	if gone(driver) {
		t.Fatal("the driver child died with its agent; want an orphan")
	}
	ctx := context.Background()
	if err := f.d.KillTree(ctx, "vm1", drivers.Procs{Agent: procs.Agent}); err != nil {
		t.Fatal(err)
	}
	if !gone(driver) {
		t.Fatalf("orphaned driver %d with no pid file survived KillTree", driver.PID)
	}
}

//go:build unix

package lima_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lima-vm/lima/pkg/store/filenames"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// limactlCreate does what `limactl create NAME` leaves for lifeline to
// read: the instance directory with lima.yaml and lima-version.
func limactlCreate(t *testing.T, f *fixture, vm string, template []byte) {
	t.Helper()
	if err := os.MkdirAll(f.dir(vm), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir(vm), filenames.LimaYAML), template, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir(vm), filenames.LimaVersion), []byte(lima.LimaModuleVersion), 0o444); err != nil {
		t.Fatal(err)
	}
}

// dirState is every file of dir with its size, mtime and hash.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[path] = fmt.Sprintf("%d %s %x", fi.Size(), fi.ModTime().UTC(), sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameState(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, b := range before {
		if a, ok := after[p]; !ok || a != b {
			t.Errorf("%s: %s changed: %q, was %q", what, filepath.Base(p), a, b)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s appeared", what, filepath.Base(p))
		}
	}
}

func openEngine(t *testing.T, f *fixture) (*engine.Engine, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(context.Background(), engine.Options{Store: st, Driver: f.d, Logger: zerolog.New(zerolog.NewTestWriter(t)), StartTimeout: testBound, OutsidePoll: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return e, st
}

// Import of two instances `limactl create` made, one of them started
// with `limactl start` (agent-sim, run the way limactl runs the host
// agent): the running one is adopted Running with both identities, the
// other recorded Stopped, and not a byte, a size or an mtime of either
// instance directory changes. A later lifeline start of the stopped one
// leaves its lima.yaml as limactl wrote it. An instance whose lima.yaml
// is not valid is refused, naming it and the reason, with nothing
// recorded; a name lifeline knows is refused.
func TestImportTakesOverLimactlInstancesAndChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tmpl := f.spec("", nil).Template
	limactlCreate(t, f, "s1", tmpl)
	limactlCreate(t, f, "r1", tmpl)
	limactlCreate(t, f, "bad", []byte("vmType: [unclosed\n"))
	pid := limactlStart(t, f, "r1")
	// The agent writes its last start-up event ("running": true) after
	// qemu.pid; the snapshot below is of an instance done starting, so
	// that what changes after it is lifeline's doing, not the agent's.
	eventually(t, "limactl list says r1 Running and its agent reported running", func() bool {
		b, _ := os.ReadFile(filepath.Join(f.dir("r1"), filenames.HostAgentStdoutLog))
		return limactlList(f, "r1") == states.Running && strings.Contains(string(b), `"running":true`)
	})

	names, err := f.d.Instances(ctx)
	if err != nil || strings.Join(names, ",") != "bad,r1,s1" {
		t.Fatalf("instances %v, %v; want bad, r1, s1", names, err)
	}
	before := map[string]map[string]string{"s1": dirState(t, f.dir("s1")), "r1": dirState(t, f.dir("r1"))}

	e, st := openEngine(t, f)
	rec, err := e.Import(ctx, "r1", drivers.Spec{Ready: lima.ReadyAgent})
	if err != nil {
		t.Fatal(err)
	}
	f.track("r1", drivers.Procs{Agent: rec.Agent, VMProcess: rec.VMProcess})
	if rec.Event != states.Adopted || rec.Cause.Kind != store.CauseImported || rec.Agent.PID != pid || rec.VMProcess.IsZero() {
		t.Fatalf("import of r1: %s %s agent %d driver %d; want adopted (imported) with agent %d and its QEMU", rec.Event, rec.Cause.Kind, rec.Agent.PID, rec.VMProcess.PID, pid)
	}
	rec, err = e.Import(ctx, "s1", drivers.Spec{Ready: lima.ReadyAgent})
	if err != nil || rec.Event != states.Create || rec.To != states.Stopped {
		t.Fatalf("import of s1: %s →%s, %v; want create →Stopped", rec.Event, rec.To, err)
	}
	_, err = e.Import(ctx, "bad", drivers.Spec{})
	if err == nil || !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), "template") {
		t.Errorf("import of an invalid lima.yaml: %v; want a refusal naming the instance and the template", err)
	}
	if _, err := e.Import(ctx, "s1", drivers.Spec{}); !errors.Is(err, engine.ErrExists) {
		t.Errorf("import of a known name: %v, want ErrExists", err)
	}
	var recs int
	if err := st.Records(1, func(r store.Record) error { recs++; return nil }); err != nil {
		t.Fatal(err)
	}
	if recs != 3 {
		t.Errorf("%d records, want 3 (r1 create and adopted, s1 create)", recs)
	}
	sameState(t, "r1 after import", before["r1"], dirState(t, f.dir("r1")))
	sameState(t, "s1 after import", before["s1"], dirState(t, f.dir("s1")))
	if v, _ := e.Get("r1"); v.State != states.Running || limactlList(f, "r1") != states.Running {
		t.Errorf("r1: lifeline %s, limactl list %s; want both Running", v.State, limactlList(f, "r1"))
	}

	// lifeline's own start of the imported stopped instance: its
	// lima.yaml stays limactl's file.
	yaml := filepath.Join(f.dir("s1"), filenames.LimaYAML)
	yamlBefore := before["s1"][yaml]
	if _, err := e.Start(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, testBound)
	h, err := e.WaitFor(wctx, "s1", func(h store.Head) bool { return h.State == states.Running })
	cancel()
	if err != nil {
		t.Fatalf("start of imported s1: %v", err)
	}
	f.track("s1", drivers.Procs{Agent: h.Agent, VMProcess: h.VMProcess})
	if now := dirState(t, f.dir("s1"))[yaml]; now != yamlBefore {
		t.Errorf("lima.yaml after lifeline start: %q, was %q", now, yamlBefore)
	}
}

// Release leaves a running instance to Lima: no signal, no file removed,
// `limactl list` still says Running, the agent and its QEMU run on, and
// lifeline's look for a start from outside does not adopt it again.
func TestReleaseLeavesTheInstanceToLima(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	limactlCreate(t, f, "r1", f.spec("", nil).Template)
	limactlStart(t, f, "r1")
	// The agent writes its last start-up event ("running": true) after
	// qemu.pid; the snapshot below is of an instance done starting, so
	// that what changes after it is lifeline's doing, not the agent's.
	eventually(t, "limactl list says r1 Running and its agent reported running", func() bool {
		b, _ := os.ReadFile(filepath.Join(f.dir("r1"), filenames.HostAgentStdoutLog))
		return limactlList(f, "r1") == states.Running && strings.Contains(string(b), `"running":true`)
	})
	e, _ := openEngine(t, f)
	rec, err := e.Import(ctx, "r1", drivers.Spec{Ready: lima.ReadyAgent})
	if err != nil {
		t.Fatal(err)
	}
	procs := drivers.Procs{Agent: rec.Agent, VMProcess: rec.VMProcess}
	f.track("r1", procs)
	before := dirState(t, f.dir("r1"))
	rec, err = e.Release(ctx, "r1")
	if err != nil || rec.Event != states.Release || rec.From != states.Running || rec.Cause.Kind != store.CauseReleased {
		t.Fatalf("release: %s %s→%s %s, %v", rec.Event, rec.From, rec.To, rec.Cause.Kind, err)
	}
	e.PollOutside(ctx) // what the daemon does every 2 s
	if _, err := e.Get("r1"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("r1 after release: %v, want not found", err)
	}
	if limactlList(f, "r1") != states.Running {
		t.Errorf("limactl list says %s after release, want Running", limactlList(f, "r1"))
	}
	for _, p := range []drivers.Proc{procs.Agent, procs.VMProcess} {
		if err := process.Check(p); err != nil {
			t.Errorf("pid %d after release: %v, want it running", p.PID, err)
		}
	}
	sameState(t, "r1 after release", before, dirState(t, f.dir("r1")))
}

package lima_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// testBound bounds every wait of the tests.
const testBound = 20 * time.Second

// lifelineBin is `lifeline`, built once by TestMain: its hidden agent-sim
// subcommand is the host agent of these tests.
var lifelineBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lifeline-lima-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	lifelineBin = filepath.Join(dir, "lifeline")
	// lifeline runs agent-sim in lifeline-cli, found next to it.
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "github.com/lifeline-vm/lifeline/cmd/lifeline", "github.com/lifeline-vm/lifeline/cmd/lifeline-cli")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build lifeline (agent-sim is the host agent of these tests): %v\n%s", err, out)
		return 1
	}
	if out, err := exec.Command(lifelineBin, "agent-sim", "--help").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "lifeline agent-sim --help: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// env is a VM's agent-sim knobs, as spec.Env.
type env map[string]string

// fixture is one LIMA_HOME with a driver whose host agent is agent-sim.
type fixture struct {
	t    *testing.T
	home string
	d    *lima.Driver
	disk string

	mu        sync.Mutex
	procs     map[string]*drivers.Procs // what each VM ran, to kill at the end
	leftovers []int                     // pids a test found leaked, to kill at the end
}

func newFixture(t *testing.T) *fixture {
	return newFixtureAt(t, t.TempDir())
}

func newFixtureAt(t *testing.T, home string) *fixture {
	t.Helper()
	d, err := lima.New(lima.Options{
		LimaHome:     home,
		HostAgentCmd: []string{lifelineBin, "agent-sim"},
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
	return f
}

func (f *fixture) dir(vm string) string { return filepath.Join(f.home, vm) }

// spec is a blank-disk spec with the given knobs.
func (f *fixture) spec(ready string, e env) drivers.Spec {
	f.t.Helper()
	tmpl, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: f.disk})
	if err != nil {
		f.t.Fatal(err)
	}
	return drivers.Spec{Template: tmpl, Env: e, Ready: ready}
}

// spawn defines vm and spawns its agent.
func (f *fixture) spawn(vm string, spec drivers.Spec) drivers.Procs {
	f.t.Helper()
	ctx := context.Background()
	if err := f.d.Define(ctx, vm, spec); err != nil {
		f.t.Fatal(err)
	}
	procs, err := f.d.Spawn(ctx, vm, spec)
	if err != nil {
		f.t.Fatal(err)
	}
	f.track(vm, procs)
	return procs
}

// track remembers procs for the final kill.
func (f *fixture) track(vm string, procs drivers.Procs) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.procs[vm]
	if p == nil {
		p = &drivers.Procs{}
		f.procs[vm] = p
	}
	if !procs.Agent.IsZero() {
		p.Agent = procs.Agent
	}
	if !procs.VMProcess.IsZero() {
		p.VMProcess = procs.VMProcess
	}
}

// killAll kills every process the test ran: the recorded trees, and every
// driver child an agent-sim log names, by identity. A logged pid is long
// dead by now in most tests, and with a pid_max of 32768 another test's
// process may hold it: where /proc tells (Linux), a process whose working
// directory is not under this fixture's home is not this test's and is
// left alone (a driver child runs in its instance directory).
func (f *fixture) killAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx := context.Background()
	for vm, p := range f.procs {
		if err := f.d.KillTree(ctx, vm, *p); err != nil {
			f.t.Errorf("cleanup: %v", err)
		}
	}
	for _, pid := range append(f.simDriverPIDs(), f.leftovers...) {
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && !strings.HasPrefix(cwd, f.home+string(filepath.Separator)) {
			continue
		}
		if p, err := process.Identify(pid); err == nil {
			if err := process.KillTree(ctx, "leftover", p); err != nil {
				f.t.Errorf("cleanup: leftover driver child %d: %v", pid, err)
			}
		}
	}
}

// simDriverPIDs reads the pids of the driver children agent-sim logged
// ("driver child started", with a pid) in every instance of the home.
func (f *fixture) simDriverPIDs() []int {
	var pids []int
	entries, _ := os.ReadDir(f.home)
	for _, e := range entries {
		for _, name := range []string{filenames.HostAgentStderrLog, "trap.stderr.log"} {
			pids = append(pids, logPIDs(filepath.Join(f.home, e.Name(), name))...)
		}
	}
	return pids
}

func logPIDs(path string) []int {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var pids []int
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		var l struct {
			Msg string `json:"msg"`
			PID int    `json:"pid"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.PID > 0 && strings.Contains(l.Msg, "driver child started") {
			pids = append(pids, l.PID)
		}
	}
	return pids
}

// recorder is a Watch sink that keeps every observation.
type recorder struct {
	mu   sync.Mutex
	obs  []drivers.Observation
	wake chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) sink(o drivers.Observation) {
	r.mu.Lock()
	r.obs = append(r.obs, o)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) all() []drivers.Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]drivers.Observation(nil), r.obs...)
}

// wait returns the first observation of kind, waiting at most testBound.
func (r *recorder) wait(t *testing.T, kind drivers.ObservationKind) drivers.Observation {
	t.Helper()
	deadline := time.NewTimer(testBound)
	defer deadline.Stop()
	for {
		for _, o := range r.all() {
			if o.Kind == kind {
				return o
			}
		}
		select {
		case <-r.wake:
		case <-deadline.C:
			t.Fatalf("no %s observation within %v; got %s", kind, testBound, describe(r.all()))
		}
	}
}

// index is the position of the first observation of kind, or -1.
func (r *recorder) index(kind drivers.ObservationKind) int {
	for i, o := range r.all() {
		if o.Kind == kind {
			return i
		}
	}
	return -1
}

func describe(obs []drivers.Observation) string {
	var b strings.Builder
	b.WriteString("[")
	for i, o := range obs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s(code %d, %q, agent %d, driver %d)", o.Kind, o.Code, o.Reason, o.Procs.Agent.PID, o.Procs.VMProcess.PID)
	}
	b.WriteString("]")
	return b.String()
}

// watch starts a Watch that ends with the test.
func (f *fixture) watch(vm string, spec drivers.Spec, procs drivers.Procs) *recorder {
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	f.d.Watch(ctx, vm, spec, procs, func(o drivers.Observation) {
		f.track(vm, o.Procs)
		r.sink(o)
	})
	return r
}

// eventually polls cond with growing pauses until it holds or testBound
// passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testBound)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, testBound)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// gone reports whether the process recorded as p no longer runs.
func gone(p drivers.Proc) bool {
	return errors.Is(process.Check(p), process.ErrGone)
}

// staleFiles lists the *.pid, *.sock and *.tmp files of dir.
func staleFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		for _, s := range []string{".pid", ".sock", ".tmp"} {
			if strings.HasSuffix(e.Name(), s) {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

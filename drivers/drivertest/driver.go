package drivertest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// Behavior scripts how one VM's agent behaves. The zero value is a
// well-behaved agent: it reports running at once and exits on interrupt.
type Behavior struct {
	// SpawnErr, when set, is returned by Spawn; no process is made.
	SpawnErr error
	// NeverRunning: the agent never reports running.
	NeverRunning bool
	// RunningAfter delays the running report after Watch begins.
	RunningAfter time.Duration
	// FailWith: instead of running, the agent reports this error
	// (ObsFailed) and stays alive.
	FailWith string
	// CrashAfter: the agent exits with code 1 this long after it reported
	// running. Zero: never.
	CrashAfter time.Duration
	// IgnoreInterrupt and IgnoreTerminate: the agent survives those signals.
	IgnoreInterrupt bool
	IgnoreTerminate bool
	// SurviveKill: KillTree fails and the agent lives on.
	SurviveKill bool
	// CleanupErr, when set, is returned by Cleanup.
	CleanupErr error
	// LookupErr, when set, is returned by Lookup (the driver cannot tell).
	LookupErr error
	// DefineErr, when set, is returned by Define.
	DefineErr error
	// WithVMProcess: the agent also has a VM driver process (like Lima's
	// QEMU), which dies with the tree.
	WithVMProcess bool
	// VMProcessAfter, when not zero, gives the agent a VM driver process that
	// appears this long after Spawn, as Lima's QEMU does (its host agent
	// starts it, and it writes qemu.pid later): Spawn does not return it;
	// a watch given no driver identity reports it (ObsIdentity) once it
	// appears, and a watch given one does not look (as Lima's does not);
	// Lookup finds it once it appears. It dies with the tree. Keep
	// RunningAfter above it for the identity to come before running.
	VMProcessAfter time.Duration
	// SpawnPID, when not zero, is the pid Spawn gives the next agent, as
	// long as no live process holds it (else the next free pid, as when
	// zero). Replays use it to give agents the pids a recorded history
	// names.
	SpawnPID int
}

// Call is one driver call, as recorded.
type Call struct {
	Op     string // Spawn, Watch, Interrupt, Terminate, KillTree, Cleanup, Lookup
	VM     string
	PID    int // the agent pid the call was about (0 if none)
	Driver int // the VM driver pid the engine gave the call (0 if none)
	Time   time.Time
	Err    error // what the call returned
	Extra  string
}

func (c Call) String() string {
	s := fmt.Sprintf("%s %s", c.Op, c.VM)
	if c.PID != 0 {
		s += fmt.Sprintf(" pid=%d", c.PID)
	}
	if c.Extra != "" {
		s += " " + c.Extra
	}
	if c.Err != nil {
		s += " err=" + c.Err.Error()
	}
	return s
}

// proc is a modelled process.
type proc struct {
	vm      string
	id      drivers.Proc
	drvProc drivers.Proc
	// drvShown: the driver process has appeared (see VMProcessAfter).
	drvShown bool
	alive    bool
	running  bool
	code     int
	reason   string
	// unrelated marks a process that merely reuses a dead agent's pid.
	unrelated bool
	watchers  []watcher
	timers    []*time.Timer

	// started is when the process started, by package time's clock: an
	// unrecorded agent is found by Lookup only if it started at or after
	// the since it is given.
	started time.Time
}

type watcher struct {
	ctx   context.Context
	sink  func(drivers.Observation)
	procs drivers.Procs // the identities the watch was given
}

// Driver is the scripted driver. Its zero value is not usable; call New.
type Driver struct {
	mu        sync.Mutex
	behaviors map[string]Behavior
	procs     map[int]*proc  // by pid
	orphans   map[int]orphan // VM driver processes whose agent died, by pid
	nextPID   int
	starts    uint64
	calls     []Call
	onCall    func(Call)
	now       func() time.Time        // stamps a process's start; nil: time.Now
	undefined map[string]bool         // VMs whose definition DeleteOutside removed
	looks     map[string]int          // FindOutside calls a VM, done (OutsideLooks)
	instances map[string]drivers.Spec // VMs someone else made (MakeOutside), for FindInstance
	tracker   Tracker                 // counts the reports sent from goroutines; nil: none
}

// Tracker counts work in flight; engine.Activity is one. See [Driver.Track].
type Tracker interface {
	Begin()
	End()
}

// Track makes t count every report the driver sends from a goroutine of
// its own (a watch's first report): Begin before the goroutine starts,
// End after the sink returned. Given the engine's Activity, idle then
// also means that no report of the driver is on its way. The reports of
// Behavior's timers (RunningAfter, CrashAfter, DriverAfter) are not
// counted: they are due at a later time, not in flight.
func (d *Driver) Track(t Tracker) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tracker = t
}

// goReport runs f, which sends reports, in a goroutine counted by the
// tracker. It needs d.mu.
func (d *Driver) goReport(f func()) {
	t := d.tracker
	if t == nil {
		go f()
		return
	}
	t.Begin()
	go func() {
		defer t.End()
		f()
	}()
}

// New returns a scripted driver with no processes.
func New() *Driver {
	return &Driver{behaviors: make(map[string]Behavior), procs: make(map[int]*proc), nextPID: 1000}
}

// SetClock makes now the clock that stamps each modelled process's start
// (package time's by default): a replay on a virtual clock gives its own,
// so that Lookup's since, a time of the history, compares with it.
func (d *Driver) SetClock(now func() time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.now = now
}

// Script sets how vm's agents behave from now on (also the one already
// running, for signals and kills).
func (d *Driver) Script(vm string, b Behavior) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.behaviors[vm] = b
}

// OnCall sets a function called for every driver call, after it is
// recorded, outside the driver's lock. Tests use it to check, at the moment
// of the call, that the log already justifies it.
func (d *Driver) OnCall(f func(Call)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onCall = f
}

// Calls returns every call so far, in order.
func (d *Driver) Calls() []Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Call(nil), d.calls...)
}

// CallsFor returns vm's calls, rendered as strings ("Interrupt vm1 pid=1000").
func (d *Driver) CallsFor(vm string) []string {
	var out []string
	for _, c := range d.Calls() {
		if c.VM == vm {
			out = append(out, c.String())
		}
	}
	return out
}

// Count returns how many calls of op were made for vm.
func (d *Driver) Count(vm, op string) int {
	n := 0
	for _, c := range d.Calls() {
		if c.VM == vm && c.Op == op {
			n++
		}
	}
	return n
}

// Alive returns the pids of vm's live agent processes (not unrelated
// ones), sorted.
func (d *Driver) Alive(vm string) []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int
	for pid, p := range d.procs {
		if p.vm == vm && p.alive && !p.unrelated {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out
}

// AliveUnrelated reports whether an unrelated process holds pid.
func (d *Driver) AliveUnrelated(pid int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.procs[pid]
	return ok && p.alive && p.unrelated
}

// LiveProcs returns the identities of vm's live agents, each with its VM
// driver process once it has appeared (see Behavior.VMProcessAfter).
func (d *Driver) LiveProcs(vm string) []drivers.Procs {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []drivers.Procs
	for _, p := range d.procs {
		if p.vm == vm && p.alive && !p.unrelated {
			ps := drivers.Procs{Agent: p.id}
			if p.drvShown {
				ps.VMProcess = p.drvProc
			}
			out = append(out, ps)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent.PID < out[j].Agent.PID })
	return out
}

// Exit makes vm's live agent exit with code, as if it died on its own.
func (d *Driver) Exit(vm string, code int, reason string) {
	d.mu.Lock()
	var notify []func()
	for _, p := range d.procs {
		if p.vm == vm && p.alive && !p.unrelated {
			notify = append(notify, d.exitLocked(p, code, reason))
		}
	}
	d.mu.Unlock()
	run(notify)
}

// StopOutside makes vm's live agent exit as if someone other than lifeline
// had stopped it (Lima: `limactl stop`): its watchers get an ObsExited
// with code, Reason "exit status CODE (stopped from outside)" and
// Outside set to evidence, the driver's words for how it knows.
func (d *Driver) StopOutside(vm string, code int, evidence string) {
	d.mu.Lock()
	var notify []func()
	for _, p := range d.procs {
		if p.vm == vm && p.alive && !p.unrelated {
			o := drivers.Observation{VM: p.vm, Kind: drivers.ObsExited, Procs: drivers.Procs{Agent: p.id, VMProcess: p.drvProc},
				Code: code, Reason: fmt.Sprintf("exit status %d (stopped from outside)", code), Outside: evidence}
			notify = append(notify, d.endLocked(p, o, "stopped from outside"))
		}
	}
	d.mu.Unlock()
	run(notify)
}

// Recycle makes vm's live agent die silently (no watcher is told, as when
// the daemon was down) and gives its pid to an unrelated process with a
// different start time. It returns the pid.
func (d *Driver) Recycle(vm string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	for pid, p := range d.procs {
		if p.vm == vm && p.alive && !p.unrelated {
			d.starts++
			d.procs[pid] = &proc{vm: vm, id: drivers.Proc{PID: pid, StartTime: d.starts, Group: pid}, alive: true, unrelated: true}
			return pid
		}
	}
	return 0
}

// Kill makes vm's live agent die silently (no watcher is told), as when it
// died while no daemon watched.
func (d *Driver) Kill(vm string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.procs {
		if p.vm == vm && p.alive && !p.unrelated {
			p.alive, p.running = false, false
			p.watchers = nil
		}
	}
}

func run(fs []func()) {
	for _, f := range fs {
		if f != nil {
			f()
		}
	}
}

func (d *Driver) record(c Call) {
	c.Time = time.Now()
	d.calls = append(d.calls, c)
}

// finish records c and calls the OnCall hook outside the lock. It must be
// called with d.mu held; it unlocks it.
func (d *Driver) finish(c Call) {
	d.record(c)
	hook := d.onCall
	d.mu.Unlock()
	if hook != nil {
		hook(c)
	}
}

// ErrSurvived is returned by KillTree for an agent scripted to survive.
var ErrSurvived = errors.New("process survived SIGKILL")

// ErrAlive is returned by Cleanup while an agent of the VM lives: kill its
// tree first.
var ErrAlive = errors.New("agent still running")

// ErrPermission is what a scripted signal failure looks like.
var ErrPermission = errors.New("operation not permitted")

// Package drivers defines what the engine needs from the operating system:
// the [Driver] interface and the values that cross it. Implementations live
// in sub-packages: drivers/process (real OS processes), drivers/lima (Lima
// host agents) and drivers/drivertest (a scripted driver for deterministic
// tests).
//
// The engine calls a driver only after the record that justifies the call is
// durable (the durability rule), and tells it nothing else: a driver never
// writes to the log. What a driver sees, it reports as an [Observation]
// through the sink given to [Driver.Watch]; the engine records it.
package drivers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lifeline-vm/lifeline/identity"
)

// Proc names one process across daemon restarts and pid reuse: its pid,
// start time, group and the machine's boot id (see [identity.Proc]). It is
// the store's Proc too: what a driver reports is recorded as it is.
type Proc = identity.Proc

// Procs are the processes of one VM: its host agent and, where the agent
// runs the VM in a separate process group (Lima's QEMU), that VM process.
// ("Driver" means one thing in lifeline: the [Driver] a VM runs on. The VM
// process was once the field Driver; the store's JSON and the API's wire
// still call it "driver", after Lima's name for QEMU.)
type Procs struct {
	Agent     Proc
	VMProcess Proc
}

// IsZero reports whether no process is known.
func (p Procs) IsZero() bool { return p.Agent.IsZero() && p.VMProcess.IsZero() }

// Spec is what to run for a VM. The engine stores it (JSON) with a hash, and
// passes it to the driver on every call that needs it.
type Spec struct {
	// Driver names the driver that runs the VM ("lima", "command"); empty
	// is the daemon's default (Lima), as in records written before VMs
	// named their driver. The engine never interprets it; the daemon routes
	// each VM's calls by it, and a VM's driver never changes (an update
	// that names another one is refused).
	Driver string `json:"driver,omitempty"`
	// Template is the VM's definition (a Lima template, YAML), opaque to the
	// engine; Lima's section of the spec.
	Template []byte `json:"template,omitempty"`
	// Command is the program and its arguments (argv, Command[0] the
	// program: a path, or a name looked up in PATH), run as the VM's agent
	// by the command driver; its section of the spec.
	Command []string `json:"command,omitempty"`
	// Env is added to the agent's environment.
	Env map[string]string `json:"env,omitempty"`
	// Ready selects when the VM counts as Running: "guest" (the agent's
	// "running" event, the default) or "agent" (the agent answers on its
	// socket).
	Ready string `json:"ready,omitempty"`
	// Restart is the engine's restart policy for the VM: "no" (or empty)
	// or "on-failure" (restart after a crash, with backoff and a limit).
	// Drivers ignore it.
	Restart string `json:"restart,omitempty"`
	// GracefulTimeout is how long the VM's agent has to exit after a
	// graceful stop before the engine forces it; 0 for the daemon's
	// default. Drivers ignore it.
	GracefulTimeout time.Duration `json:"gracefulTimeout,omitempty"`
	// Autostart asks the engine to start the VM whenever the daemon
	// starts (its Open), if it is Stopped then. Drivers ignore it.
	Autostart bool `json:"autostart,omitempty"`
}

// ObservationKind is what a driver saw.
type ObservationKind uint8

const (
	// ObsRunning: the agent reported it is up.
	ObsRunning ObservationKind = iota + 1
	// ObsExited: the agent process exited. Err or Code say how.
	ObsExited
	// ObsFailed: the agent reported an error while starting (a degraded or
	// error event); it may still be alive.
	ObsFailed
	// ObsIdentity: a process of the VM appeared after Spawn returned (Lima's
	// QEMU, whose pid file its host agent writes later). Procs holds every
	// identity known now. A driver reports it before ObsRunning.
	ObsIdentity
)

func (k ObservationKind) String() string {
	switch k {
	case ObsRunning:
		return "running"
	case ObsExited:
		return "exited"
	case ObsFailed:
		return "failed"
	case ObsIdentity:
		return "identity"
	}
	return "unknown"
}

// Observation is one thing a driver saw about a VM's agent.
type Observation struct {
	VM     string
	Kind   ObservationKind
	Procs  Procs  // the processes the observation is about
	Code   int    // exit code, for ObsExited
	Reason string // human text: exit status, error events
	// Outside, on an ObsExited, is the driver's evidence, in words, that
	// the agent was stopped on request (Lima: `limactl stop`, `limactl
	// stop -f`), not that it failed; empty when it has none. A driver sets
	// it from what the agent or the stopper left behind (the agent's own
	// log, files removed), which need not tell who asked, and only once
	// nothing of the VM it knows of runs (the agent and its VM driver
	// process are gone). The engine trusts it only while it sent the agent
	// no signal itself (the VM Starting or Running): someone else stopped
	// it, and the engine records a stop, not a failure, and touches nothing.
	Outside string
	// Signal is the signal that ended the agent, for ObsExited; 0 for
	// none or unknown.
	Signal int
	// Exiting tells, for ObsExited, that the agent said it was exiting
	// before it exited (Lima's "exiting" event).
	Exiting bool
	// Degraded, on an ObsFailed, tells that the agent runs its VM only
	// partly (Lima's "degraded": file sharing or port forwarding may not
	// work); Reason holds its errors.
	Degraded bool
	// Successor, on an ObsExited of an agent that had not come up, names
	// the agent someone else started for the same VM at the same time
	// (`limactl start` racing lifeline's start), which won: the exited
	// agent gave way to it (Lima's second host agent exits on the first
	// one's ha.pid). Zero when there is none. Reason says how the driver
	// knows.
	Successor Procs
}

// StartedOutsideError is Spawn's answer when someone else started the
// VM's agent (`limactl start`) while the engine was starting it: that
// agent runs, and no second one is spawned. Procs names it (and its VM
// driver process once known); Evidence says how the driver knows. The
// engine follows that agent as its start's.
type StartedOutsideError struct {
	VM       string
	Procs    Procs
	Evidence string
}

func (e *StartedOutsideError) Error() string {
	return fmt.Sprintf("vm %q: started by someone else meanwhile: %s", e.VM, e.Evidence)
}

// Liveness is what [Driver.Lookup] found for a recorded identity.
type Liveness uint8

const (
	// Gone: no process with the recorded identity exists (dead, or its pid now
	// belongs to an unrelated process, which must never be signalled).
	Gone Liveness = iota
	// Alive: the agent runs but has not (yet) reported it is up.
	Alive
	// Ready: the agent runs and is up.
	Ready
)

func (l Liveness) String() string {
	switch l {
	case Gone:
		return "gone"
	case Alive:
		return "alive"
	case Ready:
		return "ready"
	}
	return "unknown"
}

// Driver is what the engine needs from the OS for VM agents; package
// drivers/conformance is its contract as a test suite, which every driver
// runs. Every method
// is called with the VM's name; methods that act on processes also get the
// identities the log recorded, and must check them before any signal: a
// process whose identity does not match is not the agent and is never
// touched. Methods may be called concurrently for different VMs, never for
// the same VM at once.
type Driver interface {
	// Define creates or updates the VM's definition where the driver keeps
	// it (Lima: the instance directory and its lima.yaml). The engine calls
	// it after the create or update record, and before each spawn.
	Define(ctx context.Context, vm string, spec Spec) error
	// Remove deletes the VM's definition and files. The engine calls it
	// after the delete record, which cleared every recorded identity.
	Remove(ctx context.Context, vm string) error
	// Spawn starts the agent for vm and returns its identities as soon as
	// the processes exist. It must not tie the agent's lifetime to ctx or to
	// the daemon: the agent outlives a daemon that exits.
	Spawn(ctx context.Context, vm string, spec Spec) (Procs, error)
	// Watch reports observations about the agent named by procs to sink
	// until ctx is done; it returns at once and watches in the background.
	// Every watch of an agent that is up reports ObsRunning, also when an
	// earlier watch did. After an ObsExited nothing more is reported.
	Watch(ctx context.Context, vm string, spec Spec, procs Procs, sink func(Observation))
	// Interrupt asks the agent to stop gracefully (SIGINT to its group).
	Interrupt(ctx context.Context, vm string, procs Procs) error
	// Terminate asks harder (SIGTERM); it does not wait.
	Terminate(ctx context.Context, vm string, procs Procs) error
	// KillTree kills every process of the VM (the agent's group and the
	// driver process) and waits, with its own bound, until they are gone.
	// A tree that is already gone is success. An error means something may
	// survive; it names the pid and the cause.
	KillTree(ctx context.Context, vm string, procs Procs) error
	// Cleanup removes the VM's stale runtime files (pid files, sockets). The
	// engine calls it only after KillTree succeeded; it fails, and removes
	// nothing, while the VM's agent lives.
	Cleanup(ctx context.Context, vm string) error
	// Lookup tells whether the recorded processes still run. With no
	// recorded agent (a crash between spawn and its record), a driver may
	// find the agent through its own files, accepting only a process that
	// started after since, and returns the identities it found.
	Lookup(ctx context.Context, vm string, spec Spec, procs Procs, since time.Time) (Liveness, Procs, error)
}

// OutsideFinder is implemented by a driver that can see what someone else
// did to a VM the log holds Stopped (Lima: `limactl start NAME`, `limactl
// delete NAME`). The engine asks it every few seconds (engine.DefaultOutsidePoll) for
// each Stopped VM,
// under the VM's lock, so it must be cheap (read a pid file, stat a
// directory; no walk of every process).
type OutsideFinder interface {
	// FindOutside tells whether vm's definition is gone (Outside.Deleted),
	// or whether an agent of vm runs that started after since and whose VM
	// runs (Outside.Procs, with its VM driver process when the driver has
	// one): an agent started before since is an earlier incarnation's, and
	// an agent whose VM is not running yet is found at a later call.
	// Evidence says, in words, how it knows.
	FindOutside(ctx context.Context, vm string, spec Spec, since time.Time) (Outside, error)
}

// Outside is what [OutsideFinder.FindOutside] found.
type Outside struct {
	// Deleted: the VM's definition is gone.
	Deleted bool
	// Procs: the identities of the agent someone else started; zero when
	// none.
	Procs Procs
	// Evidence: the driver's words of what it found.
	Evidence string
}

// Importer is implemented by a driver that can take over a VM someone
// else made with the driver's own tools (Lima: an instance `limactl
// create` or `limactl start` made under the driver's LIMA_HOME). The
// engine's Import calls it; it only reads, and changes nothing of the VM.
type Importer interface {
	// Instances lists the names of the VMs the driver finds a definition
	// of, sorted.
	Instances(ctx context.Context) ([]string, error)
	// FindInstance reads vm's definition as the spec it becomes (for Lima,
	// lima.yaml as the template) and tells whether it runs: Outside.Procs
	// holds the agent and its VM driver process when both run, with the
	// driver's Evidence. A VM with no definition is ErrNotFound; a VM
	// only part of which runs (an agent whose VM is not up yet, or gone)
	// is an error that says to try again once it settled.
	FindInstance(ctx context.Context, vm string) (Spec, Outside, error)
}

// SpecValidator is implemented by a driver that can tell, before anything is
// recorded, whether it will be able to run a VM with a spec: its template
// parses and passes the driver's own schema, the name fits the driver's
// paths. The engine calls it before every create or update record; an error
// names the spec field ("template", "ready", "env", "name") and the reason,
// and nothing is written.
type SpecValidator interface {
	ValidateSpec(vm string, spec Spec) error
}

// GraceDefaulter is implemented by a driver whose agents need another
// graceful timeout than the engine's default (Lima's host agent waits up to
// 3 minutes for its guest to power off before it kills QEMU, so a shorter
// one would cut a slow guest's shutdown). The engine asks it for a VM
// whose spec sets no GracefulTimeout, unless the engine was given one
// (the daemon's --graceful-timeout), which holds for every driver.
type GraceDefaulter interface {
	// DefaultGracefulTimeout is the graceful timeout of a VM with spec;
	// 0 for the engine's default.
	DefaultGracefulTimeout(spec Spec) time.Duration
}

// ProcReaper is implemented by a driver that can tell, by identity, whether
// one recorded process of a VM still runs, and kill exactly that process.
// [Driver.Lookup] cannot say it of a VM driver process (Lima's QEMU): it
// answers for the agent, and returns the recorded identities as given. The
// engine's recovery asks it about a Broken VM's recorded VM driver process
// whose agent is gone (a daemon killed between a crash's record and its
// reap left that QEMU running), and kills it before the restart policy
// runs. Neither method looks at the driver's files: a process a pid file
// names now (a QEMU someone started since with limactl) is not the
// recorded one and is never touched.
type ProcReaper interface {
	// ProcRuns tells whether the process recorded as p still runs: its pid
	// names a live process with p's start time (and boot id, where known).
	// A dead process, a zombie, or a pid now held by another process is
	// false, with no error; an error means the driver could not tell.
	ProcRuns(ctx context.Context, vm string, spec Spec, p Proc) (bool, error)
	// KillProc kills the process recorded as p, with the process group
	// recorded with it (Lima's QEMU leads its own), if it still runs with
	// p's identity, and
	// waits, with its own bound, until it is gone. A process already gone
	// is success. An error means it may survive; it names the pid.
	KillProc(ctx context.Context, vm string, spec Spec, p Proc) error
}

// Optional lists every optional interface a [Driver] may implement and the
// engine, the server or the daemon type-asserts on it. A driver that wraps
// another (drivers/mux, the daemon's files wrapper) must implement each
// one, forwarding to what it wraps, or it hides the wrapped driver's: the
// wrappers' tests check them against this list, and a test of the module
// fails when a type assertion names an interface not listed here.
var Optional = []any{
	(*SpecValidator)(nil),
	(*OutsideFinder)(nil),
	(*LogReader)(nil),
	(*GraceDefaulter)(nil),
	(*Importer)(nil),
	(*Locator)(nil),
	(*ProcReaper)(nil),
}

// DefaultDriver is the driver of a spec that names none: every record
// written before VMs named their driver is a Lima VM.
const DefaultDriver = "lima"

// DriverName is the driver spec names: its Driver, or [DefaultDriver] when
// empty. Two specs name the same driver when their DriverNames are equal
// ("" and "lima" are one driver).
func (s Spec) DriverName() string {
	if s.Driver == "" {
		return DefaultDriver
	}
	return s.Driver
}

// LogReader is implemented by a driver that keeps its agent's own log
// (Lima: the host agent's ha.stderr.log, and those of earlier starts).
type LogReader interface {
	// AgentLog writes vm's agent log to w: the current (or last) start's,
	// or with opts.Previous the start's before. With opts.Follow it then
	// writes what the agent appends until the agent exits or ctx ends. A
	// log the driver does not have is ErrNoLog, wrapped with the reason.
	AgentLog(ctx context.Context, vm string, opts LogOptions, w io.Writer) error
}

// LogOptions choose what [LogReader.AgentLog] writes.
type LogOptions struct {
	Previous bool // the log of the start before the current one
	Follow   bool // keep writing until the agent exits
	// Events asks for the agent's status events instead of its log: one
	// JSON object a line in the shape of Lima's host agent events
	// (api.AgentEvent; Lima's ha.stdout.log). A driver whose agents
	// report none answers ErrNoLog.
	Events bool
}

// ErrNoLog is returned by a LogReader for a log it does not have (a VM
// never started, no earlier start kept).
var ErrNoLog = errors.New("no agent log")

// ErrNotFound is returned by an [Importer] for a VM it finds no
// definition of (no Lima instance of that name).
var ErrNotFound = errors.New("not found")

// Locator is implemented by a driver that keeps each VM's files in a
// directory of its own (Lima: the instance directory under its LIMA_HOME;
// command: the run directory), so that status can say where to look
// rather than a client guessing it.
type Locator interface {
	// Locate names vm's directory and its agent's log files, whether or
	// not they exist yet. It reads nothing.
	Locate(vm string) (Location, error)
}

// Location is where a driver keeps a VM's files.
type Location struct {
	Dir string // the VM's directory
	// AgentLogs are the agent's log files, its own log first (Lima:
	// ha.stderr.log, then its events, ha.stdout.log).
	AgentLogs []string
}

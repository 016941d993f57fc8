// Package process starts, identifies, signals, kills and watches real OS
// processes: the primitives a [drivers.Driver] for VM host agents is built
// from, the same on Linux, macOS and Windows. [Driver] is a ready driver for
// a plain command agent built on them; the Lima driver reuses the primitives.
//
// # Process trees
//
// [Start] runs a command in a tree of its own: on Unix a new process group
// (Setpgid), on Windows a new console process group
// (CREATE_NEW_PROCESS_GROUP) inside a Job Object. The command is started with
// plain [exec.Command], never with a context, so a daemon that exits does not
// kill its agents; its stdout and stderr go to files, not to pipes that die
// with the daemon. On Windows the Job Object has no KILL_ON_JOB_CLOSE (the
// daemon's handle closing must not end every VM); it is named by [JobName]
// from the tree's name and the leader's identity, and a handle to it is
// placed in the leader itself, so a restarted daemon can open it again.
//
// # Default signal dispositions
//
// On Unix an ignored signal stays ignored across fork and exec. A daemon
// started under nohup, or as `cmd &` from a non-interactive shell, begins
// with SIGINT (and SIGHUP) ignored, and so would every agent it starts: a
// graceful SIGINT would then do nothing. Go's os/exec resets only the
// signals the Go runtime handles. So [Start], while it forks, installs a
// Go handler (signal.Notify on a channel it drains and drops) for each of
// SIGHUP, SIGINT, SIGQUIT and SIGTERM that the daemon currently ignores: the
// child resets handled signals to SIG_DFL before exec, and the daemon, which
// drops what arrives in that window, still ignores them in effect. Afterwards
// the signals are ignored again (signal.Ignore). Starts are serialised for
// this. Caveat: a goroutine that changes the disposition of those signals
// (signal.Notify, Ignore, Reset) while a Start is under way races with it.
//
// # Identity
//
// A process is named by a [drivers.Proc]: its pid, its start time as the OS
// reports it (Linux: clock ticks since boot from /proc/<pid>/stat; macOS:
// microseconds since the epoch from sysctl kern.proc.pid; Windows: the
// creation FILETIME from GetProcessTimes), its group, and the machine's boot
// id (Linux /proc/sys/kernel/random/boot_id, macOS kern.bootsessionuuid;
// none on Windows). [Interrupt], [Terminate] and [KillTree] first check that
// the live process still has the recorded identity; if it does not, the
// agent is gone and the process now holding the pid is never touched.
//
// # Escalation
//
// [Interrupt] (SIGINT to the group; CTRL_BREAK_EVENT to the console group)
// → [Terminate] (SIGTERM to the group; TerminateProcess; neither waits)
// → [KillTree] (SIGKILL to the group; TerminateJobObject, or `taskkill /F /T`
// for a tree without a job), which then waits, with its own bound
// ([KillWait]) that does not depend on the caller's context, until the
// whole tree is gone. KillTree of a tree that is already gone is success.
//
// # Exit watching
//
// A child is watched with Wait ([Process.Done]). A process that is not our
// child (adopted after a daemon restart) is watched with [WaitExit]: Linux
// pidfd_open plus the runtime's poller, macOS kqueue EVFILT_PROC/NOTE_EXIT,
// Windows OpenProcess plus WaitForMultipleObjects. Only a Linux kernel
// without pidfd_open (before 5.3) falls back to polling, every
// [PollInterval].
//
// # Caveats
//
//   - Unix signals name a group by number. Between the identity check and
//     the signal there is a window of microseconds in which the process
//     could exit and its pid be reused; it needs the pid counter to wrap
//     within that window.
//   - After the group leader has exited, KillTree still kills what is left
//     of its group (a grandchild that ignored everything). The group's
//     number cannot be reused while any member lives; KillTree signals the
//     leftovers only when each of them started after the recorded leader
//     (Linux and macOS), which is what the agent's own descendants did.
//   - On Windows, Interrupt needs a console shared with the agent
//     (GenerateConsoleCtrlEvent); a daemon without one gets an error and
//     should escalate.
//   - A zombie (exited, not yet reaped) counts as gone. Group-exit checks
//     ignore zombies, so an init that never reaps orphans does not make a
//     killed tree look alive.
package process

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// Every default time bound of the package, named once.
const (
	// KillWait bounds the wait, after the kill, for a tree to be gone.
	KillWait = 10 * time.Second
	// FreezeWait bounds Freeze's wait for a group to be stopped.
	FreezeWait = 2 * time.Second
	// PollInterval is the longest pause between two checks where there is
	// no event to wait on: a group's leftover members after a kill, a Job
	// Object's process count, and exit watching on a Linux kernel without
	// pidfd_open.
	PollInterval = 20 * time.Millisecond
	// firstPoll is the first pause of a polling loop; pauses double up to
	// PollInterval.
	firstPoll = time.Millisecond
)

// Command says what [Start] runs.
type Command struct {
	// Path is the program; a name without a path separator is looked up
	// in PATH, as exec.Command does.
	Path string
	// Args are the arguments after the program name.
	Args []string
	// Env is the whole environment ("KEY=value"); nil means the daemon's.
	Env []string
	// Dir is the working directory; empty means the daemon's.
	Dir string
	// Stdout and Stderr are files the output is appended to (created if
	// needed); empty means the null device. They may be the same path.
	Stdout, Stderr string
	// Name names the tree; on Windows its Job Object is JobName(Name, proc).
	// Give KillTree the same name.
	Name string
}

// Process is a tree started by [Start]: the leader is our child.
type Process struct {
	// Proc is the leader's identity, to record.
	Proc drivers.Proc

	cmd   *exec.Cmd
	done  chan struct{}
	state *os.ProcessState
	err   error
}

// Start runs c as the leader of a new process tree with default signal
// dispositions, its output going to files, and returns once the leader runs
// and its identity is known. Nothing ties the tree's life to the caller.
func Start(c Command) (*Process, error) {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = c.Env
	cmd.Dir = c.Dir
	stdout, err := openOutput(c.Stdout)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Path, err)
	}
	if stdout != nil {
		defer stdout.Close() // the child has its own copy
		cmd.Stdout = stdout
	}
	stderr := stdout
	if c.Stderr != c.Stdout {
		if stderr, err = openOutput(c.Stderr); err != nil {
			return nil, fmt.Errorf("start %s: %w", c.Path, err)
		}
		if stderr != nil {
			defer stderr.Close()
		}
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	if err := startTree(p, c.Name); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Path, err)
	}
	return p, nil
}

// openOutput opens an output file for appending; "" gives nil (exec.Cmd
// then uses the null device).
func openOutput(path string) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return f, nil
}

// reap waits for the leader in the background; startTree calls it once the
// leader runs.
func (p *Process) reap() {
	go func() {
		err := p.cmd.Wait()
		p.state, p.err = p.cmd.ProcessState, err
		close(p.done)
	}()
}

// Done is closed once the leader has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits until the leader exits or ctx is done, and returns its exit
// state; a ctx that ends first gives ctx's error (wrapping [ErrTimeout] for a
// deadline), never a state.
func (p *Process) Wait(ctx context.Context) (*os.ProcessState, error) {
	select {
	case <-p.done:
		if p.state != nil {
			return p.state, nil
		}
		return nil, fmt.Errorf("pid %d: wait: %w", p.Proc.PID, p.err)
	case <-ctx.Done():
		return nil, waitErr(p.Proc.PID, ctx)
	}
}

// ExitStatus describes how the leader ended, once [Process.Done] is closed:
// its exit code (-1 when a signal ended it) and a human reason.
func (p *Process) ExitStatus() (code int, reason string) {
	select {
	case <-p.done:
	default:
		return -1, "still running"
	}
	if p.state == nil {
		return -1, p.err.Error()
	}
	return p.state.ExitCode(), p.state.String()
}

// ExitSignal is the signal that ended the leader, once [Process.Done] is
// closed; 0 when it exited by itself, is still running, or the OS does not
// tell.
func (p *Process) ExitSignal() int {
	select {
	case <-p.done:
	default:
		return 0
	}
	if p.state == nil {
		return 0
	}
	if ws, ok := p.state.Sys().(interface {
		Signaled() bool
		Signal() syscall.Signal
	}); ok && ws.Signaled() {
		return int(ws.Signal())
	}
	return 0
}

// Identify returns the identity of the live process pid, with its current
// group and the boot id. It returns an error wrapping [ErrGone] when no such
// process runs (a zombie counts as gone).
func Identify(pid int) (drivers.Proc, error) {
	if pid <= 0 {
		return drivers.Proc{}, fmt.Errorf("pid %d: %w", pid, ErrGone)
	}
	live, zombie, err := identify(pid)
	if err != nil {
		return drivers.Proc{}, err
	}
	if zombie {
		return drivers.Proc{}, fmt.Errorf("pid %d: exited (zombie): %w", pid, ErrGone)
	}
	return live, nil
}

// Check returns nil when the process recorded as p still runs with the same
// identity, and an error wrapping [ErrGone] when it exited or its pid now
// belongs to another process. Other errors (permission) mean it could not
// tell.
func Check(p drivers.Proc) error {
	live, err := Identify(p.PID)
	if err != nil {
		return err
	}
	return match(p, live)
}

// Runs reports whether the process recorded as p still runs with the same
// identity ([Check]): false, with no error, when it exited, is a zombie or
// its pid now belongs to another process (a zero p names none); an error
// when it could not tell.
func Runs(p drivers.Proc) (bool, error) {
	if p.IsZero() {
		return false, nil
	}
	switch err := Check(p); {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrGone):
		return false, nil
	default:
		return false, err
	}
}

// match compares a recorded identity with a live one.
func match(recorded, live drivers.Proc) error {
	if recorded.PID != live.PID || recorded.StartTime != live.StartTime {
		return fmt.Errorf("pid %d: started at %d, recorded %d: another process: %w",
			recorded.PID, live.StartTime, recorded.StartTime, ErrGone)
	}
	if recorded.BootID != "" && live.BootID != "" && recorded.BootID != live.BootID {
		return fmt.Errorf("pid %d: boot %s, recorded %s: another process: %w",
			recorded.PID, live.BootID, recorded.BootID, ErrGone)
	}
	return nil
}

// Interrupt asks the tree recorded as p to stop gracefully: SIGINT to its
// group, CTRL_BREAK_EVENT to its console group on Windows. It returns an
// error wrapping [ErrGone] (and signals nothing) when p no longer runs.
func Interrupt(p drivers.Proc) error { return interrupt(p) }

// Terminate asks harder: SIGTERM to the group, TerminateProcess of the
// leader on Windows. It does not wait. It returns an error wrapping
// [ErrGone] (and signals nothing) when p no longer runs.
func Terminate(p drivers.Proc) error { return terminate(p) }

// Freeze stops every process of the group recorded as p (SIGSTOP) and
// waits, for at most [FreezeWait] on a context of its own, until each is
// stopped or dead. A frozen group starts no process: a child it forked
// before is complete (its group and parent can be read), and none can
// follow. Only a kill should come next (a stopped process dies of SIGKILL).
// Lima's KillTree freezes the agent before it looks for the agent's
// children in groups of their own, so that a QEMU forked during the search
// cannot slip out. It returns an error wrapping [ErrGone] (and signals
// nothing) when p no longer runs, one wrapping [ErrTimeout] when a member
// did not stop in time, and one wrapping errors.ErrUnsupported on Windows,
// where the job object already holds every descendant.
func Freeze(ctx context.Context, p drivers.Proc) error {
	if p.IsZero() {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FreezeWait)
	defer cancel()
	return freeze(wctx, p)
}

// KillTree kills every process of the tree recorded as p and started under
// name, then waits until they are gone, for at most [KillWait] on a context
// of its own (context.WithoutCancel(ctx)), so it still waits when ctx is
// already cancelled. A tree that is already gone is success; a pid now held
// by another process is never touched. An error names the pid and the cause
// (for a tree that outlived the wait, [ErrSurvived] and [ErrTimeout]).
func KillTree(ctx context.Context, name string, p drivers.Proc) error {
	if p.IsZero() {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), KillWait)
	defer cancel()
	return killTree(wctx, name, p)
}

// Info is one live process as the OS's process table shows it.
type Info struct {
	// Proc is its identity; Group is its process group now.
	drivers.Proc
	// Parent is its parent's pid.
	Parent int
}

// Scan walks the OS's process table once: it asks pick about every pid,
// before anything else is read about it, and returns the identity and
// parent of each picked process that is alive (not exited). A process that
// exits during the walk, or that this process may not read, is left out.
// pick runs for every process, so it should be cheap (a readlink of
// /proc/<pid>/cwd) or say yes to all. On Linux the walk reads /proc;
// elsewhere Scan returns an error wrapping errors.ErrUnsupported. The Lima
// driver finds with it the processes of an instance that no pid file
// names yet.
func Scan(pick func(pid int) bool) ([]Info, error) { return scan(pick) }

// WaitExit waits until the process recorded as p exits, without polling
// where the OS can tell (see the package doc). It returns nil once p is gone
// (also when it was gone already, or its pid now names another process), and
// ctx's error when ctx ends first, wrapping [ErrTimeout] for a deadline. It
// works for any process, our child or not; it does not reap.
func WaitExit(ctx context.Context, p drivers.Proc) error {
	w, err := watchExit(p)
	if err != nil {
		return err
	}
	if w == nil {
		return nil // already gone
	}
	defer w.close()
	return w.wait(ctx)
}

// StartedAt converts p's start time to wall-clock time, to within
// [StartedAtSlack].
func StartedAt(p drivers.Proc) (time.Time, error) { return startedAt(p) }

// StartedAtSlack is how far [StartedAt] may be from the true start time on
// this OS (Linux knows the boot time only to the second).
const StartedAtSlack = startedAtSlack

// BootID returns the machine's boot id, or "" where the OS has none.
func BootID() string { return bootID() }

// JobName is the name of the Windows Job Object of the tree started under
// name whose leader is p: one per VM and agent boot (pid and creation time).
// Backslashes, which object names cannot hold, become underscores.
func JobName(name string, p drivers.Proc) string {
	if name == "" {
		name = "tree"
	}
	name = strings.ReplaceAll(name, `\`, "_")
	return fmt.Sprintf(`Local\lifeline-%s-%d-%d`, name, p.PID, p.StartTime)
}

// AgentEnv is an agent's environment, the one rule every driver uses: base
// (nil means the daemon's, os.Environ()) with the spec's variables set on
// top, and then the driver's own, which win over both: the variables a
// driver sets for its agent (the VM's name, Lima's home) are not a spec's
// to change. The order is MergeEnv's; neither map is changed.
func AgentEnv(base []string, spec, own map[string]string) []string {
	if base == nil {
		base = os.Environ()
	}
	env := make(map[string]string, len(spec)+len(own))
	maps.Copy(env, spec)
	maps.Copy(env, own)
	return MergeEnv(base, env)
}

// MergeEnv returns base with env's variables set (replacing those of the same
// name), in a stable order: base's order, then env's new keys sorted.
func MergeEnv(base []string, env map[string]string) []string {
	out := make([]string, 0, len(base)+len(env))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := env[k]; ok {
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// waitErr is the error of a wait on pid that ctx ended.
func waitErr(pid int, ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("pid %d: %w: %w", pid, ErrTimeout, ctx.Err())
	}
	return fmt.Errorf("pid %d: wait: %w", pid, ctx.Err())
}

// pollUntil calls done with growing pauses (firstPoll doubling up to
// PollInterval) until it reports true or fails, or ctx ends (the error from
// waitErr for pid).
func pollUntil(ctx context.Context, pid int, done func() (bool, error)) error {
	pause := firstPoll
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		t.Reset(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			if ok, err := done(); err != nil || ok {
				return err
			}
			return waitErr(pid, ctx)
		}
		pause = min(2*pause, PollInterval)
	}
}

// exitWatch waits for one process's exit; watchExit (per OS) arms it.
type exitWatch interface {
	wait(ctx context.Context) error
	close()
}

// startMu serialises starts (see "Default signal dispositions").
var startMu sync.Mutex

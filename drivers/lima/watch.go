package lima

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lima-vm/lima/pkg/hostagent/api/client"
	"github.com/lima-vm/lima/pkg/hostagent/events"
	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// Watch follows vm's host agent in the background until ctx is done or the
// agent exits, and reports:
//
//   - ObsIdentity, once the VM driver process (qemu.pid) appears and is
//     identified as started after the agent, with both identities; always
//     before ObsRunning. The identity is also remembered in the instance
//     directory (RememberedDriverFile).
//   - ObsRunning on the event `"running": true` (spec.Ready "guest", the
//     default), or, with spec.Ready "agent", once GET /v1/info answers on
//     ha.sock and the driver process is known.
//   - ObsFailed on an event that is "degraded" (Degraded set) or carries
//     errors, with the errors' text. With spec.Ready "agent" the VM may
//     run before the guest reported: the log is read until it did.
//   - ObsExited when the agent exits: the exit code from Wait for an agent
//     this Driver spawned, -1 for an adopted one (watched with
//     process.WaitExit); the reason adds the errors the events carried and
//     whether "exiting" came first, and the last error lines of the
//     agent's own log (ha.stderr.log; errorExcerpt, bounded), where Lima
//     says why its VM driver stopped. Outside holds the evidence that
//     someone else stopped the agent (`limactl stop`, `limactl stop -f`;
//     outside.go), when there is one.
//
// Events are read from ha.stdout.log from its start every time Watch is
// called. The log holds only this agent's events (Spawn re-creates it, as
// Lima's start does), and events stamped before the agent started are
// skipped as stale (a log written by an earlier agent), so a watch after a
// daemon restart re-reports what this agent said while nobody listened;
// the engine takes a repeated ObsRunning or ObsIdentity as a no-op. Once
// the agent is up and identified, the watch stops reading the log and only
// waits for the exit.
func (d *Driver) Watch(ctx context.Context, vm string, spec drivers.Spec, procs drivers.Procs, sink func(drivers.Observation)) {
	dir, err := d.InstanceDir(vm)
	if err != nil || procs.Agent.IsZero() {
		reason := "no agent recorded"
		if err != nil {
			reason = err.Error()
		}
		go sink(drivers.Observation{VM: vm, Kind: drivers.ObsExited, Procs: procs, Code: -1, Reason: reason})
		return
	}
	w := &watch{d: d, vm: vm, dir: dir, spec: spec, procs: procs, sink: sink}
	if at, err := process.StartedAt(procs.Agent); err == nil {
		w.since = at.Add(-process.StartedAtSlack)
	}
	if c := d.child(vm, procs.Agent); c != nil {
		w.exited = c.Done()
		w.status = c.ExitStatus
		w.state = func() *os.ProcessState { st, _ := c.Wait(context.Background()); return st }
		w.signal = c.ExitSignal
	} else {
		w.exited = waitAdopted(ctx, procs.Agent)
		w.status = func() (int, string) { return -1, "exited (adopted: exit status unknown)" }
		w.signal = func() int { return 0 }
	}
	go w.run(ctx)
}

// watch is one Watch's state.
type watch struct {
	d     *Driver
	vm    string
	dir   string
	spec  drivers.Spec
	procs drivers.Procs
	sink  func(drivers.Observation)

	since  time.Time       // events before it are stale
	exited <-chan struct{} // closed once the agent has exited
	status func() (code int, reason string)
	state  func() *os.ProcessState // how our child ended; nil for an adopted agent
	signal func() int              // the signal that ended the agent, 0 if none or unknown

	running bool     // ObsRunning was reported
	guest   bool     // the agent reported its guest's state ("running", degraded or not)
	exiting bool     // the agent said "exiting"
	errs    []string // errors the events carried
}

func (w *watch) run(ctx context.Context) {
	t := &tail{path: filepath.Join(w.dir, filenames.HostAgentStdoutLog)}
	defer t.close()
	pause := firstPoll
	timer := time.NewTimer(0)
	defer timer.Stop()
	exited := false
	for {
		n := w.step(ctx, t)
		if exited {
			w.identify() // a driver that outlived its agent must be known
			code, reason := w.status()
			o := drivers.Observation{VM: w.vm, Kind: drivers.ObsExited, Procs: w.procs, Code: code, Reason: w.exitReason(reason),
				Signal: w.signal(), Exiting: w.exiting}
			o.Outside = w.outsideEvidence(ctx) // outside.go
			if o.Outside == "" && !w.running {
				o.Successor, o.Reason = w.successor(o.Reason) // race.go
			}
			w.sink(o)
			return
		}
		if w.up() {
			// Nothing left to learn from the log: wait for the exit, then
			// read what the agent said on its way out.
			select {
			case <-ctx.Done():
				return
			case <-w.exited:
				exited = true
				continue
			}
		}
		if n > 0 {
			pause = firstPoll
		} else {
			pause = min(2*pause, PollInterval)
		}
		timer.Reset(pause)
		select {
		case <-ctx.Done():
			return
		case <-w.exited:
			exited = true
		case <-timer.C:
		}
	}
}

// up reports whether the agent is up and nothing more is to be reported
// before its exit. A VM Running once its agent answers (spec.Ready
// "agent") is up only once the agent also reported its guest's state: a
// degraded guest is reported (ObsFailed) while the VM runs.
func (w *watch) up() bool {
	return w.running && !w.procs.VMProcess.IsZero() && (w.guest || w.spec.Ready != ReadyAgent)
}

// step reads the new events, looks for the driver process, and checks the
// socket when the spec says so. It returns how many lines it read.
func (w *watch) step(ctx context.Context, t *tail) int {
	lines, err := t.lines()
	if err != nil {
		w.d.log.Warn().Err(err).Str("vm", w.vm).Msg("read host agent events")
	}
	for _, l := range lines {
		w.handle(l)
	}
	w.identify()
	if w.spec.Ready == ReadyAgent && !w.running && !w.procs.VMProcess.IsZero() &&
		agentAnswers(ctx, filepath.Join(w.dir, filenames.HostAgentSock)) {
		w.running = true
		w.report(drivers.ObsRunning, 0, "host agent answers on "+filenames.HostAgentSock)
	}
	return len(lines)
}

// handle acts on one line of ha.stdout.log.
func (w *watch) handle(line []byte) {
	if len(strings.TrimSpace(string(line))) == 0 {
		return
	}
	var ev events.Event
	if err := json.Unmarshal(line, &ev); err != nil {
		w.d.log.Warn().Err(err).Str("vm", w.vm).Str("line", string(line)).Msg("not a host agent event")
		return
	}
	if !ev.Time.IsZero() && ev.Time.Before(w.since) {
		return // an earlier agent's
	}
	st := ev.Status
	if st.Exiting {
		w.exiting = true
	}
	w.errs = append(w.errs, st.Errors...)
	if st.Running || st.Degraded {
		w.guest = true
	}
	switch {
	case st.Degraded:
		w.sink(drivers.Observation{VM: w.vm, Kind: drivers.ObsFailed, Procs: w.procs, Degraded: true, Reason: "degraded: " + joinErrors(st.Errors)})
	case len(st.Errors) > 0:
		w.report(drivers.ObsFailed, 0, joinErrors(st.Errors))
	case st.Running && !w.running && w.spec.Ready != ReadyAgent && w.holdsPIDFile():
		w.identify()
		w.running = true
		w.report(drivers.ObsRunning, 0, `host agent reported "running": true`)
	}
}

// identify looks for the VM driver process while it is not known, and
// reports it (ObsIdentity) and remembers it once found.
func (w *watch) identify() {
	if !w.procs.VMProcess.IsZero() || !w.holdsPIDFile() {
		return
	}
	p, ok, err := findDriver(w.dir, w.procs.Agent)
	if err != nil {
		w.d.log.Warn().Err(err).Str("vm", w.vm).Msg("look for the VM driver process")
		return
	}
	if !ok {
		return
	}
	if err := remember(w.dir, p); err != nil {
		w.d.log.Warn().Err(err).Str("vm", w.vm).Int("pid", p.PID).Msg("remember the VM driver process")
	}
	w.procs.VMProcess = p
	w.d.log.Info().Str("vm", w.vm).Int("pid", p.PID).Int("agent", w.procs.Agent.PID).Msg("VM driver process identified")
	w.report(drivers.ObsIdentity, 0, "VM driver process identified")
}

// holdsPIDFile tells whether ha.pid names the watched agent. A host agent
// writes it before anything else, so events in ha.stdout.log and a
// qemu.pid while it names another agent are that agent's: `limactl start`
// racing lifeline's start truncates the same log and writes its own
// events there (race.go). They are not taken for the watched agent's.
//
// Once the watched agent has exited, its events are read a last time (an
// agent that said "running" and crashed 200 ms later, before the watch
// read the log): ha.pid then names a dead process, which livePIDFile does
// not vouch for, so a file that still holds the watched agent's own pid
// number is its (no other agent can have written it: the number was the
// watched agent's until a moment ago).
func (w *watch) holdsPIDFile() bool {
	path := filepath.Join(w.dir, filenames.HostAgentPID)
	p, ok, err := livePIDFile(path)
	if err == nil && ok {
		return p.PID == w.procs.Agent.PID && p.StartTime == w.procs.Agent.StartTime
	}
	if !w.agentExited() {
		return false
	}
	p, err = process.ReadPIDFile(path)
	return err == nil && p.PID == w.procs.Agent.PID
}

// agentExited reports whether the watched agent has exited.
func (w *watch) agentExited() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

func (w *watch) report(kind drivers.ObservationKind, code int, reason string) {
	w.sink(drivers.Observation{VM: w.vm, Kind: kind, Procs: w.procs, Code: code, Reason: reason})
}

// exitReason adds what the events said to the exit status.
func (w *watch) exitReason(status string) string {
	var b strings.Builder
	b.WriteString(status)
	if w.exiting {
		b.WriteString(`, after "exiting"`)
	} else {
		b.WriteString(`, without "exiting"`)
	}
	if len(w.errs) > 0 {
		b.WriteString("; errors: ")
		b.WriteString(joinErrors(w.errs))
	}
	if x := errorExcerpt(filepath.Join(w.dir, filenames.HostAgentStderrLog), w.errs); x != "" {
		b.WriteString("; host agent log: ")
		b.WriteString(x)
	}
	return b.String()
}

func joinErrors(errs []string) string {
	if len(errs) == 0 {
		return "(no error text)"
	}
	return strings.Join(errs, "; ")
}

// waitAdopted returns a channel closed once p (not our child) has exited.
// It waits with process.WaitExit (no polling where the OS can tell), and,
// should the OS refuse that, checks every PollInterval. Nothing is closed
// when ctx ends first.
func waitAdopted(ctx context.Context, p drivers.Proc) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		err := process.WaitExit(ctx, p)
		if err == nil {
			close(done)
			return
		}
		if ctx.Err() != nil {
			return
		}
		t := time.NewTicker(PollInterval)
		defer t.Stop()
		for {
			if err := process.Check(p); errors.Is(err, process.ErrGone) {
				close(done)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return done
}

// agentAnswers reports whether a host agent answers GET /v1/info on sock,
// through Lima's own client, within InfoTimeout.
func agentAnswers(ctx context.Context, sock string) bool {
	c, err := client.NewHostAgentClient(sock)
	if err != nil {
		return false
	}
	defer c.HTTPClient().CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, InfoTimeout)
	defer cancel()
	_, err = c.Info(ctx)
	return err == nil
}

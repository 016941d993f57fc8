package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Default timeouts, named once.
const (
	// DefaultGracefulTimeout is how long a Stopping VM's agent has to exit
	// after the interrupt before it is force-stopped.
	DefaultGracefulTimeout = 30 * time.Second
	// DefaultStartTimeout is how long a Starting VM has to report running.
	DefaultStartTimeout = 10 * time.Minute
	// DefaultTerminateGrace is how long a force-stop after a missed graceful
	// deadline waits after SIGTERM before it kills the tree.
	DefaultTerminateGrace = 5 * time.Second
	// DefaultDriverTimeout bounds each driver call (spawn, kill, cleanup,
	// lookup) so that one stuck VM never holds its lock forever.
	DefaultDriverTimeout = 2 * time.Minute
	// DefaultRecoveryParallelism bounds how many VMs recover at once.
	DefaultRecoveryParallelism = 256
	// DefaultOutsidePoll is how often the engine asks a driver that can
	// tell (drivers.OutsideFinder) whether someone else started or deleted
	// a Stopped VM (outside.go).
	DefaultOutsidePoll = 2 * time.Second
)

// Store is what the engine needs from the log; *store.Store implements it.
// Tests wrap it to inject write failures.
type Store interface {
	Append(ctx context.Context, w store.Write) (store.Record, error)
	Heads() ([]store.Head, error)
	Spec(vm string) ([]byte, error)
	Records(fromSeq uint64, fn func(store.Record) error) error
	VMRecords(vm string, fromVMSeq uint64, fn func(store.Record) error) error
	LastSeq() uint64
}

// Options configure an Engine. Store and Driver are required.
type Options struct {
	Store  Store
	Driver drivers.Driver
	Clock  Clock          // default RealClock
	Logger zerolog.Logger // default zerolog.Nop()

	// GracefulTimeout is the graceful timeout of a VM whose spec sets
	// none, for every driver; when zero, the driver's default
	// (drivers.GraceDefaulter: Lima's 3m30s), else DefaultGracefulTimeout.
	GracefulTimeout     time.Duration
	StartTimeout        time.Duration // default DefaultStartTimeout
	TerminateGrace      time.Duration // default DefaultTerminateGrace
	DriverTimeout       time.Duration // default DefaultDriverTimeout
	RecoveryParallelism int           // default DefaultRecoveryParallelism
	// OutsidePoll is how often Stopped VMs are looked at for a start or a
	// delete from outside (outside.go); default DefaultOutsidePoll,
	// negative for never (a caller then calls PollOutside itself).
	OutsidePoll time.Duration
	// SubscriberBytes bounds how far one subscriber may fall behind, in
	// bytes of queued records; default MaxSubscriberBytes.
	SubscriberBytes int

	// The restart policy of VMs whose spec says "on-failure".
	RestartBackoff    time.Duration // default DefaultRestartBackoff
	RestartBackoffMax time.Duration // default DefaultRestartBackoffMax
	RestartLimit      int           // default DefaultRestartLimit
	RestartWindow     time.Duration // default DefaultRestartWindow

	// PrevHostBootID and HostBootID are the host's boot id when the
	// previous daemon ran and now, "" when unknown (the daemon reads them
	// from its boot records). When both are known and differ, the host
	// rebooted in between: recovery records each VM it finds gone as lost
	// because of the reboot, not as an agent that vanished.
	PrevHostBootID, HostBootID string

	// Activity, when set, counts the engine's work in flight (effects and
	// queued observations), for a caller that waits until the engine is
	// idle (replay's re-driver). Nil: nothing is counted.
	Activity *Activity
}

func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.GracefulTimeout <= 0 {
		o.GracefulTimeout = DefaultGracefulTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.TerminateGrace <= 0 {
		o.TerminateGrace = DefaultTerminateGrace
	}
	if o.DriverTimeout <= 0 {
		o.DriverTimeout = DefaultDriverTimeout
	}
	if o.OutsidePoll == 0 {
		o.OutsidePoll = DefaultOutsidePoll
	}
	if o.RecoveryParallelism <= 0 {
		o.RecoveryParallelism = DefaultRecoveryParallelism
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = DefaultRestartBackoff
	}
	if o.RestartBackoffMax <= 0 {
		o.RestartBackoffMax = DefaultRestartBackoffMax
	}
	if o.RestartLimit <= 0 {
		o.RestartLimit = DefaultRestartLimit
	}
	if o.RestartWindow <= 0 {
		o.RestartWindow = DefaultRestartWindow
	}
}

// Engine supervises VMs. Its methods are safe for concurrent use.
type Engine struct {
	opts Options
	// graceGiven: Options.GracefulTimeout was set, and holds for every
	// VM whose spec sets none, before any driver's default.
	graceGiven bool
	st         Store
	drv        drivers.Driver
	clock      Clock
	log        zerolog.Logger

	ctx    context.Context // cancelled by Close: ends watches and effects
	cancel context.CancelFunc
	wg     sync.WaitGroup // effects and watches in flight

	mu           sync.Mutex
	vms          map[string]*vm // live VMs (not Absent)
	closed       bool
	shuttingDown bool // Shutdown began: commands get ErrShuttingDown

	pub *publisher

	health logHealth // how appends fare (retry.go)
}

// VM is a snapshot of one VM.
type VM struct {
	// Name is the VM's name (the same as Head.VM, which a VM never
	// recorded leaves empty).
	Name string
	store.Head
	Spec drivers.Spec
	// Unrecorded, when not empty, says what happened to the VM that the
	// log could not record yet (an agent's exit, a deadline), why, and when
	// the engine tries again: Head is behind the truth until then.
	Unrecorded string
	// AgentError is what the agent reported wrong while the VM is Running
	// (an ObsFailed; Lima: "degraded" and its errors), as the driver said
	// it, and AgentErrorAt when; empty when nothing. It is no transition,
	// so the log does not hold it: it lasts until the VM leaves Running (a
	// restarted daemon's watch reads it again from the agent).
	AgentError   string
	AgentErrorAt time.Time
	// Degraded: the AgentError says the VM runs degraded.
	Degraded bool
}

// Open recovers every VM recorded in opts.Store, then returns a serving
// engine. Recovery problems of single VMs are logged and recorded; Open
// fails only when the store cannot be read.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Driver == nil {
		return nil, errors.New("engine: Options.Store and Options.Driver are required")
	}
	graceGiven := opts.GracefulTimeout > 0
	opts.setDefaults()
	e := &Engine{
		graceGiven: graceGiven,
		opts:       opts,
		st:         opts.Store,
		drv:        opts.Driver,
		clock:      opts.Clock,
		log:        opts.Logger,
		vms:        make(map[string]*vm),
	}
	e.ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	heads, err := e.st.Heads()
	if err != nil {
		return nil, fmt.Errorf("engine: load heads: %w", err)
	}
	e.pub = newPublisher(e.st, heads, opts.SubscriberBytes)
	var live []*vm
	for _, h := range heads {
		if !h.State.Live() {
			continue
		}
		v := &vm{name: h.VM, head: h}
		raw, err := e.st.Spec(h.VM)
		if err == nil {
			err = json.Unmarshal(raw, &v.spec)
		}
		if err != nil {
			// The VM stays known (and Broken if it was running): its spec is
			// needed to drive it, not to see it.
			e.log.Error().Err(err).Str("vm", h.VM).Msg("load spec")
			v.specErr = fmt.Errorf("vm %q: load spec: %w", h.VM, err)
		}
		e.loadStale(v)
		e.vms[h.VM] = v
		live = append(live, v)
	}
	if e.hostRebooted() {
		e.log.Warn().Str("was", opts.PrevHostBootID).Str("now", opts.HostBootID).Int("live", len(live)).Msg("the host rebooted since the last daemon: its VMs went down with it")
	}
	e.recoverAll(ctx, live)
	e.autostart() // import.go
	e.armOutsidePoll()
	return e, nil
}

// Close detaches: it stops watching and ends timers, waits for effects in
// flight, and leaves every agent running for the next Open to adopt. It does
// not close the store.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	vms := e.sortedVMs()
	e.mu.Unlock()
	e.cancel()
	for _, v := range vms {
		v.mu.Lock()
		v.stopTimer()
		v.mu.Unlock()
	}
	e.wg.Wait()
	e.pub.close()
	return nil
}

// Shutdown stops every Starting or Running VM in parallel (each escalating
// at its own deadline), waits until none is in flight or ctx is done, then
// closes. Shutting down N VMs takes about one graceful timeout, not N.
//
// From its first moment every command fails with [ErrShuttingDown], and
// the engine starts nothing on its own (a policy restart, an update's
// restart): what Shutdown stops is all there is. It returns an error
// naming each VM still live (Starting, Running, Stopping, ForceStopping)
// when it is done, so that a caller never takes a shutdown that left a VM
// running for a clean one.
func (e *Engine) Shutdown(ctx context.Context) error {
	var errs []error
	e.mu.Lock()
	e.shuttingDown = true
	vms := e.sortedVMs()
	e.mu.Unlock()
	for _, v := range vms {
		v.mu.Lock()
		if !v.deleted {
			switch v.head.State {
			case states.Starting, states.Running:
				if _, err := e.stopLocked(ctx, v, StopOptions{cause: store.Cause{Kind: store.CauseShutdown}}); err != nil {
					var rej *RejectedError
					if !errors.As(err, &rej) {
						errs = append(errs, err)
					}
				}
			}
		}
		v.mu.Unlock()
	}
	for _, v := range vms {
		_, err := e.WaitFor(ctx, v.name, func(h store.Head) bool { return !h.State.InFlight() })
		if err != nil {
			errs = append(errs, fmt.Errorf("vm %q: shutdown: %w", v.name, err))
		}
	}
	errs = append(errs, e.Close())
	for _, v := range e.List() {
		if v.State.InFlight() || v.State == states.Running {
			errs = append(errs, fmt.Errorf("vm %q: still %s after the shutdown (%s: %s): %w", v.Name, v.State, v.Event, v.Reason, ErrLeftLive))
		}
	}
	return errors.Join(errs...)
}

// refuse returns the error for a command while the engine is closed or
// shutting down, nil otherwise. It needs e.mu.
func (e *Engine) refuse() error {
	switch {
	case e.shuttingDown:
		return ErrShuttingDown
	case e.closed:
		return ErrClosed
	}
	return nil
}

// starting returns nil while the engine takes commands and may start a
// VM: not once Shutdown began or Close was called.
func (e *Engine) starting() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refuse()
}

// Get returns a snapshot of one VM.
func (e *Engine) Get(name string) (VM, error) {
	v, err := e.lookup(name)
	if err != nil {
		return VM{}, err
	}
	s := v.snapshot()
	if s.State == states.Absent {
		// Its create is not durable yet, or its delete is.
		return VM{}, fmt.Errorf("vm %q: %w", name, ErrNotFound)
	}
	return s, nil
}

// List returns a snapshot of every live VM, sorted by name. A VM whose
// create is not durable yet, or whose delete is, is not listed.
func (e *Engine) List() []VM {
	e.mu.Lock()
	vms := e.sortedVMs()
	e.mu.Unlock()
	out := make([]VM, 0, len(vms))
	for _, v := range vms {
		if s := v.snapshot(); s.State != states.Absent {
			out = append(out, s)
		}
	}
	return out
}

func (e *Engine) lookup(name string) (*vm, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	v, ok := e.vms[name]
	if !ok {
		return nil, fmt.Errorf("vm %q: %w", name, ErrNotFound)
	}
	return v, nil
}

// sortedVMs needs e.mu.
func (e *Engine) sortedVMs() []*vm {
	out := make([]*vm, 0, len(e.vms))
	for _, v := range e.vms {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// goEffect runs f in the background, tracked for Close and counted in
// Options.Activity. After Close it does nothing and returns false: a
// detached engine starts no effect.
func (e *Engine) goEffect(f func()) bool {
	a := e.opts.Activity
	if a == nil {
		return e.goServe(f)
	}
	a.Begin()
	if !e.goServe(func() { defer a.End(); f() }) {
		a.End()
		return false
	}
	return true
}

// goServe is goEffect for work that is not an effect (a subscription's
// stream): tracked for Close, not counted in Options.Activity.
func (e *Engine) goServe(f func()) bool {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		f()
	}()
	return true
}

// driverCtx bounds one driver call.
func (e *Engine) driverCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, e.opts.DriverTimeout)
}

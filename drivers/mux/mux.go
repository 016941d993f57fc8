// Package mux routes each VM's driver calls to the driver its spec names
// (drivers.Spec.Driver), so that one daemon runs VMs of several drivers: a
// runtime chosen per VM by name, as containerd's shim manager chooses one
// per container.
//
// The calls that carry the spec (Define, Spawn, Watch, Lookup) pick the
// driver by it and remember the VM's driver; the calls that do not
// (Remove, Interrupt, Terminate, KillTree, Cleanup) go to the remembered
// one. The engine always passes a VM's spec before such a call in one
// daemon's life (it defines at create, spawns or looks up before it
// signals, looks up at recovery), except for a VM recovered Stopped or
// Broken, which the daemon binds after the engine opens (Bind). A call for
// a VM with no driver known fails, naming the VM: the mux never guesses
// which driver's files or processes a call is about.
package mux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// ErrUnknownDriver is wrapped by a refusal of a spec that names no driver
// of the mux.
var ErrUnknownDriver = errors.New("unknown driver")

// ErrUnbound is returned by a call without a spec for a VM whose driver the
// mux does not know (no call with its spec, and no Bind, in this daemon).
var ErrUnbound = errors.New("no driver known for the vm")

// Mux is a [drivers.Driver] over several named drivers.
type Mux struct {
	def     string
	drivers map[string]drivers.Driver

	mu    sync.Mutex
	bound map[string]string // vm -> driver name
}

var (
	_ drivers.Driver         = (*Mux)(nil)
	_ drivers.SpecValidator  = (*Mux)(nil)
	_ drivers.OutsideFinder  = (*Mux)(nil)
	_ drivers.LogReader      = (*Mux)(nil)
	_ drivers.GraceDefaulter = (*Mux)(nil)
	_ drivers.Locator        = (*Mux)(nil)
	_ drivers.ProcReaper     = (*Mux)(nil)
)

// New returns a Mux over ds; a spec with an empty Driver goes to def, which
// must be one of ds.
func New(def string, ds map[string]drivers.Driver) (*Mux, error) {
	if _, ok := ds[def]; !ok {
		return nil, fmt.Errorf("mux: default driver %q is not one of %s", def, strings.Join(slices.Sorted(maps.Keys(ds)), ", "))
	}
	return &Mux{def: def, drivers: ds, bound: map[string]string{}}, nil
}

// Names are the drivers' names, sorted.
func (m *Mux) Names() []string { return slices.Sorted(maps.Keys(m.drivers)) }

// Name is the driver a spec names: its Driver, or the default when empty.
func (m *Mux) Name(spec drivers.Spec) string {
	if spec.Driver == "" {
		return m.def
	}
	return spec.Driver
}

// Driver returns the named driver, nil if there is none.
func (m *Mux) Driver(name string) drivers.Driver { return m.drivers[name] }

// Bind remembers that vm runs on the driver its spec names, for the calls
// that carry no spec; the daemon binds every VM once the engine opened.
// An unknown driver is refused.
func (m *Mux) Bind(vm string, spec drivers.Spec) error {
	_, err := m.pick(vm, spec)
	return err
}

// pick returns the driver spec names and remembers it as vm's.
func (m *Mux) pick(vm string, spec drivers.Spec) (drivers.Driver, error) {
	name := m.Name(spec)
	d, ok := m.drivers[name]
	if !ok {
		return nil, m.unknown(vm, name)
	}
	m.mu.Lock()
	m.bound[vm] = name
	m.mu.Unlock()
	return d, nil
}

func (m *Mux) unknown(vm, name string) error {
	return fmt.Errorf("vm %q: driver: %w %q: want one of %s", vm, ErrUnknownDriver, name, strings.Join(m.Names(), ", "))
}

// of returns vm's remembered driver.
func (m *Mux) of(vm string) (drivers.Driver, error) {
	m.mu.Lock()
	name, ok := m.bound[vm]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("vm %q: %w (the daemon passed no spec of it yet)", vm, ErrUnbound)
	}
	return m.drivers[name], nil
}

// ValidateSpec refuses a spec that names no driver of the mux, and then
// asks the named driver, when it checks specs (its section, its name
// rule). It remembers nothing: a refused create leaves no trace.
func (m *Mux) ValidateSpec(vm string, spec drivers.Spec) error {
	name := m.Name(spec)
	d, ok := m.drivers[name]
	if !ok {
		return fmt.Errorf("driver: %w %q: want one of %s", ErrUnknownDriver, name, strings.Join(m.Names(), ", "))
	}
	if v, ok := d.(drivers.SpecValidator); ok {
		return v.ValidateSpec(vm, spec)
	}
	return nil
}

// Define defines vm with the driver its spec names.
func (m *Mux) Define(ctx context.Context, vm string, spec drivers.Spec) error {
	d, err := m.pick(vm, spec)
	if err != nil {
		return err
	}
	return d.Define(ctx, vm, spec)
}

// Remove removes vm with its driver, and forgets the binding once done.
func (m *Mux) Remove(ctx context.Context, vm string) error {
	d, err := m.of(vm)
	if err != nil {
		return err
	}
	if err := d.Remove(ctx, vm); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.bound, vm)
	m.mu.Unlock()
	return nil
}

// Spawn spawns vm's agent with the driver its spec names.
func (m *Mux) Spawn(ctx context.Context, vm string, spec drivers.Spec) (drivers.Procs, error) {
	d, err := m.pick(vm, spec)
	if err != nil {
		return drivers.Procs{}, err
	}
	return d.Spawn(ctx, vm, spec)
}

// Watch watches vm's agent with the driver its spec names. A spec naming
// no driver (which ValidateSpec keeps from the log) watches nothing.
func (m *Mux) Watch(ctx context.Context, vm string, spec drivers.Spec, procs drivers.Procs, sink func(drivers.Observation)) {
	d, err := m.pick(vm, spec)
	if err != nil {
		return
	}
	d.Watch(ctx, vm, spec, procs, sink)
}

// Interrupt goes to vm's driver.
func (m *Mux) Interrupt(ctx context.Context, vm string, procs drivers.Procs) error {
	d, err := m.of(vm)
	if err != nil {
		return err
	}
	return d.Interrupt(ctx, vm, procs)
}

// Terminate goes to vm's driver.
func (m *Mux) Terminate(ctx context.Context, vm string, procs drivers.Procs) error {
	d, err := m.of(vm)
	if err != nil {
		return err
	}
	return d.Terminate(ctx, vm, procs)
}

// KillTree goes to vm's driver.
func (m *Mux) KillTree(ctx context.Context, vm string, procs drivers.Procs) error {
	d, err := m.of(vm)
	if err != nil {
		return err
	}
	return d.KillTree(ctx, vm, procs)
}

// Cleanup goes to vm's driver.
func (m *Mux) Cleanup(ctx context.Context, vm string) error {
	d, err := m.of(vm)
	if err != nil {
		return err
	}
	return d.Cleanup(ctx, vm)
}

// Lookup looks vm's agent up with the driver its spec names.
func (m *Mux) Lookup(ctx context.Context, vm string, spec drivers.Spec, procs drivers.Procs, since time.Time) (drivers.Liveness, drivers.Procs, error) {
	d, err := m.pick(vm, spec)
	if err != nil {
		return drivers.Gone, drivers.Procs{}, err
	}
	return d.Lookup(ctx, vm, spec, procs, since)
}

// AgentLog writes vm's agent log through the driver the VM runs on, when
// that driver keeps one ([drivers.LogReader]); otherwise it is
// [drivers.ErrNoLog], naming the VM and the reason.
func (m *Mux) AgentLog(ctx context.Context, vm string, opts drivers.LogOptions, w io.Writer) error {
	d, err := m.of(vm)
	if err != nil {
		return fmt.Errorf("%w: %w", drivers.ErrNoLog, err)
	}
	lr, ok := d.(drivers.LogReader)
	if !ok {
		return fmt.Errorf("vm %q: its driver keeps no agent log: %w", vm, drivers.ErrNoLog)
	}
	return lr.AgentLog(ctx, vm, opts, w)
}

// Locate names vm's files through the driver the VM runs on, when that
// driver says ([drivers.Locator]); otherwise it is an error naming the VM.
func (m *Mux) Locate(vm string) (drivers.Location, error) {
	d, err := m.of(vm)
	if err != nil {
		return drivers.Location{}, err
	}
	l, ok := d.(drivers.Locator)
	if !ok {
		return drivers.Location{}, fmt.Errorf("vm %q: its driver does not say where it keeps the VM's files", vm)
	}
	return l.Locate(vm)
}

// FindOutside asks the driver vm's spec names whether someone else started
// or deleted the VM, when that driver can tell ([drivers.OutsideFinder]);
// otherwise it finds nothing.
func (m *Mux) FindOutside(ctx context.Context, vm string, spec drivers.Spec, since time.Time) (drivers.Outside, error) {
	d, err := m.pick(vm, spec)
	if err != nil {
		return drivers.Outside{}, err
	}
	if f, ok := d.(drivers.OutsideFinder); ok {
		return f.FindOutside(ctx, vm, spec, since)
	}
	return drivers.Outside{}, nil
}

var _ drivers.Importer = (*Mux)(nil)

// importer is the default driver, when it can take over VMs made outside
// lifeline.
func (m *Mux) importer() (drivers.Importer, error) {
	im, ok := m.drivers[m.def].(drivers.Importer)
	if !ok {
		return nil, fmt.Errorf("driver %q cannot take over a VM made outside lifeline: %w", m.def, errors.ErrUnsupported)
	}
	return im, nil
}

// Instances lists the VMs the default driver finds a definition of (Lima's
// instances), when it can tell ([drivers.Importer]).
func (m *Mux) Instances(ctx context.Context) ([]string, error) {
	im, err := m.importer()
	if err != nil {
		return nil, err
	}
	return im.Instances(ctx)
}

// FindInstance reads vm through the default driver; the spec it returns
// names that driver. It binds nothing: the engine's import passes the
// spec again with every call once it is recorded.
func (m *Mux) FindInstance(ctx context.Context, vm string) (drivers.Spec, drivers.Outside, error) {
	im, err := m.importer()
	if err != nil {
		return drivers.Spec{}, drivers.Outside{}, err
	}
	spec, o, err := im.FindInstance(ctx, vm)
	if err != nil {
		return drivers.Spec{}, drivers.Outside{}, err
	}
	spec.Driver = m.def
	return spec, o, nil
}

// DefaultGracefulTimeout is the graceful timeout the driver spec names
// gives a VM whose spec sets none, when that driver has one
// ([drivers.GraceDefaulter]); otherwise 0, the engine's default.
func (m *Mux) DefaultGracefulTimeout(spec drivers.Spec) time.Duration {
	if g, ok := m.drivers[m.Name(spec)].(drivers.GraceDefaulter); ok {
		return g.DefaultGracefulTimeout(spec)
	}
	return 0
}

// ProcRuns asks the driver vm's spec names whether the recorded process p
// still runs, by identity ([drivers.ProcReaper]); a driver that cannot
// tell is an error wrapping errors.ErrUnsupported.
func (m *Mux) ProcRuns(ctx context.Context, vm string, spec drivers.Spec, p drivers.Proc) (bool, error) {
	d, err := m.pick(vm, spec)
	if err != nil {
		return false, err
	}
	r, ok := d.(drivers.ProcReaper)
	if !ok {
		return false, fmt.Errorf("vm %q: its driver cannot check a process by identity: %w", vm, errors.ErrUnsupported)
	}
	return r.ProcRuns(ctx, vm, spec, p)
}

// KillProc has the driver vm's spec names kill the recorded process p, by
// identity ([drivers.ProcReaper]); a driver that cannot is an error
// wrapping errors.ErrUnsupported.
func (m *Mux) KillProc(ctx context.Context, vm string, spec drivers.Spec, p drivers.Proc) error {
	d, err := m.pick(vm, spec)
	if err != nil {
		return err
	}
	r, ok := d.(drivers.ProcReaper)
	if !ok {
		return fmt.Errorf("vm %q: its driver cannot kill a process by identity: %w", vm, errors.ErrUnsupported)
	}
	return r.KillProc(ctx, vm, spec, p)
}

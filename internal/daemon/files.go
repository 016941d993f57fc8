package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// VMFiles makes and removes a VM's files that live outside the driver's
// own directories, such as the blank disk a default spec boots from, kept
// in the data dir.
//
// The daemon calls both through the driver, so under the VM's lock and in
// the engine's order: Make just before each Define (after the create or
// update record is durable, and before each spawn), Remove just after the
// driver's Remove (after the delete record, before the name can be created
// again). So a create that was not recorded leaves nothing behind, and a
// delete's cleanup never reaches the files of a later VM of the same name.
// Make must leave files that exist alone.
type VMFiles interface {
	Make(vm string, spec drivers.Spec) error
	Remove(vm string) error
}

// filesDriver is a driver that also makes and removes a VM's [VMFiles].
type filesDriver struct {
	drivers.Driver
	files VMFiles
}

func withFiles(d drivers.Driver, f VMFiles) drivers.Driver {
	if f == nil {
		return d
	}
	return &filesDriver{Driver: d, files: f}
}

func (d *filesDriver) Define(ctx context.Context, vm string, spec drivers.Spec) error {
	if err := d.files.Make(vm, spec); err != nil {
		return fmt.Errorf("vm %q: make its files: %w", vm, err)
	}
	return d.Driver.Define(ctx, vm, spec)
}

func (d *filesDriver) Remove(ctx context.Context, vm string) error {
	if err := d.Driver.Remove(ctx, vm); err != nil {
		return err
	}
	if err := d.files.Remove(vm); err != nil {
		return fmt.Errorf("vm %q: remove its files: %w", vm, err)
	}
	return nil
}

// ValidateSpec forwards to the wrapped driver's [drivers.SpecValidator], so
// that wrapping a driver never turns its own checks off.
func (d *filesDriver) ValidateSpec(vm string, spec drivers.Spec) error {
	if v, ok := d.Driver.(drivers.SpecValidator); ok {
		return v.ValidateSpec(vm, spec)
	}
	return nil
}

// FindOutside forwards to the wrapped driver's [drivers.OutsideFinder] (a
// limactl start or delete of a Stopped VM); a driver without one finds
// nothing.
func (d *filesDriver) FindOutside(ctx context.Context, vm string, spec drivers.Spec, since time.Time) (drivers.Outside, error) {
	if f, ok := d.Driver.(drivers.OutsideFinder); ok {
		return f.FindOutside(ctx, vm, spec, since)
	}
	return drivers.Outside{}, nil
}

// AgentLog forwards to the wrapped driver's [drivers.LogReader]; a driver
// without one keeps no log.
func (d *filesDriver) AgentLog(ctx context.Context, vm string, opts drivers.LogOptions, w io.Writer) error {
	if lr, ok := d.Driver.(drivers.LogReader); ok {
		return lr.AgentLog(ctx, vm, opts, w)
	}
	return fmt.Errorf("vm %q: its driver keeps no agent log: %w", vm, drivers.ErrNoLog)
}

// Locate forwards to the wrapped driver's [drivers.Locator]; a driver
// without one does not say where the VM's files are.
func (d *filesDriver) Locate(vm string) (drivers.Location, error) {
	if l, ok := d.Driver.(drivers.Locator); ok {
		return l.Locate(vm)
	}
	return drivers.Location{}, fmt.Errorf("vm %q: its driver does not say where it keeps the VM's files", vm)
}

// DefaultGracefulTimeout forwards to the wrapped driver's
// [drivers.GraceDefaulter] (Lima's longer default); 0 without one.
func (d *filesDriver) DefaultGracefulTimeout(spec drivers.Spec) time.Duration {
	if g, ok := d.Driver.(drivers.GraceDefaulter); ok {
		return g.DefaultGracefulTimeout(spec)
	}
	return 0
}

// specBinder is a driver that routes each VM's calls by its spec
// (drivers/mux.Mux) and must learn the driver of a VM the engine recovered
// without calling the driver.
type specBinder interface {
	Bind(vm string, spec drivers.Spec) error
}

// Instances and FindInstance forward to the wrapped driver's
// [drivers.Importer] (lifeline import); a driver without one cannot
// import.
func (d *filesDriver) Instances(ctx context.Context) ([]string, error) {
	if im, ok := d.Driver.(drivers.Importer); ok {
		return im.Instances(ctx)
	}
	return nil, fmt.Errorf("the driver cannot take over a VM made outside lifeline: %w", errors.ErrUnsupported)
}

func (d *filesDriver) FindInstance(ctx context.Context, vm string) (drivers.Spec, drivers.Outside, error) {
	if im, ok := d.Driver.(drivers.Importer); ok {
		return im.FindInstance(ctx, vm)
	}
	return drivers.Spec{}, drivers.Outside{}, fmt.Errorf("vm %q: the driver cannot take over a VM made outside lifeline: %w", vm, errors.ErrUnsupported)
}

// ProcRuns and KillProc forward to the wrapped driver's
// [drivers.ProcReaper] (recovery's reap of a crashed VM's left-over QEMU);
// a driver without one cannot tell, an error wrapping
// errors.ErrUnsupported.
func (d *filesDriver) ProcRuns(ctx context.Context, vm string, spec drivers.Spec, p drivers.Proc) (bool, error) {
	if r, ok := d.Driver.(drivers.ProcReaper); ok {
		return r.ProcRuns(ctx, vm, spec, p)
	}
	return false, fmt.Errorf("vm %q: its driver cannot check a process by identity: %w", vm, errors.ErrUnsupported)
}

func (d *filesDriver) KillProc(ctx context.Context, vm string, spec drivers.Spec, p drivers.Proc) error {
	if r, ok := d.Driver.(drivers.ProcReaper); ok {
		return r.KillProc(ctx, vm, spec, p)
	}
	return fmt.Errorf("vm %q: its driver cannot kill a process by identity: %w", vm, errors.ErrUnsupported)
}

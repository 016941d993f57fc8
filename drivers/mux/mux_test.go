package mux_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/conformance"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/drivers/mux"
)

func newMux(t *testing.T, def string, ds map[string]drivers.Driver) *mux.Mux {
	t.Helper()
	m, err := mux.New(def, ds)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A mux passes the driver contract's suite for the driver a spec names,
// and never calls the other one.
func TestConformanceThroughTheMux(t *testing.T) {
	conformance.Run(t, func(t *testing.T) conformance.Setup {
		d, decoy := drivertest.New(), drivertest.New()
		t.Cleanup(func() {
			if calls := decoy.Calls(); len(calls) > 0 {
				t.Errorf("the mux called the driver no spec named: %v", calls)
			}
		})
		return conformance.Setup{
			Driver: newMux(t, "decoy", map[string]drivers.Driver{"scripted": d, "decoy": decoy}),
			Spec: func(vm string, a conformance.Agent) drivers.Spec {
				switch a {
				case conformance.IgnoresInterrupt:
					d.Script(vm, drivertest.Behavior{IgnoreInterrupt: true})
				case conformance.IgnoresBoth:
					d.Script(vm, drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: true})
				}
				return drivers.Spec{Driver: "scripted"}
			},
		}
	})
}

// Each VM's calls go to the driver its spec names, the empty name to the
// default; the calls without a spec to the driver the VM's spec named.
func TestRoutesEachVMByItsSpec(t *testing.T) {
	ctx := context.Background()
	lima, command := drivertest.New(), drivertest.New()
	m := newMux(t, "lima", map[string]drivers.Driver{"lima": lima, "command": command})
	for vm, spec := range map[string]drivers.Spec{"old": {}, "vm": {Driver: "lima"}, "web": {Driver: "command"}} {
		if err := m.Define(ctx, vm, spec); err != nil {
			t.Fatal(err)
		}
		procs, err := m.Spawn(ctx, vm, spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.KillTree(ctx, vm, procs); err != nil {
			t.Fatal(err)
		}
		if err := m.Remove(ctx, vm); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		d   *drivertest.Driver
		vm  string
		ops int
	}{{lima, "old", 4}, {lima, "vm", 4}, {command, "web", 4}, {lima, "web", 0}, {command, "vm", 0}, {command, "old", 0}} {
		if got := c.d.CallsFor(c.vm); len(got) != c.ops {
			t.Errorf("%s: calls %v, want %d", c.vm, got, c.ops)
		}
	}
}

// A spec naming no driver of the mux is refused by ValidateSpec, naming
// the field, and a call without a spec for a VM whose driver is unknown
// fails, naming the VM, rather than guessing.
func TestRefusesUnknownAndUnbound(t *testing.T) {
	ctx := context.Background()
	m := newMux(t, "lima", map[string]drivers.Driver{"lima": drivertest.New(), "command": drivertest.New()})
	err := m.ValidateSpec("vm1", drivers.Spec{Driver: "qemu"})
	if !errors.Is(err, mux.ErrUnknownDriver) || !strings.HasPrefix(err.Error(), "driver: ") || !strings.Contains(err.Error(), "command, lima") {
		t.Errorf("ValidateSpec(driver qemu) = %v, want a driver error listing the drivers", err)
	}
	if err := m.Bind("vm1", drivers.Spec{Driver: "qemu"}); !errors.Is(err, mux.ErrUnknownDriver) {
		t.Errorf("Bind(driver qemu) = %v", err)
	}
	if err := m.KillTree(ctx, "vm1", drivers.Procs{}); !errors.Is(err, mux.ErrUnbound) || !strings.Contains(err.Error(), `"vm1"`) {
		t.Errorf("KillTree of an unbound vm = %v, want ErrUnbound naming it", err)
	}
	if err := m.Bind("vm1", drivers.Spec{Driver: "command"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Cleanup(ctx, "vm1"); err != nil {
		t.Errorf("Cleanup of a bound vm: %v", err)
	}
	if _, err := mux.New("qemu", map[string]drivers.Driver{"lima": drivertest.New()}); err == nil {
		t.Error("New with an unknown default: no error")
	}
}

// logging is a driver that keeps an agent log.
type logging struct{ *drivertest.Driver }

func (logging) AgentLog(_ context.Context, vm string, _ drivers.LogOptions, w io.Writer) error {
	_, err := io.WriteString(w, "log of "+vm)
	return err
}

// The daemon serves `lifeline logs` through the mux: a VM's log comes from
// the driver it runs on, and a VM whose driver keeps none is ErrNoLog.
func TestAgentLogThroughTheMux(t *testing.T) {
	ctx := context.Background()
	m := newMux(t, "lima", map[string]drivers.Driver{"lima": logging{drivertest.New()}, "command": drivertest.New()})
	var _ drivers.LogReader = m
	if err := m.Define(ctx, "vm1", drivers.Spec{Driver: "lima"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Define(ctx, "web", drivers.Spec{Driver: "command"}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := m.AgentLog(ctx, "vm1", drivers.LogOptions{}, &b); err != nil || b.String() != "log of vm1" {
		t.Fatalf("vm1's log: %q, %v", b.String(), err)
	}
	for _, vm := range []string{"web", "nosuch"} {
		if err := m.AgentLog(ctx, vm, drivers.LogOptions{}, &b); !errors.Is(err, drivers.ErrNoLog) || !strings.Contains(err.Error(), vm) {
			t.Errorf("%s's log: %v, want ErrNoLog naming it", vm, err)
		}
	}
}

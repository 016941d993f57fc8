package drivertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
)

// Revive brings back the agent the model killed, with its identity (a
// look-up by it finds it alive), and only that one, only once.
func TestReviveBringsBackTheKilledAgent(t *testing.T) {
	ctx := context.Background()
	d := drivertest.New()
	procs := d.Start("vm1", false)
	if err := d.KillTree(ctx, "vm1", procs); err != nil {
		t.Fatal(err)
	}
	if live, _, _ := d.Lookup(ctx, "vm1", drivers.Spec{}, procs, time.Time{}); live != drivers.Gone {
		t.Fatalf("after KillTree: lookup says %v, want gone", live)
	}
	if d.Revive("vm2", procs.Agent) {
		t.Fatal("Revive of another VM's agent: true")
	}
	other := procs.Agent
	other.StartTime++
	if d.Revive("vm1", other) {
		t.Fatal("Revive of another identity: true")
	}
	if !d.Revive("vm1", procs.Agent) {
		t.Fatal("Revive of the killed agent: false")
	}
	live, found, err := d.Lookup(ctx, "vm1", drivers.Spec{}, procs, time.Time{})
	if err != nil || live == drivers.Gone || found.Agent != procs.Agent {
		t.Fatalf("after Revive: lookup %v %+v %v, want the agent alive", live, found, err)
	}
	if d.Revive("vm1", procs.Agent) {
		t.Fatal("Revive of a live agent: true")
	}
}

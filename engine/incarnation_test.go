package engine

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/lifeline-vm/lifeline/drivers/drivertest"
)

// TestCreateDuringDeleteIsRefused is issue 9 item 8 at the engine: while a
// delete's driver Remove runs, the name is still taken, so a create of it
// is refused (exists) instead of making a VM whose files the running
// Remove would take; once the delete returned, the name is free. Get does
// not show the VM whose delete is durable.
func TestCreateDuringDeleteIsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		var createErr, getErr error
		h.drv.OnCall(func(c drivertest.Call) {
			if c.Op == "Remove" && c.VM == "vm1" {
				_, createErr = h.e.Create(bg, "vm1", specOf())
				_, getErr = h.e.Get("vm1")
			}
		})
		h.ok(h.e.Delete(bg, "vm1"))
		h.drv.OnCall(nil)
		if !errors.Is(createErr, ErrExists) {
			t.Errorf("create while the delete removes the files: %v, want %v", createErr, ErrExists)
		}
		if !errors.Is(getErr, ErrNotFound) {
			t.Errorf("get while the delete removes the files: %v, want %v", getErr, ErrNotFound)
		}
		h.ok(h.e.Create(bg, "vm1", specOf()))
		h.wantEvents("vm1", "create:Stopped", "delete:Absent", "create:Stopped")
		if n := h.drv.Count("vm1", "Remove"); n != 1 {
			t.Errorf("%d removes", n)
		}
	})
}

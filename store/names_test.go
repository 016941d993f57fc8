package store_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// TestVMProcessKeepsItsJSONName: the VM process was the Go field Driver
// (of Record, Head, drivers.Procs) and the cause's DriverPID; renamed in
// Go so that "driver" means the driver a VM runs on, their JSON names stay
// what earlier versions wrote ("driver", "driverPID").
func TestVMProcessKeepsItsJSONName(t *testing.T) {
	r := store.Record{VM: "vm1", Event: states.Adopted, From: states.Stopped, To: states.Running, VMProcess: store.Proc{PID: 7, StartTime: 8, Group: 7},
		Cause: store.Cause{Kind: store.CauseStartedOutside, VMProcessPID: 7}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"driver":{"pid":7,"startTime":8,"group":7}`, `"driverPID":7`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("record JSON %s lacks %s", b, want)
		}
	}
}

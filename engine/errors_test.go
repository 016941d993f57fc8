package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// TestRejectedErrorCarriesItsEvent: a rejection holds the event itself, and
// the table's error it wraps names the same event, for every event (no
// command string parsed back, which lost any name it did not know).
func TestRejectedErrorCarriesItsEvent(t *testing.T) {
	for _, ev := range states.AllEvents() {
		var err error = &RejectedError{VM: "vm1", State: states.Stopped, Event: ev}
		var ite *states.InvalidTransitionError
		if !errors.As(err, &ite) {
			t.Fatalf("%s: %v does not wrap the table's error", ev, err)
		}
		if ite.Event != ev || ite.VM != "vm1" || ite.From != states.Stopped {
			t.Errorf("%s: unwraps to %+v", ev, *ite)
		}
		if !strings.Contains(err.Error(), ev.String()+" rejected") {
			t.Errorf("%s: message %q does not name the event", ev, err)
		}
	}
}

// TestOneProcType: what a driver reports is what the store records, one
// type (identity.Proc) under both names, so the engine hands it on with no
// conversion (there were DriverProc and StoreProc).
func TestOneProcType(t *testing.T) {
	if d, s := reflect.TypeFor[drivers.Proc](), reflect.TypeFor[store.Proc](); d != s {
		t.Fatalf("drivers.Proc is %v, store.Proc is %v: want one type", d, s)
	}
}

package mux_test

import (
	"reflect"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/mux"
)

// TestMuxForwardsEveryOptionalInterface: the mux stands between the engine
// and the drivers, so an optional interface it does not implement is one
// the engine never sees on any driver (an OutsideFinder, a SpecValidator,
// Lima's longer default grace). drivers.Optional is the list; a test of
// the module keeps it complete.
func TestMuxForwardsEveryOptionalInterface(t *testing.T) {
	mt := reflect.TypeFor[*mux.Mux]()
	for _, o := range drivers.Optional {
		it := reflect.TypeOf(o).Elem()
		if !mt.Implements(it) {
			t.Errorf("*mux.Mux does not implement %v: it hides its drivers' %s", it, it.Name())
		}
	}
}

package daemon

import (
	"reflect"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
)

// TestFilesDriverForwardsEveryOptionalInterface: the daemon hands the
// engine its driver wrapped in filesDriver; an optional interface the
// wrapper does not implement is one the engine never sees (it hid Lima's
// OutsideFinder once). drivers.Optional is the list; a test of the module
// keeps it complete.
func TestFilesDriverForwardsEveryOptionalInterface(t *testing.T) {
	ft := reflect.TypeFor[*filesDriver]()
	for _, o := range drivers.Optional {
		it := reflect.TypeOf(o).Elem()
		if !ft.Implements(it) {
			t.Errorf("*filesDriver does not implement %v: it hides the wrapped driver's %s", it, it.Name())
		}
	}
}

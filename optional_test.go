package lifeline_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
)

// TestOptionalDriverInterfacesListed: every interface of package drivers
// that the engine, the server or the daemon type-asserts on a driver is in
// drivers.Optional, the list the wrappers' tests (drivers/mux,
// internal/daemon's filesDriver) check they forward. A new optional
// interface asserted without being listed would be hidden by a wrapper with
// no test failing.
func TestOptionalDriverInterfacesListed(t *testing.T) {
	var listed []string
	for _, o := range drivers.Optional {
		listed = append(listed, reflect.TypeOf(o).Elem().Name())
	}
	assert := regexp.MustCompile(`\.\(drivers\.(\w+)\)`)
	found := 0
	for _, dir := range []string{"engine", "server", "internal/daemon", "drivers/mux"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range assert.FindAllSubmatch(b, -1) {
				found++
				if name := string(m[1]); name != "Driver" && !slices.Contains(listed, name) {
					t.Errorf("%s asserts drivers.%s, which drivers.Optional does not list", f, name)
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("found no type assertion on a driver: the scan is broken")
	}
}

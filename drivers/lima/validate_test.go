package lima

import (
	"errors"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
)

// Lima's name rule is the Lima driver's own check now that the engine
// keeps only the generic rule: names the engine accepts but Lima's
// pkg/identifiers refuses are refused here, naming the field.
func TestValidateSpecKeepsLimasNameRule(t *testing.T) {
	d, err := New(Options{LimaHome: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	spec := drivers.Spec{Template: []byte("vmType: qemu\n")}
	for _, bad := range []string{"a..b", "web_", "x--y", "a.yaml"} {
		err := d.ValidateSpec(bad, spec)
		if !errors.Is(err, ErrBadSpec) || !strings.HasPrefix(err.Error(), "name: ") {
			t.Errorf("ValidateSpec(%q) = %v, want a name error wrapping ErrBadSpec", bad, err)
		}
	}
	if err := d.ValidateSpec("a.b-c_d", spec); err != nil {
		t.Errorf("ValidateSpec(a.b-c_d) = %v, want nil", err)
	}
}

// A command is the command driver's section: a lima spec with one is
// refused, not silently ignored.
func TestValidateSpecRefusesACommand(t *testing.T) {
	d, err := New(Options{LimaHome: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	err = d.ValidateSpec("vm1", drivers.Spec{Template: []byte("vmType: qemu\n"), Command: []string{"sleep", "600"}})
	if !errors.Is(err, ErrBadSpec) || !strings.HasPrefix(err.Error(), "command: ") {
		t.Errorf("ValidateSpec with a command = %v, want a command error wrapping ErrBadSpec", err)
	}
}

package process

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
)

// A driver with no Command of its own (the daemon's "command" driver) runs
// each VM's spec.Command, with the spec's environment.
func TestSpawnRunsTheSpecsCommand(t *testing.T) {
	ctx := context.Background()
	d := NewDriver(filepath.Join(tempDir(t), "run"))
	d.Env = append(os.Environ(), envMode+"=echo-env", envArg+"=GREETING")
	spec := drivers.Spec{Driver: "command", Command: []string{exe()}, Env: map[string]string{"GREETING": "from the spec"}}
	if err := d.ValidateSpec("web", spec); err != nil {
		t.Fatal(err)
	}
	procs, err := d.Spawn(ctx, "web", spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.KillTree(ctx, "web", procs) })
	dir, _ := d.RunDir("web")
	eventually(t, "the spec's command's output in "+StdoutFile, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, StdoutFile))
		return string(b) == "GREETING=from the spec\n"
	})
	if err := d.KillTree(ctx, "web", procs); err != nil {
		t.Fatal(err)
	}
}

// ValidateSpec refuses, naming the field, every spec Spawn could not run
// or that belongs to another driver.
func TestValidateSpecOfACommand(t *testing.T) {
	d := NewDriver(tempDir(t))
	for _, c := range []struct {
		name, vm string
		spec     drivers.Spec
		field    string
	}{
		{"no command", "web", drivers.Spec{}, "command"},
		{"empty program", "web", drivers.Spec{Command: []string{"", "x"}}, "command"},
		{"NUL in an argument", "web", drivers.Spec{Command: []string{"sleep", "6\x000"}}, "command"},
		{"a template", "web", drivers.Spec{Command: []string{"sleep", "600"}, Template: []byte("vmType: qemu\n")}, "template"},
		{"ready guest", "web", drivers.Spec{Command: []string{"sleep", "600"}, Ready: "guest"}, "ready"},
		{"a path as name", "a/b", drivers.Spec{Command: []string{"sleep", "600"}}, "name"},
	} {
		err := d.ValidateSpec(c.vm, c.spec)
		if !errors.Is(err, ErrBadSpec) || !strings.HasPrefix(err.Error(), c.field+": ") {
			t.Errorf("%s: ValidateSpec = %v, want a %s error wrapping ErrBadSpec", c.name, err, c.field)
		}
	}
	if err := d.ValidateSpec("web", drivers.Spec{Command: []string{"sleep", "600"}, Ready: "agent"}); err != nil {
		t.Errorf("a plain command: %v", err)
	}
}

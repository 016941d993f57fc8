package lima

import (
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/goccy/go-yaml"
	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
)

var _ drivers.SpecValidator = (*Driver)(nil)

// TemplateValidator checks a template against Lima's schema the way
// `limactl create` does (limayaml.Load and limayaml.Validate); package
// limaprep has one. vm is the instance the template is for.
type TemplateValidator func(vm string, template []byte) error

// ValidateSpec is the driver's check of a spec before the engine records
// it, so that no spec is recorded that Define or Spawn would refuse later:
//
//   - name: Lima's instance name rule (pkg/identifiers: runs of ASCII
//     letters and digits joined by single '.', '_' or '-', at most 76
//     characters, no .yaml suffix), narrower than the engine's, and whose
//     longest socket path
//     (<LimaHome>/<name>/ssh.sock.1234567890123456) fits UNIX_PATH_MAX
//     (Lima's own check, which otherwise fails every start);
//   - template: not empty, one YAML document that is a mapping, and, when
//     Options.ValidateTemplate is set, valid for Lima's schema;
//   - ready: "guest" or "agent" (or empty);
//   - env: no LIMA_HOME other than the driver's;
//   - command: empty (the agent is Lima's host agent; a command is the
//     command driver's section).
//
// Each error wraps ErrBadSpec and starts with the field's name.
func (d *Driver) ValidateSpec(vm string, spec drivers.Spec) error {
	if err := d.checkPaths(vm); err != nil {
		return err
	}
	if err := checkSpec(spec); err != nil {
		return err
	}
	if len(spec.Command) > 0 {
		return fmt.Errorf("command: %w: a lima VM runs Lima's host agent, not a command (use the command driver to supervise a program)", ErrBadSpec)
	}
	if v, ok := spec.Env[EnvLimaHome]; ok && v != d.home {
		return fmt.Errorf("env: %w: %s=%q, but the driver's is %q", ErrBadSpec, EnvLimaHome, v, d.home)
	}
	if err := checkTemplateYAML(spec.Template); err != nil {
		return err
	}
	if d.validateTemplate != nil {
		if err := d.validateTemplate(vm, spec.Template); err != nil {
			return fmt.Errorf("template: %w: Lima refuses it: %w", ErrBadSpec, err)
		}
	}
	return nil
}

// unixPathMax is Lima's osutil.UnixPathMax, the UNIX_PATH_MAX Lima checks
// socket paths against: 108 on Linux and Windows, 104 elsewhere. Kept here
// rather than imported: package osutil reads the user database at init,
// ~0.3 ms of every lifeline command (TestUnixPathMaxIsLimas keeps the two
// equal).
func unixPathMax() int {
	if runtime.GOOS == "linux" || runtime.GOOS == "windows" {
		return 108
	}
	return 104
}

// checkPaths refuses a name whose instance directory Lima cannot use.
func (d *Driver) checkPaths(vm string) error {
	dir, err := d.InstanceDir(vm)
	if err != nil {
		return fmt.Errorf("name: %w: %w", ErrBadSpec, err)
	}
	// Lima's check: the longest socket path must fit UNIX_PATH_MAX.
	if longest := filepath.Join(dir, filenames.LongestSock); len(longest) >= unixPathMax() {
		return fmt.Errorf("name: %w: instance directory %q too long: %q must be shorter than %d characters (use a shorter name or LIMA_HOME)",
			ErrBadSpec, dir, longest, unixPathMax())
	}
	return nil
}

// checkTemplateYAML refuses a template that is not one YAML mapping.
func checkTemplateYAML(b []byte) error {
	var m map[string]any
	if err := yaml.UnmarshalWithOptions(b, &m, yaml.Strict()); err != nil {
		return fmt.Errorf("template: %w: not a YAML mapping: %w", ErrBadSpec, err)
	}
	if m == nil {
		return fmt.Errorf("template: %w: not a YAML mapping: empty document", ErrBadSpec)
	}
	return nil
}

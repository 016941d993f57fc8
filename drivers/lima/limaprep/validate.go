package limaprep

import (
	"fmt"
	"path"

	"github.com/lima-vm/lima/pkg/limayaml"
	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers/lima"
)

var _ lima.TemplateValidator = ValidateTemplate

// ValidateTemplate checks a template the way `limactl create` does: Lima's
// loader (defaults, default.yaml and override.yaml of the process's
// LIMA_HOME merged in), then limayaml.Validate. It reads no instance
// directory and writes nothing; it is a lima.TemplateValidator.
func ValidateTemplate(vm string, template []byte) error {
	name := path.Join(vm, filenames.LimaYAML)
	y, err := limayaml.Load(template, name)
	if err != nil {
		return fmt.Errorf("load %s: %w", name, err)
	}
	if err := limayaml.Validate(y, false); err != nil {
		return fmt.Errorf("validate %s: %w", name, err)
	}
	return nil
}

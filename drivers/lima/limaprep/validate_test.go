package limaprep_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/lima/limaprep"
)

// Lima's own schema check: lifeline's default template and a minimal one
// pass; a vmType or arch Lima does not know is refused, naming the field.
func TestValidateTemplate(t *testing.T) {
	t.Setenv("LIMA_HOME", t.TempDir())
	def, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: filepath.Join(t.TempDir(), "blank.raw")})
	if err != nil {
		t.Fatal(err)
	}
	for _, good := range [][]byte{def, []byte("vmType: qemu\nimages:\n- location: /nonexistent.img\n")} {
		if err := limaprep.ValidateTemplate("vm1", good); err != nil {
			t.Errorf("ValidateTemplate(%q) = %v, want nil", good, err)
		}
	}
	for tmpl, want := range map[string]string{
		"vmType: bogus\nimages:\n- location: /x.img\n": "vmType",
		"arch: pdp11\nimages:\n- location: /x.img\n":   "arch",
		"vmType: qemu\n": "images",
		"cpus: [1]\n":    "cpus",
	} {
		err := limaprep.ValidateTemplate("vm1", []byte(tmpl))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateTemplate(%q) = %v, want an error naming %s", tmpl, err, want)
		}
	}
}

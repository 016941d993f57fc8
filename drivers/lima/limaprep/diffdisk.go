package limaprep

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/docker/go-units"
	"github.com/lima-vm/lima/pkg/iso9660util"
	"github.com/lima-vm/lima/pkg/limayaml"
	"github.com/lima-vm/lima/pkg/qemuimgutil"
	"github.com/lima-vm/lima/pkg/store/filenames"
)

// ensureDiffDisk makes the instance's diff disk on top of its base disk
// with qemu-img, unless it exists: Lima's qemu.EnsureDisk
// (pkg/driver/qemu/qemu.go, v1.2.3), step for step. It is kept here rather
// than imported because Lima's qemu package pulls in its user-mode network
// stack (gvisor, gopacket), whose package initialisation alone costs every
// lifeline command about 10 ms (issue 12 item 19).
func ensureDiffDisk(dir string, y *limayaml.LimaYAML) error {
	diffDisk := filepath.Join(dir, filenames.DiffDisk)
	if _, err := os.Stat(diffDisk); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	baseDisk := filepath.Join(dir, filenames.BaseDisk)
	diskSize, _ := units.RAMInBytes(*y.Disk)
	if diskSize == 0 {
		return nil
	}
	isISO, err := iso9660util.IsISO9660(baseDisk)
	if err != nil {
		return err
	}
	info, err := qemuimgutil.GetInfo(baseDisk)
	if err != nil {
		return fmt.Errorf("failed to get the information of base disk %q: %w", baseDisk, err)
	}
	if err := qemuimgutil.AcceptableAsBaseDisk(info); err != nil {
		return fmt.Errorf("file %q is not acceptable as the base disk: %w", baseDisk, err)
	}
	if info.Format == "" {
		return fmt.Errorf("failed to inspect the format of %q", baseDisk)
	}
	args := []string{"create", "-f", "qcow2"}
	if !isISO {
		args = append(args, "-F", info.Format, "-b", baseDisk)
	}
	args = append(args, diffDisk, strconv.Itoa(int(diskSize)))
	cmd := exec.Command("qemu-img", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("failed to run %v: %q: %w", cmd.Args, string(out), err)
	}
	return nil
}

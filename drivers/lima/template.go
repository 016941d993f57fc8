package lima

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/lifeline-vm/lifeline/internal/atomicfile"
)

// BlankDiskSize is the default size of the blank image CreateBlankDisk
// makes: a sparse raw file, so it costs no space until written.
const BlankDiskSize = 64 << 20

// TemplateOptions shape [DefaultTemplate]. Disk is required.
type TemplateOptions struct {
	// Disk is the absolute path of the local image the instance boots
	// from (images[0].location); see CreateBlankDisk.
	Disk string
	// VMType is Lima's vmType; default "qemu".
	VMType string
	// Arch is Lima's arch ("x86_64", "aarch64"); default the host's.
	Arch string
	// CPUType sets cpuType for Arch; empty: DefaultCPUType for a qemu
	// vmType, nothing (Lima's default) for another.
	CPUType string
	// CPUs, Memory and DiskSize: defaults 1, "512MiB" and "2GiB".
	CPUs     int
	Memory   string
	DiskSize string
}

// DefaultTemplate returns a minimal Lima template (lima.yaml) for an
// instance that boots a local image: by default the blank disk of
// CreateBlankDisk, so that creating and starting it never needs the
// network. A blank disk boots no guest: the host agent and QEMU run,
// GET /v1/info answers, but `"running": true` never comes, so such a VM
// needs spec.Ready "agent". No mounts, no containerd, no port for SSH
// chosen in advance, no host keys copied in.
func DefaultTemplate(o TemplateOptions) ([]byte, error) {
	if o.Disk == "" || !filepath.IsAbs(o.Disk) {
		return nil, fmt.Errorf("lima: template: disk %q: want an absolute path", o.Disk)
	}
	if o.VMType == "" {
		o.VMType = "qemu"
	}
	if o.Arch == "" {
		o.Arch = HostArch()
	}
	if o.CPUType == "" && o.VMType == "qemu" {
		o.CPUType = DefaultCPUType(o.Arch)
	}
	if o.CPUs <= 0 {
		o.CPUs = 1
	}
	if o.Memory == "" {
		o.Memory = "512MiB"
	}
	if o.DiskSize == "" {
		o.DiskSize = "2GiB"
	}
	q := strconv.Quote
	var b bytes.Buffer
	fmt.Fprintf(&b, "# A minimal Lima instance made by lifeline: a local image, no network needed.\n")
	fmt.Fprintf(&b, "vmType: %s\n", q(o.VMType))
	fmt.Fprintf(&b, "arch: %s\n", q(o.Arch))
	fmt.Fprintf(&b, "cpus: %d\n", o.CPUs)
	fmt.Fprintf(&b, "memory: %s\n", q(o.Memory))
	fmt.Fprintf(&b, "disk: %s\n", q(o.DiskSize))
	if o.CPUType != "" {
		fmt.Fprintf(&b, "cpuType:\n  %s: %s\n", q(o.Arch), q(o.CPUType))
	}
	fmt.Fprintf(&b, "images:\n- location: %s\n  arch: %s\n", q(o.Disk), q(o.Arch))
	b.WriteString("mounts: []\n")
	b.WriteString("containerd:\n  system: false\n  user: false\n")
	b.WriteString("ssh:\n  localPort: 0\n  loadDotSSHPubKeys: false\n")
	return b.Bytes(), nil
}

// DefaultCPUType is the cpuType DefaultTemplate sets for arch under QEMU:
// one QEMU accepts with KVM and without it. Lima's own default is "host"
// wherever /dev/kvm exists, and QEMU exits at once with it where KVM is
// not usable (no permission on /dev/kvm, nested virtualisation refused),
// which the user sees only as "exit status 1" in the host agent's log.
// "max" is every feature the accelerator offers, the host's under KVM;
// on Windows x86_64 it is "qemu64", as in Lima's defaults (QEMU's "max"
// is not reliable there).
func DefaultCPUType(arch string) string {
	if arch == "x86_64" && runtime.GOOS == "windows" {
		return "qemu64"
	}
	return "max"
}

// HostArch is the host's architecture in Lima's words (limayaml.NewArch).
func HostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "arm":
		return "armv7l"
	case "ppc64le":
		return "ppc64le"
	case "riscv64":
		return "riscv64"
	case "s390x":
		return "s390x"
	}
	return runtime.GOARCH
}

// CreateBlankDisk makes a blank raw image of size bytes (BlankDiskSize
// when size is 0) at path, sparse where the file system allows, so that a
// template can boot from it without downloading anything. An existing file
// of at least that size is left alone.
func CreateBlankDisk(path string, size int64) error {
	if size <= 0 {
		size = BlankDiskSize
	}
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() || fi.Size() < size {
			return fmt.Errorf("lima: blank disk %s: exists, %d bytes, not a regular file of %d", path, fi.Size(), size)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lima: blank disk: %w", err)
	}
	if err := atomicfile.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("lima: blank disk: %w", err)
	}
	if err := atomicfile.Write(path, 0o644, func(f *os.File) error { return f.Truncate(size) }); err != nil {
		return fmt.Errorf("lima: blank disk: %w", err)
	}
	return nil
}

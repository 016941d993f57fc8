// Package limaprep prepares a Lima instance for a real `limactl hostagent`:
// what Lima 1.2.3's instance.Prepare does inside `limactl start`, built on
// Lima's own packages. [Prepare] is a lima.PrepareFunc.
//
// It is a package of its own because it links Lima's pkg/limayaml, whose
// package initialisation panics when $HOME is unset (os.UserHomeDir through
// must.Must): every program that links it dies at start without $HOME,
// whatever it was asked to do. limaprep therefore imports internal/homeenv,
// which initialises first and, only when $HOME is unset, sets it to the
// user's home directory from the user database. agent-sim needs none of
// this package.
//
// # Caveats
//
//   - Lima's packages find LIMA_HOME in the process environment (for
//     _config/default.yaml and override.yaml); Prepare refuses when it
//     differs from the driver's LimaHome.
//   - They log through logrus's global logger, as limactl does; downloads
//     of remote images show Lima's progress output on stderr.
//   - Only vmType qemu is prepared (the vz and wsl2 drivers have their own
//     steps); others give an error wrapping errors.ErrUnsupported.
package limaprep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/docker/go-units"
	"github.com/lima-vm/go-qcow2reader"
	"github.com/lima-vm/lima/pkg/downloader"
	"github.com/lima-vm/lima/pkg/fileutils"
	"github.com/lima-vm/lima/pkg/imgutil/proxyimgutil"
	"github.com/lima-vm/lima/pkg/limayaml"
	"github.com/lima-vm/lima/pkg/store/dirnames"
	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers/lima"
	// Before pkg/limayaml's initialisation, which panics without $HOME.
	_ "github.com/lifeline-vm/lifeline/drivers/lima/limaprep/internal/homeenv"
)

var _ lima.PrepareFunc = Prepare

// Prepare loads and validates the instance's lima.yaml with Lima's loader
// (defaults, default.yaml and override.yaml merged in), and then, like
// instance.Prepare:
//
//  1. makes the base disk from the first image for the instance's arch
//     (download or copy; kernel, kernel.cmdline and initrd too), unless it
//     exists;
//  2. makes the diff disk on top of it with qemu-img (qemu.EnsureDisk), and
//     grows it when lima.yaml's disk grew;
//  3. finds the guest agent binary next to the host agent's program (Lima's
//     usrlocalsharelima looks next to the running executable, which here is
//     lifeline, not limactl): <dir>/lima-guestagent.OS-ARCH[.gz] or
//     <dir>/../share/lima/…, unless the instance is plain;
//  4. fetches the nerdctl archive when containerd is enabled.
//
// It returns the host agent arguments for 3 and 4 (--guestagent PATH,
// --nerdctl-archive PATH).
func Prepare(ctx context.Context, inst lima.Instance) ([]string, error) {
	if err := checkHome(inst.LimaHome); err != nil {
		return nil, err
	}
	yamlPath := filepath.Join(inst.Dir, filenames.LimaYAML)
	b, err := os.ReadFile(yamlPath)
	if err != nil {
		return nil, err
	}
	y, err := limayaml.Load(b, yamlPath)
	if err != nil {
		return nil, err
	}
	if err := limayaml.Validate(y, false); err != nil {
		return nil, fmt.Errorf("%s: %w", yamlPath, err)
	}
	if *y.VMType != limayaml.QEMU {
		return nil, fmt.Errorf("vmType %q: %w (limaprep prepares qemu instances)", *y.VMType, errors.ErrUnsupported)
	}
	if err := ensureBaseDisk(ctx, inst.Dir, y); err != nil {
		return nil, err
	}
	if err := ensureDiffDisk(inst.Dir, y); err != nil {
		return nil, err
	}
	if err := growDiffDisk(inst.Dir, y); err != nil {
		return nil, err
	}
	var args []string
	if !*y.Plain {
		ga, err := GuestAgentBinary(inst.HostAgentCmd[0], *y.OS, *y.Arch)
		if err != nil {
			return nil, err
		}
		args = append(args, "--guestagent", ga)
	}
	if *y.Containerd.System || *y.Containerd.User {
		archive, err := nerdctlArchive(ctx, y)
		if err != nil {
			return nil, err
		}
		args = append(args, "--nerdctl-archive", archive)
	}
	return args, nil
}

// checkHome refuses a driver LIMA_HOME other than the one Lima's packages
// read from the environment.
func checkHome(home string) error {
	theirs, err := dirnames.LimaDir()
	if err != nil {
		return err
	}
	ours := home
	if r, err := filepath.EvalSymlinks(home); err == nil {
		ours = r
	}
	if theirs != ours {
		return fmt.Errorf("limaprep: LIMA_HOME %q (the process environment, which Lima's packages read) is not the driver's %q", theirs, home)
	}
	return nil
}

// ensureBaseDisk is the image step of instance.Prepare.
func ensureBaseDisk(ctx context.Context, dir string, y *limayaml.LimaYAML) error {
	baseDisk := filepath.Join(dir, filenames.BaseDisk)
	if _, err := os.Stat(baseDisk); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	kernel := filepath.Join(dir, filenames.Kernel)
	kernelCmdline := filepath.Join(dir, filenames.KernelCmdline)
	initrd := filepath.Join(dir, filenames.Initrd)
	errs := make([]error, len(y.Images))
	for i, f := range y.Images {
		if _, err := fileutils.DownloadFile(ctx, baseDisk, f.File, true, "the image", *y.Arch); err != nil {
			errs[i] = err
			continue
		}
		if f.Kernel != nil {
			if _, err := fileutils.DownloadFile(ctx, kernel, f.Kernel.File, true, "the kernel", *y.Arch); err != nil {
				errs[i] = err
				continue
			}
			if f.Kernel.Cmdline != "" {
				if err := os.WriteFile(kernelCmdline, []byte(f.Kernel.Cmdline), 0o644); err != nil {
					errs[i] = err
					continue
				}
			}
		}
		if f.Initrd != nil {
			if _, err := fileutils.DownloadFile(ctx, initrd, *f.Initrd, false, "the initrd", *y.Arch); err != nil {
				errs[i] = err
				continue
			}
		}
		return nil
	}
	return fileutils.Errors(errs)
}

// growDiffDisk is instance.prepareDiffDisk: a diff disk smaller than
// lima.yaml's disk is grown; shrinking is refused.
func growDiffDisk(dir string, y *limayaml.LimaYAML) error {
	diffDisk := filepath.Join(dir, filenames.DiffDisk)
	f, err := os.Open(diffDisk)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := qcow2reader.Open(f)
	if err != nil {
		return err
	}
	want, err := units.RAMInBytes(*y.Disk)
	if err != nil {
		return err
	}
	switch have := img.Size(); {
	case want == have:
		return nil
	case want < have:
		return fmt.Errorf("%s: %d bytes, lima.yaml says %d: shrinking is unavailable", diffDisk, have, want)
	}
	return proxyimgutil.NewDiskUtil().ResizeDisk(diffDisk, want)
}

// GuestAgentBinary finds lima-guestagent.OS-ARCH[.gz] for a host agent
// program the way Lima finds it for limactl: beside the program, or in
// ../share/lima/, through the path as given and with symlinks resolved.
func GuestAgentBinary(hostAgentProgram string, os_ limayaml.OS, arch limayaml.Arch) (string, error) {
	exe, err := exec.LookPath(hostAgentProgram)
	if err != nil {
		return "", err
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return "", err
	}
	selves := []string{exe}
	if r, err := filepath.EvalSymlinks(exe); err == nil && r != exe {
		selves = append(selves, r)
	}
	name := "lima-guestagent." + os_ + "-" + arch
	var tried []string
	for _, self := range selves {
		dir := filepath.Dir(self)
		for _, cand := range []string{filepath.Join(dir, name), filepath.Join(filepath.Dir(dir), "share", "lima", name)} {
			for _, f := range []string{cand + ".gz", cand} {
				tried = append(tried, f)
				if _, err := os.Stat(f); err == nil {
					return f, nil
				}
			}
		}
	}
	return "", fmt.Errorf("guest agent %s not found for %s: tried %v: %w", name, hostAgentProgram, tried, os.ErrNotExist)
}

// nerdctlArchive is instance.ensureNerdctlArchiveCache, without the tty
// progress: the first archive for the instance's arch.
func nerdctlArchive(ctx context.Context, y *limayaml.LimaYAML) (string, error) {
	errs := make([]error, len(y.Containerd.Archives))
	for i, f := range y.Containerd.Archives {
		path, err := fileutils.DownloadFile(ctx, "", f, false, "the nerdctl archive", *y.Arch)
		if err != nil {
			errs[i] = err
			continue
		}
		if path == "" {
			if downloader.IsLocal(f.Location) {
				return f.Location, nil
			}
			return "", fmt.Errorf("cache did not contain %q", f.Location)
		}
		return path, nil
	}
	return "", fileutils.Errors(errs)
}

package limaprep_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/lima/limaprep"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// The guest agent is found where Lima looks for it, relative to limactl
// (not to the running program), compressed first.
func TestGuestAgentBinary(t *testing.T) {
	prefix := t.TempDir()
	limactl := filepath.Join(prefix, "bin", "limactl")
	touch(t, limactl)
	if _, err := limaprep.GuestAgentBinary(limactl, "Linux", "x86_64"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no guest agent: %v; want ErrNotExist", err)
	}
	share := filepath.Join(prefix, "share", "lima", "lima-guestagent.Linux-x86_64")
	touch(t, share)
	if got, err := limaprep.GuestAgentBinary(limactl, "Linux", "x86_64"); err != nil || got != share {
		t.Errorf("got %q, %v; want %q", got, err, share)
	}
	touch(t, share+".gz")
	if got, _ := limaprep.GuestAgentBinary(limactl, "Linux", "x86_64"); got != share+".gz" {
		t.Errorf("got %q; want the compressed one", got)
	}
	beside := filepath.Join(prefix, "bin", "lima-guestagent.Linux-x86_64")
	touch(t, beside)
	if got, _ := limaprep.GuestAgentBinary(limactl, "Linux", "x86_64"); got != beside {
		t.Errorf("got %q; want the one beside limactl", got)
	}
}

// Prepare makes the base and diff disks of a blank-disk instance with
// qemu-img and returns the guest agent argument.
func TestPrepareBlankDisk(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		if os.Getenv("LIFELINE_CI") == "1" {
			t.Fatal("qemu-img is not installed: .ci/run installs qemu-utils before the tests")
		}
		t.Skip("qemu-img is not installed (apt install qemu-utils)")
	}
	home := t.TempDir()
	t.Setenv("LIMA_HOME", home)
	prefix := t.TempDir()
	limactl := filepath.Join(prefix, "bin", "limactl")
	touch(t, limactl)
	ga := filepath.Join(prefix, "share", "lima", "lima-guestagent.Linux-"+lima.HostArch())
	touch(t, ga)

	d, err := lima.New(lima.Options{LimaHome: home, HostAgentCmd: []string{limactl, "hostagent"}})
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(home, "blank.raw")
	if err := lima.CreateBlankDisk(disk, 0); err != nil {
		t.Fatal(err)
	}
	tmpl, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: disk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Define(ctx, "vm1", drivers.Spec{Template: tmpl}); err != nil {
		t.Fatal(err)
	}
	inst := lima.Instance{Name: "vm1", Dir: filepath.Join(home, "vm1"), LimaHome: home, HostAgentCmd: []string{limactl, "hostagent"}}
	args, err := limaprep.Prepare(ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(args, []string{"--guestagent", ga}) {
		t.Errorf("args %q", args)
	}
	for _, f := range []string{"basedisk", "diffdisk"} {
		if _, err := os.Stat(filepath.Join(inst.Dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := limaprep.Prepare(ctx, inst); err != nil {
		t.Errorf("second Prepare: %v", err)
	}
	inst.LimaHome = t.TempDir()
	if _, err := limaprep.Prepare(ctx, inst); err == nil {
		t.Error("Prepare with a LIMA_HOME other than the environment's succeeded")
	}
}

// A program that links limaprep (and so Lima's pkg/limayaml) starts without
// $HOME: internal/homeenv sets it before limayaml's initialisation, which
// would panic.
func TestStartsWithoutHOME(t *testing.T) {
	if os.Getenv("LIFELINE_TEST_NO_HOME") == "1" {
		return // the re-executed child: it got here, so it started
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartsWithoutHOME$")
	cmd.Env = []string{"LIFELINE_TEST_NO_HOME=1", "PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("started without HOME: %v\n%s", err, out)
	}
}

package lima_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
)

// Define writes the instance the way limactl create does, and rewrites
// lima.yaml on a second call; Remove deletes it.
func TestDefineWritesInstance(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	d, err := lima.New(lima.Options{LimaHome: home})
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(home, "blank.raw")
	if err := lima.CreateBlankDisk(disk, 0); err != nil {
		t.Fatal(err)
	}
	tmpl, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: disk, CPUType: "max"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Define(ctx, "vm-1", drivers.Spec{Template: tmpl, Ready: lima.ReadyAgent}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, "vm-1")
	got, err := os.ReadFile(filepath.Join(dir, "lima.yaml"))
	if err != nil || string(got) != string(tmpl) {
		t.Fatalf("lima.yaml = %q, %v; want the template", got, err)
	}
	if v, err := os.ReadFile(filepath.Join(dir, "lima-version")); err != nil || !strings.HasPrefix(string(v), "v1.") {
		t.Errorf("lima-version = %q, %v; want the Lima module's version", v, err)
	}
	if fi, err := os.Stat(dir); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700) {
		t.Errorf("instance dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if err := d.Define(ctx, "vm-1", drivers.Spec{Template: []byte("vmType: qemu\n")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "lima.yaml")); string(got) != "vmType: qemu\n" {
		t.Errorf("lima.yaml not rewritten: %q", got)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	for _, bad := range []struct {
		vm   string
		spec drivers.Spec
	}{
		{"../x", drivers.Spec{Template: tmpl}},
		{"a b", drivers.Spec{Template: tmpl}},
		{"vm.yaml", drivers.Spec{Template: tmpl}},
		{"vm-2", drivers.Spec{}},
		{"vm-2", drivers.Spec{Template: tmpl, Ready: "soon"}},
	} {
		if err := d.Define(ctx, bad.vm, bad.spec); err == nil {
			t.Errorf("Define(%q, %+v) succeeded", bad.vm, bad.spec.Ready)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "vm-2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused Define left a directory: %v", err)
	}

	if err := os.WriteFile(filepath.Join(dir, "protected"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, "vm-1"); !errors.Is(err, lima.ErrProtected) {
		t.Errorf("Remove of a protected instance: %v; want ErrProtected", err)
	}
	os.Remove(filepath.Join(dir, "protected"))
	if err := d.Remove(ctx, "vm-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance left after Remove: %v", err)
	}
	if err := d.Remove(ctx, "vm-1"); err != nil {
		t.Errorf("Remove of a missing instance: %v", err)
	}
	if _, err := d.Spawn(ctx, "vm-1", drivers.Spec{Template: tmpl}); !errors.Is(err, lima.ErrNoInstance) {
		t.Errorf("Spawn of a removed instance: %v; want ErrNoInstance", err)
	}
}

func TestDefaultTemplate(t *testing.T) {
	t.Parallel()
	if _, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: "relative.raw"}); err == nil {
		t.Error("a relative disk path was accepted")
	}
	disk := filepath.Join(t.TempDir(), `odd "name".raw`)
	b, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: disk, Arch: "x86_64", CPUType: "max"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`vmType: "qemu"`, `arch: "x86_64"`, "cpuType:\n  \"x86_64\": \"max\"",
		`- location: "` + strings.ReplaceAll(disk, `"`, `\"`) + `"`, "mounts: []",
		"containerd:\n  system: false\n  user: false",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("template lacks %q:\n%s", want, b)
		}
	}
}

// The default template sets a CPU type QEMU takes with and without KVM,
// rather than Lima's "host", with which QEMU exits at once where KVM is
// unusable; a given one, or another vmType, is left as asked.
func TestDefaultTemplateCPUType(t *testing.T) {
	t.Parallel()
	disk := filepath.Join(t.TempDir(), "blank.raw")
	for _, tc := range []struct {
		o    lima.TemplateOptions
		want string // "" for no cpuType at all
	}{
		{lima.TemplateOptions{Disk: disk, Arch: "x86_64"}, "cpuType:\n  \"x86_64\": \"" + lima.DefaultCPUType("x86_64") + "\"\n"},
		{lima.TemplateOptions{Disk: disk, Arch: "aarch64"}, "cpuType:\n  \"aarch64\": \"max\"\n"},
		{lima.TemplateOptions{Disk: disk, Arch: "x86_64", CPUType: "host"}, "cpuType:\n  \"x86_64\": \"host\"\n"},
		{lima.TemplateOptions{Disk: disk, VMType: "vz"}, ""},
	} {
		b, err := lima.DefaultTemplate(tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == "" && strings.Contains(string(b), "cpuType") || tc.want != "" && !strings.Contains(string(b), tc.want) {
			t.Errorf("%+v: template %s\nwant cpuType %q", tc.o, b, tc.want)
		}
	}
	if got := lima.DefaultCPUType("x86_64"); got != "max" && got != "qemu64" {
		t.Errorf("DefaultCPUType(x86_64) = %q", got)
	}
}

func TestCreateBlankDisk(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "d", "blank.raw")
	if err := lima.CreateBlankDisk(path, 1<<20); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 1<<20 {
		t.Fatalf("blank disk: %v, %v", fi, err)
	}
	if err := lima.CreateBlankDisk(path, 1<<20); err != nil {
		t.Errorf("second CreateBlankDisk: %v", err)
	}
	if err := lima.CreateBlankDisk(path, 2<<20); err == nil {
		t.Error("an existing smaller file was accepted")
	}
}

// LimaModuleVersion follows go.mod.
func TestLimaModuleVersion(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/lima-vm/lima").Output()
	if err != nil {
		t.Fatal(err)
	}
	if v := strings.TrimSpace(string(out)); v != lima.LimaModuleVersion {
		t.Errorf("go.mod has lima %s, LimaModuleVersion is %s", v, lima.LimaModuleVersion)
	}
}

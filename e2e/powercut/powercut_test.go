//go:build linux

package powercut

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The suite's environment (see the package doc).
const (
	envRun    = "LIFELINE_POWERCUT"        // =1 runs the suite
	envCuts   = "LIFELINE_POWERCUT_CUTS"   // how many cuts (default 3)
	envSeed   = "LIFELINE_POWERCUT_SEED"   // replay one cut
	envKeep   = "LIFELINE_POWERCUT_KEEP"   // keep each cut's files in this directory
	envKernel = "LIFELINE_POWERCUT_KERNEL" // the guest kernel (default: newest /boot/vmlinuz-*)
	envMount  = "LIFELINE_POWERCUT_MOUNT"  // ext4 mount options in the guest (default "defaults")
)

// Bounds of the suite's waits (TCG is slow; a cut takes about 40 s).
const (
	readyBound = 3 * time.Minute // boot, mount, daemon answers
	auditBound = 5 * time.Minute // boot, checks, recovery, power-off
	maxCutAt   = 20 * time.Second
	diskSize   = 512 << 20
)

// env is what every cut shares.
type env struct {
	kernel kernel
	initrd string
	dir    string
}

func setup(t *testing.T) *env {
	t.Helper()
	if os.Getenv(envRun) != "1" {
		t.Skipf("set %s=1 to cut the power of a QEMU guest (.ci/powercut.sh does)", envRun)
	}
	// From here on, anything missing is a failure: the set-up said it
	// succeeded.
	for _, p := range []string{"qemu-system-x86_64", "mkfs.ext4", "busybox", "go"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s: %v (run .ci/powercut.sh, which installs it)", p, err)
		}
	}
	busybox, _ := exec.LookPath("busybox")
	if err := checkStatic(busybox); err != nil {
		t.Fatal(err)
	}
	k, err := findKernel()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{kernel: k, dir: t.TempDir()}
	bin := filepath.Join(e.dir, "bin")
	root := repoRoot(t)
	for name, pkg := range map[string]string{"lifeline": "./cmd/lifeline", "lifeline-cli": "./cmd/lifeline-cli", "lifelined": "./cmd/lifelined", "guest": "./e2e/powercut/guest"} {
		cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", filepath.Join(bin, name), pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	e.initrd = filepath.Join(e.dir, "initramfs.cpio")
	if err := buildInitramfs(e.initrd, k, busybox, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s, initramfs %s", k.vmlinuz, e.initrd)
	return e
}

func repoRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// seeds are the cuts to run: LIFELINE_POWERCUT_SEED alone, or
// LIFELINE_POWERCUT_CUTS (default 3) seeds from the clock.
func seeds(t *testing.T) []uint64 {
	if s := os.Getenv(envSeed); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a number", envSeed, s)
		}
		return []uint64{seed}
	}
	n := 3
	if s := os.Getenv(envCuts); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", envCuts, s)
		}
	}
	base := uint64(time.Now().UnixNano()) % 1e9
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

// TestPowerCut cuts the power of a guest running the daemon and a random
// workload, and audits what the next boot finds (see the package doc).
func TestPowerCut(t *testing.T) {
	e := setup(t)
	var cuts, passed, acked, live int
	start := time.Now()
	for _, seed := range seeds(t) {
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d (replay: %s=%d)", seed, envSeed, seed)
			v := e.cut(t, seed)
			cuts++
			acked += v.acked
			live += v.live
		})
		if ok {
			passed++
		} else {
			t.Logf("replay the failed cut with %s=%d", envSeed, seed)
		}
	}
	t.Logf("%d cuts in %v, %d passed the audit: %d records acknowledged before a cut, %d VMs live at a cut",
		cuts, time.Since(start).Round(time.Second), passed, acked, live)
}

// cut runs one power cut of the given seed and audits it.
func (e *env) cut(t *testing.T, seed uint64) verdict {
	dir := t.TempDir()
	if keep := os.Getenv(envKeep); keep != "" {
		dir = filepath.Join(keep, fmt.Sprintf("seed-%d", seed))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rnd := rand.New(rand.NewPCG(seed, 14))
	// Mostly anywhere in the workload's first seconds; sometimes right
	// after the daemon's first answer, while its files are new.
	cutAt := time.Duration(rnd.Int64N(int64(maxCutAt)))
	if rnd.IntN(6) == 0 {
		cutAt = time.Duration(rnd.Int64N(int64(300 * time.Millisecond)))
	}
	disk := filepath.Join(dir, "disk.img")
	if err := makeDisk(disk); err != nil {
		t.Fatal(err)
	}
	mount := os.Getenv(envMount)
	if mount == "" {
		mount = "defaults"
	}
	o := bootOptions{kernel: e.kernel.vmlinuz, initrd: e.initrd, disk: disk, dir: dir}

	ctx := context.Background()
	o.name, o.cmdline = "work", fmt.Sprintf("ll.mode=work ll.seed=%d ll.mount=%s", seed, mount)
	t0 := time.Now()
	g, err := boot(o)
	if err != nil {
		t.Fatal(err)
	}
	readyAt, err := g.waitLine(ctx, "ready", readyBound)
	if err != nil {
		g.cut()
		t.Fatalf("%v\nconsole:\n%s", err, tail(g.console, 4000))
	}
	time.Sleep(cutAt) // the moment of the cut is the test's random input
	g.cut()
	cutDone := time.Now()
	work, err := readReport(g.report)
	if err != nil {
		t.Fatal(err)
	}

	o.name, o.cmdline = "audit", "ll.mode=audit ll.mount="+mount
	a, err := boot(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.wait(auditBound); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, tail(a.console, 4000))
	}
	audit, err := readReport(a.report)
	if err != nil {
		t.Fatal(err)
	}
	v := judge(work, audit)
	t.Logf("boot to ready %v, cut %v after ready, audit boot %v; %d records acknowledged, %d in the log; %d VMs live at the cut",
		readyAt.Sub(t0).Round(100*time.Millisecond), cutAt.Round(time.Millisecond), time.Since(cutDone).Round(100*time.Millisecond),
		v.acked, v.logged, v.live)
	for _, r := range v.reasons {
		t.Logf("recovery: %s", r)
	}
	for _, p := range v.problems {
		t.Error(p)
	}
	if t.Failed() {
		t.Logf("work console:\n%s\naudit console:\n%s", tail(g.console, 3000), tail(a.console, 3000))
		t.Logf("files of this cut: %s (set %s=DIR to keep them)", dir, envKeep)
	}
	return v
}

// makeDisk makes an empty ext4 file system in a sparse image at path.
func makeDisk(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(diskSize); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	out, err := exec.Command("mkfs.ext4", "-q", "-F", "-E", "nodiscard", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %v\n%s", path, err, out)
	}
	return nil
}

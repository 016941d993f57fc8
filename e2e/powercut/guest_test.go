//go:build linux

package powercut

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The modules the guest needs, with their dependencies from modules.dep:
// the virtio PCI transport, the block device and ext4.
var guestModules = []string{"virtio_pci", "virtio_blk", "ext4", "crc32c_generic"}

// initScript is the guest's /init: mount what a program needs, load the
// modules, mount the data disk, run the guest program, and power off
// (QEMU runs with -no-reboot, so a panic ends it too).
const initScript = `#!/bin/sh
export PATH=/bin HOME=/root USER=root LOGNAME=root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m 2>/dev/null || echo "powercut: insmod $m failed (a duplicate provider is fine)"
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
mkdir -p /data
if mount -t ext4 -o "$(sed -n 's/.*ll.mount=\([^ ]*\).*/\1/p' /proc/cmdline)" /dev/vda /data; then
	echo "powercut: data disk mounted"
	/bin/guest
	echo "powercut: guest exited $?"
	umount /data || sync
else
	echo "powercut: mount /dev/vda failed" > /dev/ttyS1
fi
poweroff -f
`

// kernel is the guest's kernel and its modules.
type kernel struct {
	vmlinuz string
	modDir  string // /lib/modules/<version>
}

// findKernel picks $LIFELINE_POWERCUT_KERNEL or the newest /boot/vmlinuz-*,
// with its modules.
func findKernel() (kernel, error) {
	path := os.Getenv(envKernel)
	if path == "" {
		paths, _ := filepath.Glob("/boot/vmlinuz-*")
		if len(paths) == 0 {
			return kernel{}, errors.New("no /boot/vmlinuz-*: install linux-image-amd64 (.ci/powercut.sh does), or set " + envKernel)
		}
		slices.Sort(paths)
		path = paths[len(paths)-1]
	}
	version := strings.TrimPrefix(filepath.Base(path), "vmlinuz-")
	k := kernel{vmlinuz: path, modDir: filepath.Join("/lib/modules", version)}
	if _, err := os.Stat(filepath.Join(k.modDir, "modules.dep")); err != nil {
		return kernel{}, fmt.Errorf("kernel %s: its modules: %w", path, err)
	}
	return k, nil
}

// moduleOrder resolves mods through modules.dep into load order,
// dependencies first. Modules built into the kernel (modules.builtin) need
// nothing.
func (k kernel) moduleOrder(mods []string) ([]string, error) {
	deps := map[string][]string{} // path relative to modDir -> its deps
	byName := map[string]string{}
	b, err := os.ReadFile(filepath.Join(k.modDir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
		byName[modName(mod)] = mod
	}
	builtin, _ := os.ReadFile(filepath.Join(k.modDir, "modules.builtin"))
	isBuiltin := map[string]bool{}
	for _, l := range strings.Fields(string(builtin)) {
		isBuiltin[modName(l)] = true
	}
	var order []string
	seen := map[string]bool{}
	var visit func(mod string)
	visit = func(mod string) {
		if seen[mod] {
			return
		}
		seen[mod] = true
		d := deps[mod]
		for i := len(d) - 1; i >= 0; i-- {
			visit(d[i])
		}
		order = append(order, mod)
	}
	for _, m := range mods {
		mod, ok := byName[m]
		switch {
		case ok:
			visit(mod)
		case isBuiltin[m]:
		default:
			return nil, fmt.Errorf("kernel module %s: neither in %s/modules.dep nor built in", m, k.modDir)
		}
	}
	for _, m := range order {
		if !strings.HasSuffix(m, ".ko") {
			return nil, fmt.Errorf("kernel module %s is compressed; busybox insmod needs a plain .ko", m)
		}
	}
	return order, nil
}

// modName is a module's name as modprobe spells it.
func modName(path string) string {
	n := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	n = strings.TrimSuffix(n, ".ko")
	return strings.ReplaceAll(n, "-", "_")
}

// checkStatic fails unless path is a statically linked ELF program.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: the guest has no libraries (install busybox-static)", path)
		}
	}
	return nil
}

// buildInitramfs writes the guest's initramfs, an uncompressed newc cpio
// archive, to out, with the programs lifeline, lifelined (which `lifeline
// daemon` runs, next to it in /bin) and guest from bin.
func buildInitramfs(out string, k kernel, busybox, bin string) error {
	order, err := k.moduleOrder(guestModules)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := &cpioWriter{w: bufio.NewWriter(f)}
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "data", "lib", "lib/modules", "root"} {
		w.dir(d)
	}
	// Lima's packages look the user up when they load.
	w.file("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	w.file("etc/group", []byte("root:x:0:\n"), 0o644)
	w.node("dev/console", 0o020600, 5, 1)
	w.fileFrom("bin/busybox", busybox, 0o755)
	for _, app := range []string{"sh", "mount", "umount", "insmod", "mkdir", "sleep", "poweroff", "sync", "cat", "sed", "echo"} {
		w.symlink("bin/"+app, "busybox")
	}
	for _, prog := range []string{"lifeline", "lifeline-cli", "lifelined", "guest"} {
		w.fileFrom("bin/"+prog, filepath.Join(bin, prog), 0o755)
	}
	var names []string
	for _, m := range order {
		name := filepath.Base(m)
		w.fileFrom("lib/modules/"+name, filepath.Join(k.modDir, m), 0o644)
		names = append(names, name)
	}
	w.file("lib/modules/order", []byte(strings.Join(names, "\n")+"\n"), 0o644)
	w.file("init", []byte(initScript), 0o755)
	w.trailer()
	if err := errors.Join(w.err, w.w.Flush()); err != nil {
		f.Close()
		return fmt.Errorf("initramfs %s: %w", out, err)
	}
	return f.Close()
}

// cpioWriter writes the newc format the kernel unpacks.
type cpioWriter struct {
	w   *bufio.Writer
	ino int
	n   int64
	err error
}

func (c *cpioWriter) entry(name string, mode uint32, data []byte, rmaj, rmin int) {
	if c.err != nil {
		return
	}
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rmaj, rmin, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(name + "\x00"))
	c.pad()
	c.write(data)
	c.pad()
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) dir(name string)                         { c.entry(name, 0o040755, nil, 0, 0) }
func (c *cpioWriter) node(name string, mode uint32, a, b int) { c.entry(name, mode, nil, a, b) }
func (c *cpioWriter) symlink(name, target string)             { c.entry(name, 0o120777, []byte(target), 0, 0) }
func (c *cpioWriter) file(name string, b []byte, perm uint32) { c.entry(name, 0o100000|perm, b, 0, 0) }
func (c *cpioWriter) trailer()                                { c.entry("TRAILER!!!", 0, nil, 0, 0) }

func (c *cpioWriter) fileFrom(name, path string, perm uint32) {
	b, err := os.ReadFile(path)
	if err != nil && c.err == nil {
		c.err = err
	}
	c.file(name, b, perm)
}

// guestVM is one boot of the guest.
type guestVM struct {
	cmd     *exec.Cmd
	console string // the kernel's and the daemon's output (ttyS0)
	report  string // the guest program's report lines (ttyS1)
	done    chan struct{}
	err     error // QEMU's exit, once done is closed
}

// bootOptions are what differs between boots.
type bootOptions struct {
	kernel, initrd, disk string
	dir, name            string // the console and report files are dir/name.{console,report}
	cmdline              string // added to the kernel command line
}

func boot(o bootOptions) (*guestVM, error) {
	g := &guestVM{
		console: filepath.Join(o.dir, o.name+".console"),
		report:  filepath.Join(o.dir, o.name+".report"),
		done:    make(chan struct{}),
	}
	args := []string{
		"-accel", "kvm", "-accel", "tcg", // KVM where it is usable, else TCG
		"-cpu", "max", "-smp", "2", "-m", "512",
		"-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none",
		"-kernel", o.kernel, "-initrd", o.initrd,
		"-append", "console=ttyS0 panic=-1 quiet loglevel=4 " + o.cmdline,
		"-serial", "file:" + g.console,
		"-serial", "file:" + g.report,
		// The host's page cache outlives QEMU: what the guest wrote to
		// the disk stays, what its kernel only cached is lost with it.
		"-drive", "file=" + o.disk + ",format=raw,if=virtio,cache=unsafe",
	}
	g.cmd = exec.Command("qemu-system-x86_64", args...)
	var stderr bytes.Buffer
	g.cmd.Stdout, g.cmd.Stderr = &stderr, &stderr
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	go func() {
		err := g.cmd.Wait()
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		g.err = err
		close(g.done)
	}()
	return g, nil
}

// cut is the power cut: SIGKILL, and wait for QEMU to be gone.
func (g *guestVM) cut() {
	_ = g.cmd.Process.Kill()
	<-g.done
}

// wait waits for QEMU to exit by itself, at most d; then it cuts.
func (g *guestVM) wait(d time.Duration) error {
	select {
	case <-g.done:
		return nil
	case <-time.After(d):
		g.cut()
		return fmt.Errorf("guest still running after %v (killed): see %s", d, g.console)
	}
}

// waitLine polls the report file until a line of kind k arrives, QEMU
// exits, or d passes.
func (g *guestVM) waitLine(ctx context.Context, k string, d time.Duration) (time.Time, error) {
	deadline := time.Now().Add(d)
	for {
		lines, _ := readReport(g.report)
		for _, l := range lines {
			switch l.K {
			case k:
				return time.Now(), nil
			case "error":
				return time.Time{}, fmt.Errorf("guest: %s", l.Err)
			}
		}
		select {
		case <-g.done:
			return time.Time{}, fmt.Errorf("guest exited before %q: %v (see %s)", k, g.err, g.console)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no %q from the guest in %v (see %s)", k, d, g.console)
		}
	}
}

// readReport reads the complete lines of a report file: a line cut short
// by the power cut was never received. A line that is not JSON (the init
// script's own messages) becomes an "error" line.
func readReport(path string) ([]Line, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	var out []Line
	for _, raw := range bytes.Split(b, []byte("\n")) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		l, err := parseLine(raw)
		if err != nil {
			l = Line{K: "error", Err: fmt.Sprintf("not a report line: %q", raw)}
		}
		out = append(out, l)
	}
	return out, nil
}

// tail returns the last n bytes of a file, for failure messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

package tests

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/lifeline-vm/lifeline/drivers/process"
)

// Commands that do what limactl does to an instance, for scripts that mix
// lifeline with Lima's own CLI (agent-sim is the host agent).

// cmdLimactlStart is `limactlstart NAME`: what `limactl start NAME` does
// to a stopped instance under $LIMA_HOME, with agent-sim as the host
// agent: run it in a session of its own, in the instance directory, its
// output in ha.stdout.log and ha.stderr.log, and wait (bounded) until
// ha.pid and qemu.pid are written and the agent reported running. The agent is killed when the script
// ends.
func cmdLimactlStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: limactlstart NAME")
	}
	dir := filepath.Join(ts.Getenv("LIMA_HOME"), args[0])
	var files []*os.File
	for _, name := range []string{"ha.stdout.log", "ha.stderr.log"} {
		f, err := os.Create(filepath.Join(dir, name))
		ts.Check(err)
		files = append(files, f)
	}
	cmd := exec.Command(lifelineBin, "agent-sim", "--pidfile", filepath.Join(dir, "ha.pid"), "--socket", filepath.Join(dir, "ha.sock"), args[0])
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LIMA_HOME="+ts.Getenv("LIMA_HOME"))
	cmd.Stdout, cmd.Stderr = files[0], files[1]
	newSession(cmd)
	ts.Check(cmd.Start())
	for _, f := range files {
		f.Close()
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	ts.Defer(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
		// Its QEMU (agent-sim's driver child) lives in a group of its own.
		if p, err := process.ReadPIDFile(filepath.Join(dir, "qemu.pid")); err == nil {
			if q, err := os.FindProcess(p.PID); err == nil {
				_ = q.Kill()
			}
		}
	})
	deadline := time.Now().Add(daemonWait)
	// Running, and the agent said so (its last write to its logs on the
	// way up).
	for limactlStatus(dir) != "Running" || !saidRunning(dir) {
		if time.Now().After(deadline) {
			ts.Fatalf("limactl start %s: not Running after %v", args[0], daemonWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// saidRunning tells whether the agent in dir reported "running" in its
// events (ha.stdout.log).
func saidRunning(dir string) bool {
	b, _ := os.ReadFile(filepath.Join(dir, "ha.stdout.log"))
	return strings.Contains(string(b), `"running":true`)
}

// limactlStatus is what `limactl list` says of the instance in dir:
// Running when ha.pid and qemu.pid both name live processes.
func limactlStatus(dir string) string {
	for _, name := range []string{"ha.pid", "qemu.pid"} {
		p, err := process.ReadPIDFile(filepath.Join(dir, name))
		if err != nil {
			return "Stopped"
		}
		if _, err := process.Identify(p.PID); err != nil {
			return "Stopped"
		}
	}
	return "Running"
}

// cmdLimactlList is `limactllist NAME STATE`: `limactl list` says STATE
// (Running or Stopped) of the instance NAME.
func cmdLimactlList(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: limactllist NAME STATE")
	}
	got := limactlStatus(filepath.Join(ts.Getenv("LIMA_HOME"), args[0]))
	if (got == args[1]) == neg {
		ts.Fatalf("limactl list %s: %s, want %s%s", args[0], got, map[bool]string{true: "not ", false: ""}[neg], args[1])
	}
}

// cmdDirSnap is `dirsnap DIR FILE`: writes to FILE every file of DIR
// (sockets aside) with its size, mtime and SHA-256, sorted, so that two
// snapshots compare with cmp.
func cmdDirSnap(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: dirsnap DIR FILE")
	}
	var lines []string
	err := filepath.WalkDir(args[0], func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(args[0], path)
		lines = append(lines, fmt.Sprintf("%s %d %s %x", rel, fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano), sha256.Sum256(b)))
		return nil
	})
	ts.Check(err)
	sort.Strings(lines)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
}

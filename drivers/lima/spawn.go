package lima

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// Spawn starts vm's host agent the way `limactl start` does
// (pkg/instance/start.go), and returns its identity as soon as it runs:
//
//  1. It refuses while a process of the instance runs: the host agent ha.pid
//     names (ErrAgentAlive), or a VM driver process that qemu.pid or the
//     remembered identity names (ErrDriverAlive). The error names the pid.
//     A host agent someone else started meanwhile (`limactl start`
//     racing this start; race.go) is no refusal but a
//     drivers.StartedOutsideError naming it.
//     Starting over an orphaned QEMU is Lima's trap: the new QEMU fails on
//     the old one's locks, the new host agent removes qemu.pid and exits 0,
//     and the old QEMU leaks.
//  2. With nothing running, it removes the stale *.pid, *.sock and *.tmp
//     files (Lima's hostagent refuses an existing ha.pid).
//  3. It runs the PrepareFunc, if any.
//  4. It keeps the previous agent's ha.stdout.log and ha.stderr.log as
//     *.log.1 (the older ones shifted up to *.log.KeptLogs, each cut to its
//     last KeptLogBytes; logs.go), so that the new files hold only this
//     agent's events, as Lima's start makes them, and the words of the
//     agent before survive. Then it starts
//     `<HostAgentCmd> --pidfile <dir>/ha.pid --socket <dir>/ha.sock [--debug]
//     [prepare's arguments] NAME` with process.Start: its own process group,
//     default signal dispositions, plain exec.Command (never a context), its
//     environment the base one plus LIMA_HOME plus spec.Env.
//
// Unlike Lima's Start, it does not wait for ha.pid (Lima spins on it
// without sleeping): the agent's identity is known from the fork, and Watch
// follows the rest.
func (d *Driver) Spawn(ctx context.Context, vm string, spec drivers.Spec) (drivers.Procs, error) {
	dir, err := d.InstanceDir(vm)
	if err != nil {
		return drivers.Procs{}, err
	}
	if err := checkSpec(spec); err != nil {
		return drivers.Procs{}, fmt.Errorf("vm %q: spawn: %w", vm, err)
	}
	if v, ok := spec.Env[EnvLimaHome]; ok && v != d.home {
		return drivers.Procs{}, fmt.Errorf("vm %q: spawn: %w: env %s=%q, but the driver's is %q", vm, ErrBadSpec, EnvLimaHome, v, d.home)
	}
	if _, err := os.Stat(filepath.Join(dir, filenames.LimaYAML)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return drivers.Procs{}, fmt.Errorf("vm %q: spawn: %w: %s has no %s", vm, ErrNoInstance, dir, filenames.LimaYAML)
		}
		return drivers.Procs{}, fmt.Errorf("vm %q: spawn: %w", vm, err)
	}
	if err := d.checkNothingRuns(vm, dir); err != nil {
		if so := d.startedOutside(vm, dir); so != nil {
			return drivers.Procs{}, so // race.go
		}
		return drivers.Procs{}, fmt.Errorf("vm %q: spawn refused: %w", vm, err)
	}
	if err := process.RemoveStale(dir); err != nil {
		return drivers.Procs{}, fmt.Errorf("vm %q: spawn: %w", vm, err)
	}

	environ := process.AgentEnv(d.env, spec.Env, map[string]string{EnvLimaHome: d.home})

	var extra []string
	if d.prepare != nil {
		extra, err = d.prepare(ctx, Instance{Name: vm, Dir: dir, LimaHome: d.home, HostAgentCmd: d.cmd, Env: environ})
		if err != nil {
			return drivers.Procs{}, fmt.Errorf("vm %q: prepare: %w", vm, err)
		}
	}

	stdout := filepath.Join(dir, filenames.HostAgentStdoutLog)
	stderr := filepath.Join(dir, filenames.HostAgentStderrLog)
	if err := rotateLogs(dir); err != nil {
		return drivers.Procs{}, fmt.Errorf("vm %q: spawn: %w", vm, err)
	}
	args := append([]string(nil), d.cmd[1:]...)
	args = append(args,
		"--pidfile", filepath.Join(dir, filenames.HostAgentPID),
		"--socket", filepath.Join(dir, filenames.HostAgentSock))
	if d.debug {
		args = append(args, "--debug")
	}
	args = append(args, extra...)
	args = append(args, vm)
	p, err := process.Start(process.Command{
		Path:   d.cmd[0],
		Args:   args,
		Env:    environ,
		Dir:    dir,
		Stdout: stdout,
		Stderr: stderr,
		Name:   vm,
	})
	if err != nil {
		return drivers.Procs{}, fmt.Errorf("vm %q: spawn: %w", vm, err)
	}
	d.mu.Lock()
	d.children[vm] = p
	d.mu.Unlock()
	d.log.Info().Str("vm", vm).Int("pid", p.Proc.PID).Str("dir", dir).Strs("args", args).Msg("host agent started")
	return drivers.Procs{Agent: p.Proc}, nil
}

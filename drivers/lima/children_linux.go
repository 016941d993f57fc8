package lima

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// The processes of an instance that no pid file names yet are found in one
// walk of the process table each (process.Scan): a cheap test of each pid
// first (its cwd, its command line), then its identity and parent, read
// once, for the pids that pass.

// childrenInOtherGroups returns the live children of the agent that run in
// a process group of their own (QEMU), found by their parent and group. It
// finds a QEMU the agent forked before QEMU wrote qemu.pid. The caller
// checked the agent's identity, so its pid is its own.
func childrenInOtherGroups(agent drivers.Proc) ([]drivers.Proc, error) {
	return startedAfter(agent, func(int) bool { return true }, func(p process.Info) bool {
		return p.Parent == agent.PID && p.Group != agent.Group
	})
}

// startedAfter returns the live processes that pick and then match accept
// and that did not start before agent, each by its identity. pick runs for
// every pid (see process.Scan).
func startedAfter(agent drivers.Proc, pick func(pid int) bool, match func(process.Info) bool) ([]drivers.Proc, error) {
	found, err := process.Scan(pick)
	if err != nil {
		return nil, err
	}
	var out []drivers.Proc
	for _, p := range found {
		if !startedBefore(p.Proc, agent) && match(p) {
			out = append(out, p.Proc)
		}
	}
	return out, nil
}

// agentsNaming returns the live group leaders (the host agent runs in a
// process group of its own) whose command line holds `--pidfile pidFile`:
// the host agents of the instance, found also before they wrote ha.pid
// (a daemon killed between the spawn and its record). A child the agent
// forked before an exec shares its group and is no leader.
func agentsNaming(pidFile string) ([]drivers.Proc, error) {
	return startedAfter(drivers.Proc{}, func(pid int) bool {
		// An error: it exited meanwhile, or it is not ours to read.
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return err == nil && hasArgPair(b, "--pidfile", pidFile)
	}, func(p process.Info) bool { return p.Group == p.PID })
}

// hasArgPair reports whether the NUL-separated command line holds flag
// directly followed by value.
func hasArgPair(cmdline []byte, flag, value string) bool {
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	for i := 0; i+1 < len(args); i++ {
		if string(args[i]) == flag && string(args[i+1]) == value {
			return true
		}
	}
	return false
}

// orphanedDrivers returns the VM driver processes of agent that outlived it
// before writing a pid file (the agent killed between its fork of QEMU and
// qemu.pid, a daemon killed in the middle of a tree kill): live leaders of
// a process group of their own, not agent's group, started no earlier than
// agent, whose working directory is the instance directory dir and whose
// environment holds LIMA_HOME=home, as the agent gave both to its children.
// Host agents of the instance (their command line names its ha.pid) and
// the children of another live agent of the instance are left alone.
func orphanedDrivers(dir, home string, agent drivers.Proc) ([]drivers.Proc, error) {
	pidFile := filepath.Join(dir, filenames.HostAgentPID)
	wantDir := dir
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		wantDir = real // /proc/<pid>/cwd is the resolved path
	}
	wantEnv := EnvLimaHome + "=" + home
	isAgent := func(pid int) bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return err == nil && hasArgPair(b, "--pidfile", pidFile)
	}
	return startedAfter(agent, func(pid int) bool {
		if pid == agent.PID {
			return false
		}
		proc := "/proc/" + strconv.Itoa(pid)
		if cwd, err := os.Readlink(proc + "/cwd"); err != nil || cwd != wantDir {
			return false // another directory, or not ours to read
		}
		env, err := os.ReadFile(proc + "/environ")
		return err == nil && slices.Contains(strings.Split(string(env), "\x00"), wantEnv)
	}, func(p process.Info) bool {
		return p.Group == p.PID && p.Group != agent.Group && !isAgent(p.PID) && (p.Parent == agent.PID || !isAgent(p.Parent))
	})
}

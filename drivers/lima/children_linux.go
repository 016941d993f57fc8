package lima

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// childrenInOtherGroups returns the live children of the agent that run in
// a process group of their own (QEMU), found by reading every
// /proc/<pid>/stat for its parent and group. It finds a QEMU the agent
// forked before QEMU wrote qemu.pid. The caller checked the agent's
// identity, so its pid is its own.
func childrenInOtherGroups(agent drivers.Proc) ([]drivers.Proc, error) {
	return startedAfter(agent, func(pid int) bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false // exited meanwhile
		}
		ppid, pgrp, ok := parentAndGroup(b)
		return ok && ppid == agent.PID && pgrp != agent.Group
	})
}

// startedAfter returns the live processes that match and did not start
// before agent, each by its identity, reading every /proc entry once.
func startedAfter(agent drivers.Proc, match func(pid int) bool) ([]drivers.Proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []drivers.Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !match(pid) {
			continue
		}
		p, err := process.Identify(pid)
		if errors.Is(err, process.ErrGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if startedBefore(p, agent) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// parentAndGroup reads fields 4 (ppid) and 5 (pgrp) of /proc/<pid>/stat,
// after the command name, which may hold spaces and parentheses.
func parentAndGroup(stat []byte) (ppid, pgrp int, ok bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 3 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	return ppid, pgrp, err1 == nil && err2 == nil
}

// agentsNaming returns the live group leaders (the host agent runs in a
// process group of its own) whose command line holds `--pidfile pidFile`:
// the host agents of the instance, found also before they wrote ha.pid
// (a daemon killed between the spawn and its record). A child the agent
// forked before an exec shares its group and is no leader.
func agentsNaming(pidFile string) ([]drivers.Proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []drivers.Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !hasArgPair(b, "--pidfile", pidFile) {
			continue // exited meanwhile, or another process
		}
		p, err := process.Identify(pid)
		if errors.Is(err, process.ErrGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if p.Group != p.PID {
			continue
		}
		out = append(out, p)
	}
	return out, nil
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
		if err != nil || !slices.Contains(strings.Split(string(env), "\x00"), wantEnv) {
			return false
		}
		b, err := os.ReadFile(proc + "/stat")
		if err != nil {
			return false
		}
		ppid, pgrp, ok := parentAndGroup(b)
		return ok && pgrp == pid && pgrp != agent.Group && !isAgent(pid) && (ppid == agent.PID || !isAgent(ppid))
	})
}

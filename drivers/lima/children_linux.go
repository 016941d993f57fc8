package lima

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// childrenInOtherGroups returns the live children of the agent that run in
// a process group of their own (QEMU), found by reading every
// /proc/<pid>/stat for its parent and group. It finds a QEMU the agent
// forked before QEMU wrote qemu.pid. The caller checked the agent's
// identity, so its pid is its own.
func childrenInOtherGroups(agent drivers.Proc) ([]drivers.Proc, error) {
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
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		ppid, pgrp, ok := parentAndGroup(b)
		if !ok || ppid != agent.PID || pgrp == agent.Group {
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

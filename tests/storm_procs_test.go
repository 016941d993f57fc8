//go:build linux

package tests

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stormProc is a live agent-sim process (a host agent or its driver child)
// of one storm's LIMA_HOME, as /proc shows it.
type stormProc struct {
	PID, PPID, PGrp int
	Start           uint64 // /proc/PID/stat field 22: clock ticks since boot
	VM              string // the instance name, the last argument
	Driver          bool   // --driver-child: the stand-in for QEMU
}

// key identifies the process across pid reuse.
func (p stormProc) key() string { return fmt.Sprintf("%d@%d", p.PID, p.Start) }

func (p stormProc) role() string {
	if p.Driver {
		return "driver child"
	}
	return "host agent"
}

func (p stormProc) String() string {
	return fmt.Sprintf("vm %s %s pid %d (ppid %d, group %d, start %d)", p.VM, p.role(), p.PID, p.PPID, p.PGrp, p.Start)
}

// scanStormProcs lists the live (not zombie) agent-sim processes whose
// environment holds LIMA_HOME=limaHome: every process the storm's daemons
// started, and their children, whoever their parent is now.
func scanStormProcs(limaHome string) ([]stormProc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	want := []byte("LIMA_HOME=" + limaHome)
	self := os.Getpid()
	var out []stormProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		dir := "/proc/" + e.Name()
		cmdline, err := os.ReadFile(dir + "/cmdline")
		if err != nil || len(cmdline) == 0 {
			continue // gone, or a zombie or kernel thread
		}
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(argv) < 3 || argv[1] != "agent-sim" {
			continue
		}
		env, err := os.ReadFile(dir + "/environ")
		if err != nil || !hasEnvEntry(env, want) {
			continue
		}
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		p, ok := parseStormStat(stat)
		if !ok || p.state == "Z" || p.state == "X" {
			continue
		}
		sp := stormProc{PID: pid, PPID: p.ppid, PGrp: p.pgrp, Start: p.start, VM: argv[len(argv)-1]}
		for _, a := range argv {
			if a == "--driver-child" {
				sp.Driver = true
			}
		}
		out = append(out, sp)
	}
	return out, nil
}

func hasEnvEntry(environ, entry []byte) bool {
	for _, kv := range bytes.Split(environ, []byte{0}) {
		if bytes.Equal(kv, entry) {
			return true
		}
	}
	return false
}

type statFields struct {
	state      string
	ppid, pgrp int
	start      uint64
}

// parseStormStat reads state (field 3), ppid (4), pgrp (5) and starttime
// (22) of /proc/PID/stat, after the command name, which may hold spaces
// and parentheses.
func parseStormStat(stat []byte) (statFields, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return statFields{}, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return statFields{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	start, err3 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return statFields{}, false
	}
	return statFields{state: f[0], ppid: ppid, pgrp: pgrp, start: start}, true
}

// killStormProcs SIGKILLs every process of limaHome (its group too, when
// the group is its own) and waits, at most bound, until none is left. It
// returns what was still alive at the bound. It is the storm's last
// resort: whatever the test did, nothing it started outlives it.
func killStormProcs(limaHome string, bound time.Duration) []stormProc {
	deadline := time.Now().Add(bound)
	for {
		procs, err := scanStormProcs(limaHome)
		if err != nil || len(procs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return procs
		}
		for _, p := range procs {
			if p.PGrp == p.PID {
				_ = syscall.Kill(-p.PGrp, syscall.SIGKILL)
			}
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procFDs counts /proc/PID/fd.
func procFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

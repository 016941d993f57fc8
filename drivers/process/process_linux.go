package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lifeline-vm/lifeline/drivers"
)

// startedAtSlack: /proc/stat knows the boot time to the second.
const startedAtSlack = time.Second

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procStat is what identity and the process-table walk need from
// /proc/<pid>/stat.
type procStat struct {
	state     byte
	ppid      int
	pgrp      int
	threads   int
	startTime uint64
}

// parseStat parses the contents of /proc/<pid>/stat. The command name
// (field 2) is in parentheses and may itself hold spaces and parentheses, so
// the fields are split after the LAST ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("stat: no ')'")
	}
	// Fields from 3 (state) on; proc(5) numbers them from 1.
	f := strings.Fields(string(b[i+1:]))
	const (
		first        = 3
		stateField   = 3 - first
		ppidField    = 4 - first
		pgrpField    = 5 - first
		threadsField = 20 - first
		startField   = 22 - first
	)
	if len(f) <= startField || len(f[stateField]) != 1 {
		return procStat{}, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	ppid, err := strconv.Atoi(f[ppidField])
	if err != nil {
		return procStat{}, fmt.Errorf("stat: ppid: %w", err)
	}
	pgrp, err := strconv.Atoi(f[pgrpField])
	if err != nil {
		return procStat{}, fmt.Errorf("stat: pgrp: %w", err)
	}
	threads, err := strconv.Atoi(f[threadsField])
	if err != nil {
		return procStat{}, fmt.Errorf("stat: num_threads: %w", err)
	}
	start, err := strconv.ParseUint(f[startField], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("stat: starttime: %w", err)
	}
	return procStat{state: f[stateField][0], ppid: ppid, pgrp: pgrp, threads: threads, startTime: start}, nil
}

// readStat reads and parses /proc/<pid>/stat; a missing process gives an
// error wrapping ErrGone.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			return procStat{}, fmt.Errorf("pid %d: %w", pid, ErrGone)
		}
		return procStat{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	st, err := parseStat(b)
	if err != nil {
		return procStat{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return st, nil
}

// dead reports whether the process has exited: its main thread is a zombie
// (Z) or dead (X) and no other thread is left. A main thread that exited
// before the others (pthread_exit, or a SIGKILL still tearing the threads
// down) shows Z too while the process lives on.
func (s procStat) dead() bool { return (s.state == 'Z' || s.state == 'X') && s.threads <= 1 }

// identify reads pid's identity; zombie reports an exited, unreaped process.
func identify(pid int) (drivers.Proc, bool, error) {
	st, err := readStat(pid)
	if err != nil {
		return drivers.Proc{}, false, err
	}
	return st.proc(pid), st.dead(), nil
}

// proc is the identity of process pid whose stat s is.
func (s procStat) proc(pid int) drivers.Proc {
	return drivers.Proc{PID: pid, StartTime: s.startTime, Group: s.pgrp, BootID: bootID()}
}

var bootIDOnce = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})

func bootID() string { return bootIDOnce() }

var bootTime = sync.OnceValues(func() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("/proc/stat: btime: %w", err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, errors.New("/proc/stat: no btime")
})

func startedAt(p drivers.Proc) (time.Time, error) {
	bt, err := bootTime()
	if err != nil {
		return time.Time{}, err
	}
	return bt.Add(time.Duration(p.StartTime) * time.Second / clockTicks), nil
}

// eachLive is the one walk of the process table: it reads /proc once,
// asks pick about every pid (before anything else is read about it), and
// calls f with the stat of each picked process that is alive (not exited),
// until f returns false. A process that exits meanwhile, or whose stat
// cannot be read or parsed (not ours to read), is left out.
func eachLive(pick func(pid int) bool, f func(pid int, st procStat) bool) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !pick(pid) {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.dead() {
			continue
		}
		if !f(pid, st) {
			return nil
		}
	}
	return nil
}

func every(int) bool { return true }

// scan is Scan: one walk of /proc.
func scan(pick func(pid int) bool) ([]Info, error) {
	var out []Info
	err := eachLive(pick, func(pid int, st procStat) bool {
		out = append(out, Info{Proc: st.proc(pid), Parent: st.ppid})
		return true
	})
	return out, err
}

// groupMembers lists the live (not zombie) processes of group pgid.
func groupMembers(pgid int) ([]drivers.Proc, error) {
	var out []drivers.Proc
	err := eachLive(every, func(pid int, st procStat) bool {
		if st.pgrp == pgid {
			out = append(out, st.proc(pid))
		}
		return true
	})
	return out, err
}

// groupStopped reports whether every member of group pgid is stopped
// (state T or t) or dead. A member that received SIGSTOP in the middle of
// a system call (a fork, a setpgid) finishes it before it stops. One
// system call never finishes: a vfork(2) (Go's os/exec forks that way)
// whose child was stopped by the same SIGSTOP before its exec (still in
// the group, before its setpgid) blocks its parent, in state D, until the
// child execs or exits, which a stopped child never does. Such a member
// counts as frozen (vforkBlocked): its child exists already (its parent
// and group can be read), and the parent stops before it runs again.
func groupStopped(pgid int) (bool, error) {
	var pending []int                // members neither stopped nor dead
	stoppedParents := map[int]bool{} // parents of stopped processes, any group
	err := eachLive(every, func(pid int, st procStat) bool {
		stopped := st.state == 'T' || st.state == 't'
		if stopped {
			stoppedParents[st.ppid] = true
		}
		if st.pgrp == pgid && !stopped {
			pending = append(pending, pid)
		}
		return true
	})
	if err != nil {
		return false, err
	}
	for _, pid := range pending {
		if !stoppedParents[pid] || !vforkBlocked(pid) {
			return false, nil
		}
	}
	return true, nil
}

// vforkWaits are the names /proc/<pid>/task/<tid>/wchan gives a thread
// that waits in vfork(2) for its child to exec or exit, by kernel version
// (kernel_clone since 5.10, _do_fork before, do_fork before 4.2;
// wait_for_vfork_done where it is not inlined).
var vforkWaits = []string{"wait_for_vfork_done", "kernel_clone", "_do_fork", "do_fork"}

// vforkBlocked reports whether pid is stopped but for threads that wait in
// a vfork: each of its threads is stopped (T, t), dead, or in
// uninterruptible sleep (D) in one of vforkWaits, and at least one is. A
// kernel that hides wchan ("0") tells nothing: false.
func vforkBlocked(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	waiting := false
	for _, t := range tasks {
		st, err := readTaskStat(dir + t.Name())
		if err != nil {
			continue // exited meanwhile
		}
		switch st.state {
		case 'T', 't', 'Z', 'X':
			continue
		case 'D':
			w, err := os.ReadFile(dir + t.Name() + "/wchan")
			if err != nil || !slices.Contains(vforkWaits, strings.TrimSpace(string(w))) {
				return false
			}
			waiting = true
		default:
			return false
		}
	}
	return waiting
}

// readTaskStat reads and parses a thread's stat, dir being its
// /proc/<pid>/task/<tid>.
func readTaskStat(dir string) (procStat, error) {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// watchExit arms a watch on p: a pidfd, or, on a kernel without
// pidfd_open, a polling watch. A nil watch means p is already gone.
func watchExit(p drivers.Proc) (exitWatch, error) {
	fd, err := unix.PidfdOpen(p.PID, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil, nil
	case errors.Is(err, unix.ENOSYS):
		if err := Check(p); errors.Is(err, ErrGone) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		return pollWatch{p}, nil
	case err != nil:
		return nil, fmt.Errorf("pid %d: pidfd_open: %w", p.PID, err)
	}
	// The pidfd now holds the process that has the pid; check that it is
	// the recorded one (if it exits meanwhile, the pidfd is ready anyway).
	if err := Check(p); err != nil {
		unix.Close(fd)
		if errors.Is(err, ErrGone) {
			return nil, nil
		}
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pid %d: pidfd: %w", p.PID, err)
	}
	// A non-blocking descriptor goes to the runtime's poller (epoll): a
	// waiting goroutine holds no thread.
	return &pidfdWatch{pid: p.PID, f: os.NewFile(uintptr(fd), "pidfd")}, nil
}

// pidfdWatch waits for a pidfd to become readable, which it does when the
// process exits.
type pidfdWatch struct {
	pid int
	f   *os.File
}

func (w *pidfdWatch) wait(ctx context.Context) error {
	rc, err := w.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("pid %d: pidfd: %w", w.pid, err)
	}
	stop := afterFunc(ctx, func() { w.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		if err != nil && !errors.Is(err, unix.EINTR) {
			perr = err
			return true
		}
		return n > 0 // readable: exited
	})
	switch {
	case perr != nil:
		return fmt.Errorf("pid %d: poll pidfd: %w", w.pid, perr)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return waitErr(w.pid, ctx)
	case err != nil:
		return fmt.Errorf("pid %d: pidfd: %w", w.pid, err)
	}
	return nil
}

func (w *pidfdWatch) close() { w.f.Close() }

// pollWatch checks every PollInterval: only for kernels before 5.3.
type pollWatch struct{ p drivers.Proc }

func (w pollWatch) wait(ctx context.Context) error {
	return pollUntil(ctx, w.p.PID, func() (bool, error) {
		err := Check(w.p)
		if errors.Is(err, ErrGone) {
			return true, nil
		}
		return false, err
	})
}

func (pollWatch) close() {}

package process

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lifeline-vm/lifeline/drivers"
)

// startedAtSlack: kern.proc.pid gives the start time to the microsecond.
const startedAtSlack = time.Microsecond

// szomb is p_stat of a zombie (<sys/proc.h> SZOMB).
const szomb = 5

// sstop is p_stat of a stopped process (<sys/proc.h> SSTOP).
const sstop = 4

// kinfoProc converts a kinfo_proc to an identity.
func kinfoProc(kp *unix.KinfoProc) drivers.Proc {
	tv := kp.Proc.P_starttime
	return drivers.Proc{
		PID:       int(kp.Proc.P_pid),
		StartTime: uint64(tv.Sec)*1e6 + uint64(tv.Usec),
		Group:     int(kp.Eproc.Pgid),
		BootID:    bootID(),
	}
}

// identify reads pid's identity with sysctl kern.proc.pid; zombie reports
// an exited, unreaped process.
func identify(pid int) (drivers.Proc, bool, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		// x/sys answers EIO when the kernel returned no record: no such pid.
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EIO) {
			return drivers.Proc{}, false, fmt.Errorf("pid %d: %w", pid, ErrGone)
		}
		return drivers.Proc{}, false, fmt.Errorf("pid %d: sysctl kern.proc.pid: %w", pid, err)
	}
	if int(kp.Proc.P_pid) != pid {
		// sysctl answers an empty record for a pid that does not exist.
		return drivers.Proc{}, false, fmt.Errorf("pid %d: %w", pid, ErrGone)
	}
	return kinfoProc(kp), kp.Proc.P_stat == szomb, nil
}

var bootIDOnce = sync.OnceValue(func() string {
	id, err := unix.Sysctl("kern.bootsessionuuid")
	if err != nil {
		return ""
	}
	return id
})

func bootID() string { return bootIDOnce() }

func startedAt(p drivers.Proc) (time.Time, error) {
	return time.UnixMicro(int64(p.StartTime)), nil
}

// groupMembers lists the live (not zombie) processes of group pgid.
func groupMembers(pgid int) ([]drivers.Proc, error) {
	kps, err := unix.SysctlKinfoProcSlice("kern.proc.pgrp", pgid)
	if err != nil {
		return nil, fmt.Errorf("sysctl kern.proc.pgrp: %w", err)
	}
	var out []drivers.Proc
	for i := range kps {
		if kps[i].Proc.P_stat != szomb {
			out = append(out, kinfoProc(&kps[i]))
		}
	}
	return out, nil
}

// groupStopped reports whether every member of group pgid is stopped or
// dead.
func groupStopped(pgid int) (bool, error) {
	kps, err := unix.SysctlKinfoProcSlice("kern.proc.pgrp", pgid)
	if err != nil {
		return false, fmt.Errorf("sysctl kern.proc.pgrp: %w", err)
	}
	for i := range kps {
		if st := kps[i].Proc.P_stat; st != szomb && st != sstop {
			return false, nil
		}
	}
	return true, nil
}

// cancelIdent is the EVFILT_USER event that ends a wait when ctx ends.
const cancelIdent = 1

// kqueueWatch waits on a kqueue for EVFILT_PROC/NOTE_EXIT of one process,
// or for the EVFILT_USER event that a cancelled context triggers.
type kqueueWatch struct {
	pid int
	kq  int
}

// watchExit arms a kqueue watch on p; a nil watch means p is already gone.
func watchExit(p drivers.Proc) (exitWatch, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, fmt.Errorf("pid %d: kqueue: %w", p.PID, err)
	}
	unix.CloseOnExec(kq)
	var ev [2]unix.Kevent_t
	unix.SetKevent(&ev[0], p.PID, unix.EVFILT_PROC, unix.EV_ADD|unix.EV_ONESHOT)
	ev[0].Fflags = unix.NOTE_EXIT
	unix.SetKevent(&ev[1], cancelIdent, unix.EVFILT_USER, unix.EV_ADD|unix.EV_CLEAR)
	if _, err := unix.Kevent(kq, ev[:], nil, nil); err != nil {
		unix.Close(kq)
		if errors.Is(err, unix.ESRCH) {
			return nil, nil
		}
		return nil, fmt.Errorf("pid %d: kevent: %w", p.PID, err)
	}
	// The filter is on whatever process has the pid; check it is ours (if
	// it exits meanwhile, the event fires anyway).
	if err := Check(p); err != nil {
		unix.Close(kq)
		if errors.Is(err, ErrGone) {
			return nil, nil
		}
		return nil, err
	}
	return &kqueueWatch{pid: p.PID, kq: kq}, nil
}

func (w *kqueueWatch) wait(ctx context.Context) error {
	stop := afterFunc(ctx, func() {
		var ev [1]unix.Kevent_t
		unix.SetKevent(&ev[0], cancelIdent, unix.EVFILT_USER, 0)
		ev[0].Fflags = unix.NOTE_TRIGGER
		unix.Kevent(w.kq, ev[:], nil, nil)
	})
	defer stop()
	var out [1]unix.Kevent_t
	for {
		n, err := unix.Kevent(w.kq, nil, out[:], nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("pid %d: kevent: %w", w.pid, err)
		}
		if n == 0 {
			continue
		}
		if out[0].Filter == unix.EVFILT_PROC {
			return nil
		}
		return waitErr(w.pid, ctx)
	}
}

func (w *kqueueWatch) close() { unix.Close(w.kq) }

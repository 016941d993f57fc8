//go:build windows

package process

// Job Objects: every process of a tree is in its job, and the kill
// terminates the job (or, with no job to open, taskkill /T).

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/lifeline-vm/lifeline/drivers"
)

// Job Object access rights (winnt.h), missing from x/sys/windows.
const (
	jobObjectQuery     = 0x0004
	jobObjectTerminate = 0x0008
)

var procOpenJobObjectW = windows.NewLazySystemDLL("kernel32.dll").NewProc("OpenJobObjectW")

// openJobObject opens a named Job Object (x/sys/windows lacks
// OpenJobObjectW).
func openJobObject(access uint32, name string) (windows.Handle, error) {
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return 0, err
	}
	r, _, e := procOpenJobObjectW.Call(uintptr(access), 0, uintptr(unsafe.Pointer(n)))
	if r == 0 {
		return 0, e
	}
	return windows.Handle(r), nil
}

// jobs holds this daemon's handles of the Job Objects it created, by name,
// until KillTree has emptied them: while a handle is open the name can be
// opened, even after the leader (which holds one too) has exited.
var jobs = struct {
	sync.Mutex
	m map[string]windows.Handle
}{m: map[string]windows.Handle{}}

// freeze is not needed on Windows: the Job Object holds every descendant,
// later ones too, and killTree ends it.
func freeze(_ context.Context, p drivers.Proc) error {
	return fmt.Errorf("pid %d: freeze: %w", p.PID, errors.ErrUnsupported)
}

// killTree ends the tree's Job Object with TerminateJobObject and waits until
// it holds no process. With no job to open, it falls back to
// `taskkill /F /T` on the leader, if the leader is still p.
func killTree(ctx context.Context, name string, p drivers.Proc) error {
	jobName := JobName(name, p)
	job, ours, err := openJob(jobName)
	switch {
	case err == nil:
		return killJob(ctx, p, jobName, job, ours)
	case errors.Is(err, windows.ERROR_FILE_NOT_FOUND):
	default:
		return fmt.Errorf("pid %d: job %s: OpenJobObject: %w", p.PID, jobName, err)
	}
	h, err := openRecorded(p, 0)
	if errors.Is(err, ErrGone) {
		return nil
	}
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	if err := taskkill(p.PID); err != nil {
		return err
	}
	if err := waitHandle(ctx, h, p.PID); err != nil {
		return fmt.Errorf("pid %d: %w: %w", p.PID, ErrSurvived, err)
	}
	return nil
}

// killTreeOf is killTree under the first of names whose job p leads (a
// job's name holds its leader's identity, so only p's own matches), else
// killTree under the last name (its fallback when none exists).
func killTreeOf(ctx context.Context, names []string, p drivers.Proc) error {
	for _, name := range names[:len(names)-1] {
		jobName := JobName(name, p)
		if job, ours, err := openJob(jobName); err == nil {
			return killJob(ctx, p, jobName, job, ours)
		}
	}
	return killTree(ctx, names[len(names)-1], p)
}

// openJob returns this daemon's handle of the job (ours) or opens it by name.
func openJob(jobName string) (job windows.Handle, ours bool, err error) {
	jobs.Lock()
	job, ours = jobs.m[jobName]
	jobs.Unlock()
	if ours {
		return job, true, nil
	}
	job, err = openJobObject(jobObjectTerminate|jobObjectQuery, jobName)
	return job, false, err
}

// killJob terminates every process of job and waits until none is left.
func killJob(ctx context.Context, p drivers.Proc, jobName string, job windows.Handle, ours bool) error {
	if !ours {
		defer windows.CloseHandle(job)
	}
	if err := windows.TerminateJobObject(job, 1); err != nil {
		return fmt.Errorf("pid %d: job %s: TerminateJobObject: %w", p.PID, jobName, err)
	}
	err := pollUntil(ctx, p.PID, func() (bool, error) {
		n, err := activeProcesses(job)
		if err != nil {
			return false, fmt.Errorf("job %s: %w", jobName, err)
		}
		return n == 0, nil
	})
	if errors.Is(err, ErrTimeout) {
		return fmt.Errorf("pid %d: job %s: %w: %w", p.PID, jobName, ErrSurvived, err)
	}
	if err != nil {
		return err
	}
	if ours {
		jobs.Lock()
		delete(jobs.m, jobName)
		jobs.Unlock()
		windows.CloseHandle(job)
	}
	return nil
}

// jobAccounting is JOBOBJECT_BASIC_ACCOUNTING_INFORMATION.
type jobAccounting struct {
	TotalUserTime, TotalKernelTime                       int64
	ThisPeriodTotalUserTime, ThisPeriodTotalKernelTime   int64
	TotalPageFaultCount, TotalProcesses, ActiveProcesses uint32
	TotalTerminatedProcesses                             uint32
}

// activeProcesses counts the processes still in job.
func activeProcesses(job windows.Handle) (uint32, error) {
	var info jobAccounting
	if err := windows.QueryInformationJobObject(job, windows.JobObjectBasicAccountingInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), nil); err != nil {
		return 0, fmt.Errorf("QueryInformationJobObject: %w", err)
	}
	return info.ActiveProcesses, nil
}

// taskkillNotFound is taskkill's exit code for "no such process".
const taskkillNotFound = 128

// taskkill runs `taskkill /F /T /PID pid`; "not found" is success.
func taskkill(pid int) error {
	out, err := exec.Command("taskkill", "/F", "/T", "/PID", strconv.Itoa(pid)).CombinedOutput()
	return taskkillResult(pid, out, err)
}

// taskkillResult interprets taskkill's outcome: exit 0 and exit 128 (the
// process is not found: already gone) are success.
func taskkillResult(pid int, out []byte, err error) error {
	var ee *exec.ExitError
	if err == nil || (errors.As(err, &ee) && ee.ExitCode() == taskkillNotFound) {
		return nil
	}
	return fmt.Errorf("pid %d: taskkill /F /T: %w: %q", pid, err, out)
}

//go:build windows

package process

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/lifeline-vm/lifeline/drivers"
)

// startedAtSlack: a FILETIME counts 100 ns.
const startedAtSlack = 100 * time.Nanosecond

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

// startTree starts p.cmd suspended in a new console process group, puts it
// in a new Job Object named JobName(name, identity), gives the leader a
// handle to the job (so the name outlives this daemon while the leader
// lives), and resumes it: every process the leader starts is in the job.
func startTree(p *Process, name string) error {
	p.cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.CREATE_SUSPENDED,
	}
	startMu.Lock()
	err := p.cmd.Start()
	startMu.Unlock()
	if err != nil {
		return err
	}
	pid := p.cmd.Process.Pid
	fail := func(err error) error {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		return fmt.Errorf("pid %d: %w", pid, err)
	}
	// The leader is our unwaited child: its pid cannot be reused yet.
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.PROCESS_SET_QUOTA|
		windows.PROCESS_TERMINATE|windows.PROCESS_DUP_HANDLE|windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return fail(fmt.Errorf("OpenProcess: %w", err))
	}
	defer windows.CloseHandle(h)
	proc, _, err := identifyHandle(h, pid)
	if err != nil {
		return fail(err)
	}
	jobName := JobName(name, proc)
	n, err := windows.UTF16PtrFromString(jobName)
	if err != nil {
		return fail(err)
	}
	job, err := windows.CreateJobObject(nil, n)
	if err != nil {
		return fail(fmt.Errorf("job %s: CreateJobObject: %w", jobName, err))
	}
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		windows.CloseHandle(job)
		return fail(fmt.Errorf("job %s: AssignProcessToJobObject: %w", jobName, err))
	}
	// Inheritable, so that descendants created with bInheritHandles keep
	// the name alive too.
	var inLeader windows.Handle
	if err := windows.DuplicateHandle(windows.CurrentProcess(), job, h, &inLeader, 0, true,
		windows.DUPLICATE_SAME_ACCESS); err != nil {
		windows.CloseHandle(job)
		return fail(fmt.Errorf("job %s: DuplicateHandle: %w", jobName, err))
	}
	if err := resumeThreads(pid); err != nil {
		windows.CloseHandle(job)
		return fail(err)
	}
	jobs.Lock()
	jobs.m[jobName] = job
	jobs.Unlock()
	p.Proc = proc
	p.reap()
	return nil
}

// resumeThreads resumes the threads of the suspended process pid (os/exec
// does not keep the main thread's handle).
func resumeThreads(pid int) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return fmt.Errorf("resume: CreateToolhelp32Snapshot: %w", err)
	}
	defer windows.CloseHandle(snap)
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	resumed := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != uint32(pid) {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return fmt.Errorf("resume: thread %d: OpenThread: %w", te.ThreadID, err)
		}
		_, err = windows.ResumeThread(th)
		windows.CloseHandle(th)
		if err != nil {
			return fmt.Errorf("resume: thread %d: ResumeThread: %w", te.ThreadID, err)
		}
		resumed++
	}
	if resumed == 0 {
		return errors.New("resume: no thread found")
	}
	return nil
}

// filetime packs a FILETIME into the uint64 recorded as a start time.
func filetime(ft windows.Filetime) uint64 {
	return uint64(ft.HighDateTime)<<32 | uint64(ft.LowDateTime)
}

// identifyHandle reads the identity of the process open as h; exited
// reports that it has ended (its handle is signalled). The process group of
// a CREATE_NEW_PROCESS_GROUP leader is its pid.
func identifyHandle(h windows.Handle, pid int) (p drivers.Proc, exited bool, err error) {
	var creation, exit, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &creation, &exit, &kernel, &user); err != nil {
		return drivers.Proc{}, false, fmt.Errorf("pid %d: GetProcessTimes: %w", pid, err)
	}
	signalled, err := waitObject(h, 0)
	if err != nil {
		return drivers.Proc{}, false, fmt.Errorf("pid %d: %w", pid, err)
	}
	return drivers.Proc{PID: pid, StartTime: filetime(creation), Group: pid}, signalled, nil
}

// openProcess opens pid with access; a pid that names no process gives an
// error wrapping ErrGone.
func openProcess(pid int, access uint32) (windows.Handle, error) {
	h, err := windows.OpenProcess(access|windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.SYNCHRONIZE,
		false, uint32(pid))
	if err != nil {
		if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
			return 0, fmt.Errorf("pid %d: %w", pid, ErrGone)
		}
		return 0, fmt.Errorf("pid %d: OpenProcess: %w", pid, err)
	}
	return h, nil
}

// openRecorded opens the process recorded as p with access, and checks on
// that handle (which pins the process) that it is p and still runs.
func openRecorded(p drivers.Proc, access uint32) (windows.Handle, error) {
	h, err := openProcess(p.PID, access)
	if err != nil {
		return 0, err
	}
	live, exited, err := identifyHandle(h, p.PID)
	if err == nil {
		err = match(p, live)
	}
	if err == nil && exited {
		err = fmt.Errorf("pid %d: exited: %w", p.PID, ErrGone)
	}
	if err != nil {
		windows.CloseHandle(h)
		return 0, err
	}
	return h, nil
}

// identify reads pid's identity; exited reports a process that has ended
// but whose object is still open somewhere (Wine keeps a just-exited pid
// openable for about half a second).
func identify(pid int) (drivers.Proc, bool, error) {
	h, err := openProcess(pid, 0)
	if err != nil {
		return drivers.Proc{}, false, err
	}
	defer windows.CloseHandle(h)
	return identifyHandle(h, pid)
}

func bootID() string { return "" }

func startedAt(p drivers.Proc) (time.Time, error) {
	ft := windows.Filetime{HighDateTime: uint32(p.StartTime >> 32), LowDateTime: uint32(p.StartTime)}
	return time.Unix(0, ft.Nanoseconds()), nil
}

// waitObject waits up to d for h to be signalled. WAIT_TIMEOUT comes with a
// nil error from WaitForSingleObject: it means "not signalled", never
// success.
func waitObject(h windows.Handle, d time.Duration) (signalled bool, err error) {
	ms := uint32(d / time.Millisecond)
	ev, err := windows.WaitForSingleObject(h, ms)
	switch ev {
	case windows.WAIT_OBJECT_0:
		return true, nil
	case uint32(windows.WAIT_TIMEOUT):
		return false, nil
	}
	if err == nil {
		err = fmt.Errorf("unexpected wait result %#x", ev)
	}
	return false, fmt.Errorf("WaitForSingleObject: %w", err)
}

// interrupt sends CTRL_BREAK_EVENT to p's console process group. It needs a
// console shared with p.
func interrupt(p drivers.Proc) error {
	if err := Check(p); err != nil {
		return err
	}
	g := p.Group
	if g == 0 {
		g = p.PID
	}
	if err := windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(g)); err != nil {
		return fmt.Errorf("pid %d: CTRL_BREAK to group %d: %w", p.PID, g, err)
	}
	return nil
}

// terminate ends p's leader with TerminateProcess; it does not wait.
func terminate(p drivers.Proc) error {
	h, err := openRecorded(p, windows.PROCESS_TERMINATE)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	if err := windows.TerminateProcess(h, 1); err != nil {
		if exited, _ := waitObject(h, 0); exited {
			return fmt.Errorf("pid %d: %w", p.PID, ErrGone)
		}
		return fmt.Errorf("pid %d: TerminateProcess: %w", p.PID, err)
	}
	return nil
}

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

// handleWatch waits for a process handle to be signalled.
type handleWatch struct {
	pid int
	h   windows.Handle
}

// watchExit opens p and checks, on the open handle, that it is p and still
// runs; a nil watch means p is already gone.
func watchExit(p drivers.Proc) (exitWatch, error) {
	h, err := openRecorded(p, 0)
	if errors.Is(err, ErrGone) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &handleWatch{pid: p.PID, h: h}, nil
}

func (w *handleWatch) wait(ctx context.Context) error { return waitHandle(ctx, w.h, w.pid) }

func (w *handleWatch) close() { windows.CloseHandle(w.h) }

// waitHandle waits until h is signalled or ctx ends: WaitForMultipleObjects
// on h and an event that ctx's end sets.
func waitHandle(ctx context.Context, h windows.Handle, pid int) error {
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return fmt.Errorf("pid %d: CreateEvent: %w", pid, err)
	}
	defer windows.CloseHandle(ev)
	stop := afterFunc(ctx, func() { windows.SetEvent(ev) })
	defer stop()
	r, err := windows.WaitForMultipleObjects([]windows.Handle{h, ev}, false, windows.INFINITE)
	switch r {
	case windows.WAIT_OBJECT_0:
		return nil
	case windows.WAIT_OBJECT_0 + 1:
		if exited, _ := waitObject(h, 0); exited {
			return nil
		}
		return waitErr(pid, ctx)
	}
	if err == nil {
		err = fmt.Errorf("unexpected wait result %#x", r)
	}
	return fmt.Errorf("pid %d: WaitForMultipleObjects: %w", pid, err)
}

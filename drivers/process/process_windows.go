//go:build windows

package process

// Starting a tree: a suspended leader in a new console process group and
// a new Job Object, then resumed. The rest of the Windows side is split by
// concern: job_windows.go (Job Objects, the kill), identity_windows.go
// (pids, start times, handles), signal_windows.go (Interrupt, Terminate)
// and exitwatch_windows.go (waiting for an exit).

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

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

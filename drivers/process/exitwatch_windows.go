//go:build windows

package process

// Exit watching: waiting on a process handle, bounded, with a timeout
// that is never taken for success.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows"

	"github.com/lifeline-vm/lifeline/drivers"
)

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

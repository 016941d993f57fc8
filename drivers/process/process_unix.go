//go:build unix

package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lifeline-vm/lifeline/drivers"
)

// defaultSignals are the signals an agent must not inherit as ignored.
var defaultSignals = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM}

// startTree starts p.cmd as the leader of a new process group, with default
// dispositions for defaultSignals (see the package doc), and records its
// identity.
func startTree(p *Process, _ string) error {
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := withDefaultSignals(p.cmd.Start); err != nil {
		return err
	}
	pid := p.cmd.Process.Pid
	// The leader is our unreaped child: its pid cannot be reused yet, so
	// this reads its own identity.
	live, _, err := identify(pid)
	if err != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		return fmt.Errorf("pid %d: identity: %w", pid, err)
	}
	live.Group = pid
	p.Proc = live
	p.reap()
	return nil
}

// withDefaultSignals runs start (a fork and exec) so that the child begins
// with SIG_DFL for every signal of defaultSignals that this process ignores:
// while start runs, the signal is handled by Go (and what arrives is
// dropped), and a handled signal is reset to SIG_DFL in the child.
func withDefaultSignals(start func() error) error {
	startMu.Lock()
	defer startMu.Unlock()
	var ignored []os.Signal
	for _, s := range defaultSignals {
		if signal.Ignored(s) {
			ignored = append(ignored, s)
		}
	}
	if len(ignored) == 0 {
		return start()
	}
	drop := make(chan os.Signal, 1)
	signal.Notify(drop, ignored...)
	defer func() {
		signal.Stop(drop)
		signal.Ignore(ignored...) // as it was before
	}()
	return start()
}

// interrupt sends SIGINT to p's group.
func interrupt(p drivers.Proc) error { return signalGroup(p, unix.SIGINT) }

// terminate sends SIGTERM to p's group.
func terminate(p drivers.Proc) error { return signalGroup(p, unix.SIGTERM) }

// freeze sends SIGSTOP to p's group and waits until every member is
// stopped or dead (see Freeze).
func freeze(ctx context.Context, p drivers.Proc) error {
	if err := signalGroup(p, unix.SIGSTOP); err != nil {
		return err
	}
	pgid := group(p)
	return pollUntil(ctx, p.PID, func() (bool, error) { return groupStopped(pgid) })
}

// group is the process group recorded for p.
func group(p drivers.Proc) int {
	if p.Group > 0 {
		return p.Group
	}
	return p.PID
}

// checkGroup refuses groups 0 and 1 (kill(0, sig) signals our own group and
// kill(-1, sig) every process we may signal) and our own group: a recorded
// process that never got a group of its own must not take the daemon down.
func checkGroup(p drivers.Proc, pgid int) error {
	if pgid <= 1 || pgid == unix.Getpgrp() {
		return fmt.Errorf("pid %d: refusing to signal process group %d", p.PID, pgid)
	}
	return nil
}

// signalGroup sends sig to p's group if p still runs with its identity.
func signalGroup(p drivers.Proc, sig unix.Signal) error {
	if err := Check(p); err != nil {
		return err
	}
	pgid := group(p)
	if err := checkGroup(p, pgid); err != nil {
		return err
	}
	if err := unix.Kill(-pgid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pid %d: group %d: %w", p.PID, pgid, ErrGone)
		}
		return fmt.Errorf("pid %d: %s to group %d: %w", p.PID, unix.SignalName(sig), pgid, err)
	}
	return nil
}

// killTree sends SIGKILL to p's group, when the group is still p's, and
// waits until no live member is left.
// killTreeOf is killTree: jobs and their names are Windows'.
func killTreeOf(ctx context.Context, _ []string, p drivers.Proc) error {
	return killTree(ctx, "", p)
}

func killTree(ctx context.Context, _ string, p drivers.Proc) error {
	pgid := group(p)
	if err := checkGroup(p, pgid); err != nil {
		return err
	}
	live, _, err := identify(p.PID)
	switch {
	case err == nil && match(p, live) == nil:
		// The leader (alive or a zombie, which still holds the group's
		// number) is ours.
	case err == nil:
		// The pid names another process. Its number was free, so our
		// group had no member left: nothing of ours runs.
		return nil
	case errors.Is(err, ErrGone):
		// The leader is gone; what may be left is its group.
		ours, err := leftovers(p, pgid)
		if err != nil || !ours {
			return err
		}
	default:
		return fmt.Errorf("pid %d: kill tree: %w", p.PID, err)
	}
	if err := unix.Kill(-pgid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("pid %d: SIGKILL to group %d: %w", p.PID, pgid, err)
	}
	err = pollUntil(ctx, p.PID, func() (bool, error) {
		alive, err := groupAlive(pgid)
		return !alive, err
	})
	if errors.Is(err, ErrTimeout) {
		return fmt.Errorf("pid %d: group %d: %w: %w", p.PID, pgid, ErrSurvived, err)
	}
	return err
}

// leftovers reports whether the group pgid of the exited leader p still has
// live members, all started no earlier than p (so they are p's descendants,
// not a later group that reused the number).
func leftovers(p drivers.Proc, pgid int) (bool, error) {
	members, err := groupMembers(pgid)
	if err != nil {
		return false, fmt.Errorf("pid %d: group %d: %w", p.PID, pgid, err)
	}
	if len(members) == 0 {
		return false, nil
	}
	for _, m := range members {
		if m.StartTime < p.StartTime || (p.BootID != "" && m.BootID != "" && m.BootID != p.BootID) {
			return false, nil // not our group: never signal it
		}
	}
	return true, nil
}

// groupAlive reports whether group pgid has a member that is not a zombie.
func groupAlive(pgid int) (bool, error) {
	if err := unix.Kill(-pgid, 0); errors.Is(err, unix.ESRCH) {
		return false, nil
	}
	members, err := groupMembers(pgid)
	if err != nil {
		return false, fmt.Errorf("group %d: %w", pgid, err)
	}
	return len(members) > 0, nil
}

package agentsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// readyLine is what a driver child prints on stdout once its signals are
// set up. Before it, a SIGINT or SIGTERM would kill the child whatever the
// knobs say, so its pid is published in qemu.pid only after it, just as QEMU
// writes its pid file once it is up.
const readyLine = "ready\n"

// driver is a running driver child: the stand-in for QEMU.
type driver struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait has returned: the child is reaped
	// state is how the child ended ("exit status 0", "signal: killed");
	// read only after done is closed.
	state string
	out   *output // where to log an escalation
}

// startDriver starts argv in its own process group (Setpgid on unix,
// CREATE_NEW_PROCESS_GROUP on Windows) and waits, at most
// [DriverReadyTimeout], for its [readyLine]. Its stdin and stderr are the
// null device and its stdout a pipe the agent closes once the child is
// ready, so it holds none of the agent's own files open. It uses plain
// exec.Command: nothing the agent does kills the child except an explicit
// stop, exactly like QEMU under a hostagent.
func startDriver(argv []string, out *output) (*driver, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start driver child: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = newGroupAttr()
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("start driver child: %w", err)
	}
	d := &driver{cmd: cmd, done: make(chan struct{}), out: out}
	go func() {
		_ = cmd.Wait() // being reaped is what matters; the status is logged
		d.state = cmd.ProcessState.String()
		close(d.done)
	}()
	ready := make(chan error, 1)
	go func() {
		buf := make([]byte, len(readyLine))
		_, err := io.ReadFull(r, buf)
		if err == nil && string(buf) != readyLine {
			err = fmt.Errorf("said %q", buf)
		}
		ready <- err
	}()
	t := time.NewTimer(DriverReadyTimeout)
	defer t.Stop()
	select {
	case err = <-ready:
	case <-t.C:
		err = fmt.Errorf("%w after %v", errNotReady, DriverReadyTimeout)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("driver child %d not ready: %w", d.pid(), err), d.kill())
	}
	return d, nil
}

var errNotReady = errors.New("no ready line")

func (d *driver) pid() int { return d.cmd.Process.Pid }

func (d *driver) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop asks the driver's group to end (SIGINT; CTRL_BREAK on Windows),
// waits [DriverStopTimeout], then kills it.
func (d *driver) stop() error {
	if d.exited() {
		return nil
	}
	if err := interruptGroup(d.cmd.Process); err == nil {
		t := time.NewTimer(DriverStopTimeout)
		defer t.Stop()
		select {
		case <-d.done:
			return nil
		case <-t.C:
			d.out.logf("warning", "driver child %d still running %v after SIGINT, killing it", d.pid(), DriverStopTimeout)
		}
	}
	return d.kill()
}

// kill kills the driver's group and waits [DriverKillTimeout] for it to be
// reaped. A group already gone is success.
func (d *driver) kill() error {
	if d.exited() { // reaped: its pid and group may belong to someone else now
		return nil
	}
	if err := killGroup(d.cmd.Process); err != nil {
		return fmt.Errorf("kill driver child %d: %w", d.pid(), err)
	}
	t := time.NewTimer(DriverKillTimeout)
	defer t.Stop()
	select {
	case <-d.done:
		return nil
	case <-t.C:
		return fmt.Errorf("driver child %d: %w after %v", d.pid(), ErrDriverSurvived, DriverKillTimeout)
	}
}

// RunDriver is the driver child's main: it sets up SIGINT and SIGTERM as
// cfg says (so LIFELINE_SIM_IGNORE_* reach it too), tells the agent it is
// ready by writing a line to ready (its stdout, a pipe from the agent), then
// waits for a signal or ctx and returns nil. With both signals ignored only
// a kill ends it.
func RunDriver(ctx context.Context, cfg Config, ready io.Writer) error {
	sigs, stop := notifySignals(cfg)
	defer stop()
	if _, err := io.WriteString(ready, readyLine); err != nil {
		return fmt.Errorf("driver child: tell the agent: %w", err)
	}
	select {
	case <-sigs:
	case <-ctx.Done():
	}
	return nil
}

package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/internal/daemon"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// crashGraceful is the daemons' graceful timeout in the crash suite.
const crashGraceful = time.Second

// settleWait bounds how long the suite waits for VMs to settle after a
// restart: the recorded deadlines are at most crashGraceful away.
const settleWait = 30 * time.Second

// daemonProc is a lifeline daemon started by a test.
type daemonProc struct {
	cmd    *exec.Cmd
	home   string
	c      *client.Client
	exited chan error
}

func startDaemon(t testing.TB, home string, env ...string) *daemonProc {
	t.Helper()
	return startDaemonArgs(t, home, nil, env...)
}

// startDaemonArgs is startDaemon with more flags for the daemon (the
// fleet's, say).
func startDaemonArgs(t testing.TB, home string, args []string, env ...string) *daemonProc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(home, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(lifelineBin, "daemon", "--data-dir", home,
		"--lima-home", filepath.Join(home, "lima"),
		"--hostagent-cmd", lifelineBin+" agent-sim",
		"--graceful-timeout", crashGraceful.String(), "--log-format", "json")
	cmd.Args = append(cmd.Args, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{cmd: cmd, home: home, c: client.New(filepath.Join(home, api.SocketName)), exited: make(chan error, 1)}
	done := make(chan struct{})
	go func() { d.exited <- cmd.Wait(); close(done) }()
	// Whatever the test did, the daemon does not outlive it: SIGINT stops
	// its VMs; a daemon that will not go is killed.
	t.Cleanup(func() {
		select {
		case <-done:
			return
		default:
		}
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(settleWait):
			_ = cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(daemonWait)
	for {
		info, err := d.c.Info(context.Background())
		if err == nil && info.PID == cmd.Process.Pid {
			return d
		}
		select {
		case err := <-d.exited:
			t.Fatalf("daemon exited at start: %v\n%s", err, readLog(home))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not up after %v\n%s", daemonWait, readLog(home))
		}
	}
}

func readLog(home string) string {
	b, _ := os.ReadFile(filepath.Join(home, "daemon.log"))
	return string(b)
}

// stop sends SIGTERM (the daemon stops every VM) and waits, bounded.
func (d *daemonProc) stop(t testing.TB) {
	t.Helper()
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.exited:
	case <-time.After(settleWait):
		_ = d.cmd.Process.Kill()
		t.Fatalf("daemon did not exit within %v of SIGINT", settleWait)
	}
}

// dead reports whether the daemon is gone (crashed by the hook), waiting
// up to wait.
func (d *daemonProc) dead(wait time.Duration) bool {
	select {
	case <-d.exited:
		return true
	case <-time.After(wait):
		return false
	}
}

// acked is a transition the daemon acknowledged to its client.
type acked struct {
	seq uint64
	vm  string
	to  string
}

// lifecycleSteps runs the suite's lifecycle against d, stopping at the
// first error (the daemon crashed), and returns what was acknowledged.
// vm1's agent ignores SIGINT; vm2's takes a while to come up, so it is
// stopped (and started again) while Starting.
func lifecycleSteps(ctx context.Context, c *client.Client) ([]acked, error) {
	var out []acked
	ack := func(r api.Result, err error) error {
		if err == nil {
			out = append(out, acked{r.Seq, r.Name, string(r.State)})
		}
		return err
	}
	wait := func(name, state string, since uint64) error {
		_, err := c.Wait(ctx, name, api.State(state), client.WaitOptions{Since: since, Timeout: settleWait})
		return err
	}
	last := func() uint64 { return out[len(out)-1].seq }
	steps := []func() error{
		func() error {
			return ack(c.Create(ctx, "vm1", api.Spec{Ready: "agent", Env: map[string]string{"LIFELINE_SIM_IGNORE_SIGINT": "1"}}))
		},
		func() error {
			return ack(c.Create(ctx, "vm2", api.Spec{Ready: "agent", Env: map[string]string{"LIFELINE_SIM_START_DELAY": "300ms"}}))
		},
		func() error { return ack(c.Start(ctx, "vm1")) },
		func() error { return wait("vm1", "Running", last()) },
		func() error { return ack(c.Stop(ctx, "vm1", false)) }, // ignored → forced at the deadline
		func() error { return wait("vm1", "Stopped", last()) },
		func() error { return ack(c.Start(ctx, "vm2")) },
		func() error { return ack(c.Stop(ctx, "vm2", false)) }, // stop while Starting
		func() error { return wait("vm2", "Stopped", last()) },
		func() error { return ack(c.Start(ctx, "vm1")) },
		func() error { return wait("vm1", "Running", last()) },
		func() error { return ack(c.Stop(ctx, "vm1", true)) },
		func() error { return wait("vm1", "Stopped", last()) },
		func() error { return ack(c.Delete(ctx, "vm1")) },
		func() error { return ack(c.Start(ctx, "vm2")) },
		func() error {
			// start while Starting: rejected by the state (exit 3 in the CLI)
			_, err := c.Start(ctx, "vm2")
			var ae *client.Error
			if errors.As(err, &ae) && ae.Code == api.CodeRejected {
				return nil
			}
			if err == nil {
				return fmt.Errorf("start while Starting was accepted")
			}
			return err
		},
		func() error { return wait("vm2", "Running", last()) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return out, fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	return out, nil
}

// TestCrashPoints runs the lifecycle once cleanly to count its writes,
// then once per write with the daemon SIGKILLing itself right after that
// write, restarts it, and checks that every VM converges to the state its
// log implies, no acknowledged transition is missing, the log verifies,
// and after a final stop no process of any agent or its driver child is
// left.
func TestCrashPoints(t *testing.T) {
	home := shortTemp(t)
	d := startDaemon(t, home)
	if _, err := lifecycleSteps(context.Background(), d.c); err != nil {
		t.Fatalf("clean run: %v\n%s", err, readLog(home))
	}
	d.stop(t)
	total := countRecords(t, home)
	checkNothingRuns(t, home)
	t.Logf("the lifecycle and the daemon's shutdown write %d records; crashing after each", total)

	tried := 0
	for n := 1; n <= total; n++ {
		t.Run(fmt.Sprintf("after-write-%d", n), func(t *testing.T) {
			tried++
			home := shortTemp(t)
			d := startDaemon(t, home, fmt.Sprintf("%s=%d", daemon.EnvCrashAfterWrites, n))
			ctx, cancel := context.WithTimeout(context.Background(), 2*settleWait)
			acks, err := lifecycleSteps(ctx, d.c)
			cancel()
			if err == nil {
				// The lifecycle is done; the crash point lies in the
				// daemon's shutdown, which stops the VMs still running.
				_ = d.cmd.Process.Signal(os.Interrupt)
				if !d.dead(settleWait) {
					t.Fatalf("the daemon did not exit after SIGINT (crash point %d)", n)
				}
			} else if !d.dead(settleWait) {
				t.Fatalf("lifecycle failed without a crash: %v\n%s", err, readLog(home))
			}

			d = startDaemon(t, home)
			settled := waitSettled(t, d.c)
			d.stop(t)

			recs := readRecords(t, home)
			have := map[uint64]store.Record{}
			for _, r := range recs {
				have[r.Seq] = r
			}
			for _, a := range acks {
				r, ok := have[a.seq]
				if !ok || r.VM != a.vm || r.To.String() != a.to {
					t.Errorf("acknowledged %s → %s at seq %d is not in the log (log has %+v)", a.vm, a.to, a.seq, r)
				}
			}
			checkLog(t, home)
			keepDB(t, home, n)
			for vm, s := range settled {
				if s.InFlight() {
					t.Errorf("vm %s still %s after recovery", vm, s)
				}
			}
			checkNothingRuns(t, home)
		})
	}
	t.Logf("tried %d crash points", tried)
}

// waitSettled waits until no VM is in flight and returns every VM's state.
func waitSettled(t *testing.T, c *client.Client) map[string]states.State {
	t.Helper()
	deadline := time.Now().Add(settleWait)
	for {
		vms, err := c.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]states.State{}
		busy := false
		for _, v := range vms {
			s, _ := states.ParseState(string(v.State))
			out[v.Name] = s
			busy = busy || s.InFlight()
		}
		if !busy {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("VMs still in flight after %v: %v", settleWait, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readRecords(t *testing.T, home string) []store.Record {
	t.Helper()
	st, err := store.OpenReadOnly(filepath.Join(home, daemon.DBName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []store.Record
	if err := st.Records(0, func(r store.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func countRecords(t *testing.T, home string) int { return len(readRecords(t, home)) }

// checkLog runs the store's consistency check over the database.
func checkLog(t *testing.T, home string) {
	t.Helper()
	st, err := store.OpenReadOnly(filepath.Join(home, daemon.DBName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Errorf("the log does not verify: %v", err)
	}
}

// checkNothingRuns proves that no process the log ever named still runs.
func checkNothingRuns(t *testing.T, home string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var alive []string
		for _, r := range readRecords(t, home) {
			for _, p := range []store.Proc{r.Agent, r.VMProcess} {
				if p.IsZero() {
					continue
				}
				if process.Check(p) == nil {
					alive = append(alive, fmt.Sprintf("%s pid %d", r.VM, p.PID))
				}
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left behind: %s", strings.Join(alive, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shortTemp is a temp dir with a short path (unix socket paths are short),
// removed after the test.
func shortTemp(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ll")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// keepDB copies a crash point's database to $LIFELINE_CRASH_DBS, when set,
// for lifeline replay: after-write-N.db.
func keepDB(t *testing.T, home string, n int) {
	dir := os.Getenv("LIFELINE_CRASH_DBS")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(filepath.Join(home, daemon.DBName))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("after-write-%d.db", n)), b, 0o600)
	}
	if err != nil {
		t.Errorf("keep database: %v", err)
	}
}

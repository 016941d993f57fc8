package heavy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/internal/agentsim"
	"github.com/lifeline-vm/lifeline/internal/cli"
	"github.com/lifeline-vm/lifeline/internal/timefmt"
	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/store"
)

// Demo timings: short enough that the whole tour takes seconds.
const (
	demoGraceful   = 3 * time.Second
	demoCrashAfter = 2 * time.Second
	demoStepWait   = 20 * time.Second // bound of every wait in the demo
)

type demoOptions struct {
	keep bool
	loc  *time.Location // where times are shown (--utc)
}

func newDemoCommand(g *cli.Globals) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "A one-minute tour: real agents, a crash, a forced stop, a killed daemon, recovery",
		Long: `demo runs a daemon in a temporary data dir with lifeline's stand-in
host agent (lifeline agent-sim, real processes speaking Lima's protocol),
creates three VMs, shows one crashing and one that ignores SIGINT being
force-stopped at its deadline, kills its own daemon with SIGKILL in the
middle of that stop, restarts it, shows recovery adopting the live agent
and finishing the stop, and prints the timeline. It leaves no process
behind; --keep leaves the data dir for lifeline replay.`,
		Args: cli.ExactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.loc = g.Location()
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&o.keep, "keep", false, "keep the data dir")
	return cmd
}

// demo is one run of the tour.
type demo struct {
	out    io.Writer
	self   string
	dir    string
	daemon *exec.Cmd
	// daemonExited delivers the daemon's exit.
	daemonExited chan error
	c            *client.Client
	start        time.Time
	loc          *time.Location
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "%6.1fs  %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (o *demoOptions) run(ctx context.Context, out io.Writer) (err error) {
	// `lifeline demo | head` closes our stdout early; the default SIGPIPE
	// would kill the demo before its cleanup and leave its daemon and
	// agents running. Ignored, a write fails instead and cleanup runs.
	signal.Ignore(syscall.SIGPIPE)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(shortTempRoot(), "lifeline-demo-")
	if err != nil {
		return err
	}
	d := &demo{out: out, self: self, dir: dir, c: client.New(filepath.Join(dir, api.SocketName)), start: time.Now(), loc: o.loc}
	defer func() {
		err = errors.Join(err, d.cleanup(o.keep))
	}()
	fmt.Fprintf(out, "lifeline demo: three VMs on stand-in Lima host agents (lifeline agent-sim)\ndata dir %s\n\n", dir)

	if err := d.startDaemon(ctx); err != nil {
		return err
	}
	vms := []struct {
		name, what string
		env        map[string]string
	}{
		{"web", "a well-behaved agent", nil},
		{"db", "its agent ignores SIGINT", map[string]string{agentsim.EnvIgnoreSIGINT: "1"}},
		{"flaky", fmt.Sprintf("its agent crashes %v after it is up", demoCrashAfter), map[string]string{agentsim.EnvCrashAfter: demoCrashAfter.String()}},
	}
	for _, vm := range vms {
		if _, err := d.c.Create(ctx, vm.name, api.Spec{Env: vm.env, Ready: api.ReadyAgent}); err != nil {
			return err
		}
		d.say("created %-5s (%s)", vm.name, vm.what)
	}
	for _, vm := range vms {
		r, err := d.c.Start(ctx, vm.name)
		if err != nil {
			return err
		}
		if err := cli.Settle(ctx, d.c, api.Result{Name: vm.name, Seq: r.Seq, State: r.State}, api.Running, demoStepWait); err != nil {
			return err
		}
		v, err := d.c.Status(ctx, vm.name)
		if err != nil {
			return err
		}
		d.say("%-5s Running: host agent pid %d, its VM driver (the QEMU stand-in) pid %d", vm.name, v.HostAgentPID, v.VMProcessPID)
	}

	v, err := d.c.Wait(ctx, "flaky", api.Broken, client.WaitOptions{Timeout: demoStepWait})
	if err != nil {
		return err
	}
	d.say("flaky crashed → %s: %s", v.State, v.Reason)

	r, err := d.c.Stop(ctx, "db", false)
	if err != nil {
		return err
	}
	db, err := d.c.Status(ctx, "db")
	if err != nil {
		return err
	}
	d.say("stop db → %s; SIGINT sent, graceful deadline %s", db.State, timefmt.Clock(db.Deadline, d.loc))
	d.say("SIGKILL the daemon (pid %d) while db is Stopping", d.daemon.Process.Pid)
	if err := d.killDaemon(); err != nil {
		return err
	}
	if err := d.startDaemon(ctx); err != nil {
		return err
	}
	web, err := d.c.Status(ctx, "web")
	if err != nil {
		return err
	}
	d.say("recovery: web %s (%s: host agent pid %d still alive)", web.State, web.Event, web.HostAgentPID)
	db, err = d.c.Status(ctx, "db")
	if err != nil {
		return err
	}
	d.say("recovery: db still %s, escalates at its recorded deadline %s", db.State, timefmt.Clock(db.Deadline, d.loc))
	if err := cli.Settle(ctx, d.c, api.Result{Name: "db", Seq: r.Seq, State: r.State}, api.Stopped, demoGraceful+demoStepWait); err != nil {
		return err
	}
	db, err = d.c.Status(ctx, "db")
	if err != nil {
		return err
	}
	d.say("db → %s: %s", db.State, db.Reason)

	d.say("stopping the daemon (SIGTERM): it stops web; then the timeline")
	if err := d.stopDaemon(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	if err := d.timeline(); err != nil {
		return err
	}
	return d.checkNothingLeft()
}

// maxDemoRoot bounds the length of the demo's temp root: Lima's instance
// sockets live in <data dir>/lima/<vm>/ and a unix socket path has about
// 104 bytes.
const maxDemoRoot = 32

// shortTempRoot is the OS's temp dir, or /tmp when that is too long for
// sockets (macOS's TMPDIR, a test's work dir).
func shortTempRoot() string {
	if d := os.TempDir(); len(d) <= maxDemoRoot {
		return d
	}
	if fi, err := os.Stat("/tmp"); err == nil && fi.IsDir() {
		return "/tmp"
	}
	return os.TempDir()
}

// startDaemon runs the demo's daemon (lifelined cli demo-daemon: the
// daemon without Lima's template check, disk preparation and metrics,
// which agent-sim VMs do not need) on the demo's data dir and waits for
// its socket.
func (d *demo) startDaemon(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(d.dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(d.self, cli.EntryVerb, cli.DemoDaemonVerb, // tree.go
		"--data-dir", d.dir,
		"--lima-home", filepath.Join(d.dir, "lima"),
		"--hostagent-cmd", d.self+" "+cli.EntryVerb+" agent-sim",
		"--graceful-timeout", demoGraceful.String(),
		"--log-format", "json", "--log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	d.daemon = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(demoStepWait)
	for {
		info, err := d.c.Info(ctx)
		if err == nil && info.PID == cmd.Process.Pid {
			d.say("daemon pid %d up (boot %d)", info.PID, info.Boot)
			d.daemonExited = exited
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("daemon exited at start (%v); see %s", err, filepath.Join(d.dir, "daemon.log"))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon not answering on its socket after %v", demoStepWait)
		}
	}
}

// killDaemon SIGKILLs the daemon: no shutdown, the agents stay.
func (d *demo) killDaemon() error {
	if err := d.daemon.Process.Kill(); err != nil {
		return fmt.Errorf("kill daemon: %w", err)
	}
	<-d.daemonExited
	d.daemon = nil
	return nil
}

// stopDaemon sends SIGTERM and waits: the daemon stops every VM first.
func (d *demo) stopDaemon() error {
	if d.daemon == nil {
		return nil
	}
	if err := d.daemon.Process.Signal(os.Interrupt); err != nil {
		return fmt.Errorf("stop daemon: %w", err)
	}
	select {
	case err := <-d.daemonExited:
		d.daemon = nil
		if err != nil {
			return fmt.Errorf("daemon exited with %v; see %s", err, filepath.Join(d.dir, "daemon.log"))
		}
		return nil
	case <-time.After(demoGraceful + demoStepWait):
		return fmt.Errorf("daemon still running %v after SIGINT", demoGraceful+demoStepWait)
	}
}

// records reads the demo's log straight from the database (the daemon is
// gone by then).
func (d *demo) records() ([]store.Record, error) {
	st, err := store.OpenReadOnly(filepath.Join(d.dir, "lifeline.db"), store.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []store.Record
	err = st.Records(0, func(r store.Record) error { out = append(out, r); return nil })
	return out, err
}

func (d *demo) timeline() error {
	recs, err := d.records()
	if err != nil {
		return err
	}
	fmt.Fprintln(d.out, "the log (lifeline replay timeline --db <dir>/lifeline.db tells it in full):")
	boot := uint64(0)
	for _, r := range recs {
		if r.Boot != boot {
			boot = r.Boot
			fmt.Fprintf(d.out, "  ── daemon boot %d ──\n", boot)
		}
		fmt.Fprintf(d.out, "  %s\n", cli.FormatRecord(server.RecordOf(r), d.loc))
	}
	return nil
}

// checkNothingLeft proves that no process the log ever named still runs.
func (d *demo) checkNothingLeft() error {
	recs, err := d.records()
	if err != nil {
		return err
	}
	seen := map[store.Proc]bool{}
	var alive []string
	for _, r := range recs {
		for _, p := range []store.Proc{r.Agent, r.VMProcess} {
			if p.IsZero() || seen[p] {
				continue
			}
			seen[p] = true
			err := process.Check(p)
			if err == nil {
				alive = append(alive, fmt.Sprintf("%s pid %d", r.VM, p.PID))
			}
		}
	}
	if len(alive) > 0 {
		return fmt.Errorf("processes left behind: %v", alive)
	}
	fmt.Fprintf(d.out, "\nno process left behind: all %d processes the log named are gone\n", len(seen))
	return nil
}

// cleanup stops what the demo started, whatever happened, and removes the
// data dir unless asked to keep it.
func (d *demo) cleanup(keep bool) error {
	var errs []error
	if d.daemon != nil {
		errs = append(errs, d.stopDaemon())
	}
	if recs, err := d.records(); err == nil {
		for _, r := range recs {
			for _, p := range []store.Proc{r.Agent, r.VMProcess} {
				if !p.IsZero() {
					_ = process.KillTree(context.Background(), r.VM, p)
				}
			}
		}
	}
	if keep {
		fmt.Fprintf(d.out, "kept %s (try: lifeline replay timeline --db %s)\n", d.dir, filepath.Join(d.dir, "lifeline.db"))
	} else {
		errs = append(errs, os.RemoveAll(d.dir))
	}
	return errors.Join(errs...)
}

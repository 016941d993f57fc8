package cli

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/internal/cli/vmtext"
)

func TestCloseNames(t *testing.T) {
	verbs := []string{"start", "stop", "status", "restart", "reset", "replay", "list", "ls"}
	for _, c := range []struct {
		typed string
		want  []string
	}{
		{"strat", []string{"start"}},
		{"stpo", []string{"stop"}},
		{"lst", []string{"list", "ls"}},
		{"zzzzzz", []string{}},
		{"rest", []string{"reset", "restart"}},
	} {
		if got := closeNames(c.typed, verbs); !slices.Equal(got, c.want) {
			t.Errorf("closeNames(%q) = %q, want %q", c.typed, got, c.want)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	for args, want := range map[string]bool{
		"status vm1 -o json":       true,
		"status vm1 -ojson":        true,
		"status vm1 --output=json": true,
		"status vm1 -o text":       false,
		"create x -- prog -o json": false,
	} {
		if got := wantsJSON(splitArgs(args)); got != want {
			t.Errorf("wantsJSON(%q) = %v", args, got)
		}
	}
}

func splitArgs(s string) []string {
	var out []string
	cur := ""
	for _, r := range s + " " {
		if r == ' ' {
			if cur != "" {
				out = append(out, cur)
			}
			cur = ""
			continue
		}
		cur += string(r)
	}
	return out
}

// TestExitCodes: a wait the user interrupted is 130, not a timeout; the
// combined code of several VMs is theirs when they agree, else 1.
func TestExitCodes(t *testing.T) {
	rejected := &client.Error{ErrorBody: api.ErrorBody{Code: api.CodeRejected}}
	notFound := &client.Error{ErrorBody: api.ErrorBody{Code: api.CodeNotFound}}
	for _, c := range []struct {
		err  error
		want int
	}{
		{interruptedError{errors.New("x")}, exitInterrupted},
		{timeoutError{err: errors.New("x")}, exitTimeout},
		{hintError{"x", rejected}, exitRejected},
		{multiError{failed: []error{rejected, rejected}, total: 3}, exitRejected},
		{multiError{failed: []error{rejected, notFound}, total: 2}, exitError},
		{vmError{err: errors.New("x")}, exitError},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%#v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestStepCountdown: the escalation step of a stop, as a deadline and as
// a countdown.
func TestStepCountdown(t *testing.T) {
	g := &Globals{utc: true}
	at := time.Date(2026, 1, 2, 18, 18, 1, 0, time.UTC)
	r := api.Record{VM: "slow", To: api.Stopping, Event: api.EventStop, Time: at, Deadline: at.Add(30 * time.Second)}
	if got, want := step(g, r, time.Time{}), "SIGINT sent; SIGTERM at 2026-01-02 18:18:31 UTC if still running"; got != want {
		t.Errorf("step = %q, want %q", got, want)
	}
	if got, want := step(g, r, at.Add(8*time.Second)), "SIGINT sent 8s ago; SIGTERM in 22s if still running"; got != want {
		t.Errorf("step = %q, want %q", got, want)
	}
	v := api.VM{Name: "slow", State: api.Stopping, Since: at, Deadline: r.Deadline}
	if got, want := vmtext.Pending(v, at.Add(8*time.Second)), "SIGTERM in 22s"; got != want {
		t.Errorf("pending = %q, want %q", got, want)
	}
}

// TestStatusShowsLimaDegraded: status shows what the daemon says of the
// VM's files and of its agent while it runs: the instance directory, the
// agent's log files, Lima's degraded flag and errors (issue 12 item 6),
// and an agent error that is not degraded on its own line.
func TestStatusShowsLimaDegraded(t *testing.T) {
	g := &Globals{dataDir: t.TempDir()} // holds no lima-home record: nothing is guessed from it
	inst := filepath.Join("/lima", "vm1")
	at := time.Date(2026, 12, 1, 0, 0, 5, 0, time.UTC)
	v := api.VM{Name: "vm1", State: api.Running, Driver: driverLima, InstanceDir: inst,
		AgentLogs: []string{filepath.Join(inst, "ha.stderr.log"), filepath.Join(inst, "ha.stdout.log")},
		Degraded:  true, AgentError: "degraded: guest agent does not seem to be running", AgentErrorAt: at}
	var out bytes.Buffer
	if err := vmtext.Status(&out, g.times(), v, at); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"instance:   " + inst + "\n",
		"agent logs: " + filepath.Join(inst, "ha.stderr.log") + ", " + filepath.Join(inst, "ha.stdout.log") + " (`lifeline logs vm1`)\n",
		"degraded:   yes, since " + g.when(at) + " (the agent said so while Running",
		"agent says: degraded: guest agent does not seem to be running\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status printed:\n%s\nwant %q", out.String(), want)
		}
	}

	out.Reset()
	v.Degraded, v.AgentError = false, "boom"
	if err := vmtext.Status(&out, g.times(), v, at); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "degraded:") || !strings.Contains(s, "agent says: boom (at "+g.when(at)+", while Running") {
		t.Errorf("status of an agent error, not degraded:\n%s", s)
	}
}

// TestListShowsDegraded: list shows a VM whose agent says it runs only
// partly (Lima's degraded flag) as "Running (degraded)", as fleet list
// does; the table had no word of it (status and the JSON had).
func TestListShowsDegraded(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	vms := []api.VM{
		{Name: "vm1", State: api.Running, Since: now, Degraded: true, AgentError: "degraded: port forwarding failed", AgentErrorAt: now},
		{Name: "vm2", State: api.Running, Since: now},
	}
	var list bytes.Buffer
	if err := vmtext.List(&list, vms, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(list.String(), "\n")
	if f := strings.Fields(lines[1]); len(f) < 3 || f[0] != "vm1" || f[1] != "Running" || f[2] != "(degraded)" {
		t.Errorf("list's line of a degraded VM: %q, want vm1 Running (degraded)", lines[1])
	}
	if strings.Contains(lines[2], "degraded") {
		t.Errorf("list's line of a VM that is not degraded: %q", lines[2])
	}
}

// TestListNamesTheProcessesAsStatusDoes: list's columns of a VM's two
// pids say what they are, as status's lines do ("host agent:", "vm
// process:"); the VM process's column was "DRIVER", which status uses
// for the driver's name ("lima").
func TestListNamesTheProcessesAsStatusDoes(t *testing.T) {
	g := &Globals{}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	v := api.VM{Name: "vm1", State: api.Running, Since: now, Event: api.EventRunning, HostAgentPID: 11, VMProcessPID: 22, Driver: "lima"}
	var list, status bytes.Buffer
	if err := vmtext.List(&list, []api.VM{v}, now); err != nil {
		t.Fatal(err)
	}
	if err := vmtext.Status(&status, g.times(), v, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(list.String(), "\n")
	for _, col := range []struct{ header, label, value string }{{"HOST AGENT", "host agent:", "11"}, {"VM PROCESS", "vm process:", "22"}} {
		at := strings.Index(lines[0], col.header)
		if at < 0 || len(lines[1]) < at+len(col.value) || lines[1][at:at+len(col.value)] != col.value {
			t.Errorf("list has no column %q showing %s:\n%s", col.header, col.value, list.String())
		}
		if !strings.Contains(status.String(), col.label+" "+col.value) {
			t.Errorf("status has no line %q %s:\n%s", col.label, col.value, status.String())
		}
	}
	if strings.Contains(lines[0], "DRIVER") {
		t.Errorf("list's header still says DRIVER: %s", lines[0])
	}
}

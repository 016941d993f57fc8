//go:build unix

package lima_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
)

// failedStart spawns an agent that fails at start, waits for its exit and
// cleans up after it: one start whose log is complete.
func (f *fixture) failedStart(vm string) drivers.Observation {
	f.t.Helper()
	spec := f.spec("", env{"LIFELINE_SIM_FAIL_START": "1"})
	procs := f.spawn(vm, spec)
	ex := f.watch(vm, spec, procs).wait(f.t, drivers.ObsExited)
	if err := f.d.Cleanup(context.Background(), vm); err != nil {
		f.t.Fatal(err)
	}
	return ex
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Each spawn keeps the logs of the start before as ha.*.log.1, shifting
// the older ones up, and keeps at most lima.KeptLogs of them: the log of a
// start that failed survives the restart that follows.
func TestSpawnKeepsPreviousLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	stderr := filepath.Join(f.dir("vm1"), filenames.HostAgentStderrLog)
	const starts = lima.KeptLogs + 2
	for i := 1; i <= starts; i++ {
		f.failedStart("vm1")
		appendFile(t, stderr, fmt.Sprintf("marker %d\n", i))
	}
	f.failedStart("vm1")
	cur := readFile(t, stderr)
	if strings.Contains(cur, "marker") || !strings.Contains(cur, "simulated start failure") {
		t.Errorf("current log %q: want only the last agent's lines", cur)
	}
	for n := 1; n <= lima.KeptLogs; n++ {
		kept := readFile(t, stderr+"."+strconv.Itoa(n))
		want := fmt.Sprintf("marker %d\n", starts+1-n)
		if !strings.HasSuffix(kept, want) || !strings.Contains(kept, "simulated start failure") {
			t.Errorf("%s.%d = %q: want that start's lines, ending with %q", filenames.HostAgentStderrLog, n, kept, want)
		}
	}
	if _, err := os.Stat(stderr + "." + strconv.Itoa(lima.KeptLogs+1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a log beyond the %d kept: %v", lima.KeptLogs, err)
	}
	if _, err := os.Stat(filepath.Join(f.dir("vm1"), filenames.HostAgentStdoutLog+".1")); err != nil {
		t.Errorf("the previous events log was not kept: %v", err)
	}
}

// A kept log is cut to its last lima.KeptLogBytes, at a line's start.
func TestSpawnCutsKeptLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.failedStart("vm1")
	stderr := filepath.Join(f.dir("vm1"), filenames.HostAgentStderrLog)
	var b bytes.Buffer
	last := 0
	for i := 0; b.Len() < 3*lima.KeptLogBytes; i++ {
		fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("x", 100))
		last = i
	}
	appendFile(t, stderr, b.String())
	f.failedStart("vm1")
	kept := readFile(t, stderr+".1")
	if len(kept) > lima.KeptLogBytes {
		t.Errorf("kept %d bytes, want at most %d", len(kept), lima.KeptLogBytes)
	}
	if !strings.HasPrefix(kept, "line ") {
		t.Errorf("kept log starts mid-line: %.40q", kept)
	}
	if want := fmt.Sprintf("line %d ", last); !strings.Contains(kept[len(kept)-200:], want) {
		t.Errorf("kept log lost its end: want %q near the end", want)
	}
}

// A spawn refused because the agent runs moves none of its logs.
func TestRefusedSpawnKeepsLiveLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", nil)
	procs := f.spawn("vm1", spec)
	f.watch("vm1", spec, procs).wait(t, drivers.ObsRunning)
	stderr := filepath.Join(f.dir("vm1"), filenames.HostAgentStderrLog)
	before := readFile(t, stderr)
	if _, err := f.d.Spawn(context.Background(), "vm1", spec); !errors.Is(err, lima.ErrAgentAlive) {
		t.Fatalf("second spawn: %v, want ErrAgentAlive", err)
	}
	if after := readFile(t, stderr); !strings.HasPrefix(after, before) || before == "" {
		t.Errorf("the live agent's log changed under it: %q, then %q", before, after)
	}
	if _, err := os.Stat(stderr + ".1"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused spawn rotated the live agent's log: %v", err)
	}
}

// An exit carries the host agent's own telling lines: its error lines and
// Lima's "Driver stopped due to error", which no event carries.
func TestExitQuotesAgentLog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, knob, val, want string
	}{
		{"crash", "LIFELINE_SIM_CRASH_AFTER", "200ms", "host agent log: simulated crash"},
		{"driver", "LIFELINE_SIM_EXIT_ZERO_LEAVING_DRIVER", "1", "host agent log: Driver stopped due to error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			spec := f.spec("", env{tc.knob: tc.val})
			procs := f.spawn("vm1", spec)
			ex := f.watch("vm1", spec, procs).wait(t, drivers.ObsExited)
			if !strings.Contains(ex.Reason, tc.want) {
				t.Errorf("exit reason %q: want %q", ex.Reason, tc.want)
			}
		})
	}
	// The error an event carried already is not said twice.
	f := newFixture(t)
	ex := f.failedStart("vm1")
	if n := strings.Count(ex.Reason, "simulated start failure"); n != 1 {
		t.Errorf("exit reason %q says the error %d times, want once", ex.Reason, n)
	}
}

// The excerpt is bounded: the last 3 telling lines, at most 512 bytes.
func TestExitExcerptBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.spec("", env{"LIFELINE_SIM_NEVER_RUNNING": "1"})
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	stderr := filepath.Join(f.dir("vm1"), filenames.HostAgentStderrLog)
	for i := 0; i < 10; i++ {
		appendFile(t, stderr, fmt.Sprintf(`{"level":"error","msg":"complaint %d %s"}`+"\n", i, strings.Repeat("y", 300)))
	}
	if err := f.d.KillTree(context.Background(), "vm1", procs); err != nil {
		t.Fatal(err)
	}
	ex := r.wait(t, drivers.ObsExited)
	_, x, ok := strings.Cut(ex.Reason, "host agent log: ")
	if !ok || len(x) > 512+len("…") || !strings.Contains(x, "complaint 9") || strings.Contains(x, "complaint 6") {
		t.Errorf("excerpt %q (%d bytes): want the last lines, at most 512 bytes", x, len(x))
	}
}

// syncBuf is a bytes.Buffer safe for a writer and a reader.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// AgentLog prints the current log, follows it until the agent exits, and
// prints the previous start's once a new start has kept it.
func TestAgentLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var none bytes.Buffer
	if err := f.d.AgentLog(ctx, "vm1", drivers.LogOptions{}, &none); !errors.Is(err, drivers.ErrNoLog) {
		t.Fatalf("log of a VM never started: %v, want ErrNoLog", err)
	}
	spec := f.spec("", nil)
	procs := f.spawn("vm1", spec)
	r := f.watch("vm1", spec, procs)
	r.wait(t, drivers.ObsRunning)

	var followed syncBuf
	done := make(chan error, 1)
	go func() { done <- f.d.AgentLog(ctx, "vm1", drivers.LogOptions{Follow: true}, &followed) }()
	eventually(t, "the follow printed the start", func() bool { return strings.Contains(followed.String(), "driver child started") })
	select {
	case err := <-done:
		t.Fatalf("follow ended while the agent runs: %v", err)
	default:
	}
	if err := f.d.Interrupt(ctx, "vm1", procs); err != nil {
		t.Fatal(err)
	}
	r.wait(t, drivers.ObsExited)
	eventually(t, "the follow ended with the agent", func() bool {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("follow: %v", err)
			}
			return true
		default:
			return false
		}
	})
	stderr := filepath.Join(f.dir("vm1"), filenames.HostAgentStderrLog)
	whole := readFile(t, stderr)
	if followed.String() != whole {
		t.Errorf("followed %q\nwant the whole log %q", followed.String(), whole)
	}

	// The events (ha.stdout.log) as the agent wrote them, its "exiting"
	// last.
	var evs bytes.Buffer
	if err := f.d.AgentLog(ctx, "vm1", drivers.LogOptions{Events: true}, &evs); err != nil {
		t.Fatal(err)
	}
	if want := readFile(t, filepath.Join(f.dir("vm1"), filenames.HostAgentStdoutLog)); evs.String() != want || !strings.Contains(want, `"running":true`) || !strings.HasSuffix(want, `"status":{"exiting":true}}`+"\n") {
		t.Errorf("events %q\nwant ha.stdout.log with running and exiting %q", evs.String(), want)
	}

	var prev bytes.Buffer
	if err := f.d.AgentLog(ctx, "vm1", drivers.LogOptions{Previous: true}, &prev); !errors.Is(err, drivers.ErrNoLog) {
		t.Errorf("previous log before a second start: %v, want ErrNoLog", err)
	}
	f.failedStart("vm1")
	if err := f.d.AgentLog(ctx, "vm1", drivers.LogOptions{Previous: true}, &prev); err != nil {
		t.Fatal(err)
	}
	if prev.String() != whole {
		t.Errorf("previous log %q\nwant the first start's %q", prev.String(), whole)
	}
}

package process

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/conformance"
)

// The command driver passes the driver contract's suite, its agent the
// test binary's helper modes.
func TestConformance(t *testing.T) {
	modes := map[conformance.Agent]string{
		conformance.Plain:            "sleep",
		conformance.IgnoresInterrupt: "ignore-int",
		conformance.IgnoresBoth:      "ignore-int-term",
	}
	conformance.Run(t, func(t *testing.T) conformance.Setup {
		dir := tempDir(t)
		d := NewDriver(filepath.Join(dir, "run"), exe())
		// The helper writes its pid here once its signal dispositions are
		// set: a plain command reports running before that.
		ready := func(vm string) string { return filepath.Join(dir, vm+".ready") }
		s := conformance.Setup{
			Driver: d,
			Spec: func(vm string, a conformance.Agent) drivers.Spec {
				return drivers.Spec{Env: map[string]string{envMode: modes[a], envReady: ready(vm)}}
			},
			Restart: func() drivers.Driver { return &Driver{Dir: d.Dir, Command: d.Command, Env: d.Env} },
			Settled: func(t *testing.T, vm string, _ drivers.Procs) {
				t.Helper()
				if _, err := readPID(ready(vm), testBound); err != nil {
					t.Fatalf("agent of %s not set up: %v", vm, err)
				}
			},
			Slack: StartedAtSlack,
			Grace: 300 * time.Millisecond,
			Bound: testBound,
		}
		if isWine() {
			s.NoInterrupt = "under Wine, CTRL_BREAK needs a console shared with the agent"
		}
		if isWindows() {
			s.TerminateIsFinal = "Terminate is TerminateProcess, which no process can ignore"
		}
		return s
	})
}

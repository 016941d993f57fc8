//go:build unix

package lima_test

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/conformance"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// The Lima driver passes the driver contract's suite, its host agent
// agent-sim (with its QEMU stand-in) in a LIMA_HOME of each case's own.
func TestConformance(t *testing.T) {
	knobs := map[conformance.Agent]env{
		conformance.Plain:            {},
		conformance.IgnoresInterrupt: {"LIFELINE_SIM_IGNORE_SIGINT": "1"},
		conformance.IgnoresBoth:      {"LIFELINE_SIM_IGNORE_SIGINT": "1", "LIFELINE_SIM_IGNORE_SIGTERM": "1"},
	}
	conformance.Run(t, func(t *testing.T) conformance.Setup {
		f := newFixture(t)
		return conformance.Setup{
			Driver: f.d,
			Spec:   func(_ string, a conformance.Agent) drivers.Spec { return f.spec("", knobs[a]) },
			Restart: func() drivers.Driver {
				d, err := lima.New(lima.Options{
					LimaHome:     f.home,
					HostAgentCmd: []string{lifelineBin, "agent-sim"},
					Logger:       zerolog.New(zerolog.NewTestWriter(t)),
				})
				if err != nil {
					t.Fatal(err)
				}
				return d
			},
			// agent-sim sets its signal handling before it reports
			// running: ObsRunning says it is settled.
			Slack: process.StartedAtSlack,
			// A graceful stop of agent-sim (its QEMU stand-in first) takes
			// well under this.
			Grace: 500 * time.Millisecond,
			Bound: testBound,
		}
	})
}

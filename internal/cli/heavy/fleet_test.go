package heavy

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/fleet"
)

// TestFleetListShowsDegraded: fleet list shows a VM whose agent says it
// runs only partly (Lima's degraded flag) with "(degraded)" after its
// state, and nothing after the state of one that runs whole. Before, the
// table had no word of it (the JSON always carried "degraded").
func TestFleetListShowsDegraded(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	hosts := []fleet.HostView{
		{Host: "build-1", Live: true, VMs: []api.VM{
			{Name: "runner-1", State: "Running", Since: at, Degraded: true, AgentError: "degraded: port forwarding failed", AgentErrorAt: at},
			{Name: "runner-2", State: "Running", Since: at},
		}},
		{Host: "build-2"},
	}
	var b bytes.Buffer
	if err := printFleet(&b, func(time.Time) string { return "2026-12-01 10:00:00" }, hosts); err != nil {
		t.Fatal(err)
	}
	want := `HOST     HOST STATE  VM        STATE               SINCE                REASON
build-1  up          runner-1  Running (degraded)  2026-12-01 10:00:00  
build-1  up          runner-2  Running             2026-12-01 10:00:00  
build-2  down        -         -                   -                    -
`
	if got := b.String(); got != want {
		t.Errorf("fleet list printed\n%s\nwant\n%s", strings.ReplaceAll(got, " ", "·"), strings.ReplaceAll(want, " ", "·"))
	}
}

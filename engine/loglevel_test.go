package engine

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// TestTransitionLogLevels is issue 12 item 12: a record's log line has a
// level that means something (a kill failure an error; a crash, a lost
// agent, a failed start and a forced stop warnings; the normal course
// info) and no empty fields (no pid=0, no empty reason, no cause=none).
func TestTransitionLogLevels(t *testing.T) {
	want := map[states.Event]string{
		states.KillFailed:  "error",
		states.Crashed:     "warn",
		states.Lost:        "warn",
		states.StartFailed: "warn",
		states.StopTimeout: "warn",
		states.ForceStop:   "warn",
	}
	for _, ev := range states.AllEvents() {
		var buf bytes.Buffer
		logTransition(zerolog.New(&buf), store.Record{VM: "vm1", Seq: 3, Event: ev, Boot: 1})
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("%s: %v: %q", ev, err, buf.String())
		}
		w := want[ev]
		if w == "" {
			w = "info"
		}
		if line["level"] != w {
			t.Errorf("%s logged at %v, want %s", ev, line["level"], w)
		}
		for _, f := range []string{"pid", "reason", "cause"} {
			if v, ok := line[f]; ok {
				t.Errorf("%s: empty field %s=%v logged", ev, f, v)
			}
		}
	}
	var buf bytes.Buffer
	logTransition(zerolog.New(&buf), store.Record{VM: "vm1", Event: states.Crashed, Agent: store.Proc{PID: 42}, Cause: store.Cause{Kind: store.CauseAgentExit}, Reason: "agent exited unasked"})
	for _, s := range []string{`"pid":42`, `"cause":"agent_exit"`, `"reason":"agent exited unasked"`} {
		if !bytes.Contains(buf.Bytes(), []byte(s)) {
			t.Errorf("a crash's line %q lacks %s", buf.String(), s)
		}
	}
}

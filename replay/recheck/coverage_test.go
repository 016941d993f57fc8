package recheck

import (
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// causeRecord is a record of event ev with a cause of kind k, every fact
// of the cause set, and the reason the store renders for it.
func causeRecord(ev states.Event, k store.CauseKind) store.Record {
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	r := store.Record{Seq: 9, VMSeq: 3, VM: "vm1", Event: ev, Time: t0, Boot: 1, Agent: store.Proc{PID: 1000}}
	for _, from := range states.AllStates() {
		if to, err := states.Next(from, ev); err == nil {
			r.From, r.To = from, to
			break
		}
	}
	r.Cause = store.Cause{Kind: k, Code: 3, Signal: 9, Exiting: true, Deadline: t0, PID: 1000, VMProcessPID: 1001,
		Err: "the driver's error", Detail: "the detail", N: 1, Limit: 5, Window: time.Minute, Backoff: time.Second}
	r.Reason = r.Cause.Render(ev)
	return r
}

// TestCheckKnowsEveryEventAndCause walks every event of states and every
// kind of cause of the store: the re-driver knows what input each pair
// stands for (a command, an observation, the engine's own decision). A new
// event or kind fails here until inputOf handles it.
func TestCheckKnowsEveryEventAndCause(t *testing.T) {
	for _, ev := range states.AllEvents() {
		for _, k := range store.AllCauseKinds() {
			if _, ok := inputOf(causeRecord(ev, k)); !ok {
				t.Errorf("%s/%s: check does not know what input the record stands for", ev, k)
			}
		}
	}
	// The walk can fail: an undeclared kind or event is no known pair.
	if _, ok := inputOf(causeRecord(states.Crashed, store.CauseKind(250))); ok {
		t.Error("check knows an undeclared cause kind")
	}
	if _, ok := inputOf(causeRecord(states.Event(200), store.CauseNone)); ok {
		t.Error("check knows an undeclared event")
	}
}

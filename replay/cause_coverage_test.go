package replay

import (
	"encoding/json"
	"strconv"
	"strings"
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

// TestReplayCoversEveryEventAndCause walks every event of states and every
// kind of cause of the store: explain, the report and the timeline each
// know the pair (none falls through to a default) and tell the
// cause by its kind and sentence (replay/recheck's own test does check).
// A new event or kind fails here until each of them handles it.
func TestReplayCoversEveryEventAndCause(t *testing.T) {
	e := &explainer{vm: "vm1", loc: time.UTC}
	tl := &timeliner{loc: time.UTC}
	for _, ev := range states.AllEvents() {
		for _, k := range store.AllCauseKinds() {
			r := causeRecord(ev, k)
			what := ev.String() + "/" + k.String()
			p := store.Record{VM: "vm1", Event: states.Create, To: r.From, Time: r.Time}
			h := store.Head{}.Apply(p)
			if s, ok := e.phraseOf(r, p, h); !ok || s == "" {
				t.Errorf("%s: explain falls through to its default: %q", what, s)
			}
			title := causeTitle(r)
			if !r.Cause.IsZero() && (!strings.Contains(title, "cause: "+k.String()) || strings.Contains(title, "CauseKind(")) {
				t.Errorf("%s: the report's title says %q", what, title)
			}
			line := string(tl.recordLine(nil, r, nil))
			if r.Reason != "" && !strings.Contains(line, strconv.Quote(r.Reason)) {
				t.Errorf("%s: the timeline's line %q lacks the cause's sentence %q", what, line, r.Reason)
			}
			js, err := json.Marshal(jsonRecord{Kind: "record", Record: &r})
			if err != nil || !strings.Contains(string(js), `"kind":"`+k.String()+`"`) && !r.Cause.IsZero() {
				t.Errorf("%s: the JSON timeline says %s, %v", what, js, err)
			}
			if strings.Contains(r.Reason, "CauseKind(") {
				t.Errorf("%s: the sentence is the store's fallback %q", what, r.Reason)
			}
		}
	}
	// The walk can fail: an undeclared kind or event is no known pair.
	r := causeRecord(states.Crashed, store.CauseKind(250))
	if _, ok := e.phraseOf(r, store.Record{}, store.Head{}); ok {
		t.Error("explain knows an undeclared cause kind")
	}
	r = causeRecord(states.Event(200), store.CauseNone)
	if _, ok := e.phraseOf(r, store.Record{}, store.Head{}); ok {
		t.Error("explain knows an undeclared event")
	}
}

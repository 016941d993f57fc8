package powercut

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// TestJudge runs the audit's judgement on made-up reports: a clean cut
// passes, and each kind of loss is named. It needs no QEMU.
func TestJudge(t *testing.T) {
	at := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	rec := func(seq uint64, vm string, ev states.Event, from, to states.State) *store.Record {
		return &store.Record{Seq: seq, VMSeq: seq, VM: vm, Event: ev, From: from, To: to, Time: at, Boot: 1,
			Agent: store.Proc{PID: 7, BootID: "old"}}
	}
	create := rec(1, "vm0", states.Create, states.Absent, states.Stopped)
	start := rec(2, "vm0", states.Start, states.Stopped, states.Starting)
	yaml := "/data/lima/vm0/lima.yaml"
	work := []Line{
		{K: "ready"},
		{K: "rec", Rec: create},
		{K: "cmd", Op: "create", VM: "vm0", Seq: 1, State: "Stopped"},
		{K: "file", VM: "vm0", Seq: 1, Path: yaml, SHA: "aa", Size: 10},
		{K: "intent", Op: "update", VM: "vm0", SHA: "bb"},
		{K: "rec", Rec: start},
		{K: "file", Op: "backup", Path: "/data/backups/b.db", SHA: "dd", Size: 32768},
	}
	lost := rec(3, "vm0", states.Lost, states.Starting, states.Broken)
	lost.Reason = "recovery: the host rebooted (boot id old, now new); agent pid 7 went with it"
	audit := []Line{
		{K: "boot", BootID: "new"},
		{K: "manifest", Path: yaml, SHA: "bb", Size: 12},
		{K: "manifest", Path: "/data/backups/b.db", SHA: "dd", Size: 32768},
		{K: "manifest", Path: "/data/lima/vm0/ha.pid", Size: 3, Out: "42\n"},
		{K: "bolt"}, {K: "verify"},
		{K: "log", Rec: create}, {K: "log", Rec: start},
		{K: "final", VMs: []api.VM{{Name: "vm0", State: "Broken"}}},
		{K: "after", Rec: lost},
		{K: "done"},
	}
	if v := judge(work, audit); len(v.problems) != 0 || v.acked != 2 || v.live != 1 {
		t.Fatalf("a clean cut: problems %q, acked %d, live %d; want none, 2, 1", v.problems, v.acked, v.live)
	}

	cases := []struct {
		name string
		edit func(audit []Line) []Line
		want string
	}{
		{"record lost", func(a []Line) []Line { return without(a, func(l Line) bool { return l.K == "log" && l.Rec.Seq == 2 }) },
			"record seq 2"},
		{"record changed", func(a []Line) []Line {
			changed := *start
			changed.Reason = "different"
			return append(without(a, func(l Line) bool { return l.K == "log" && l.Rec.Seq == 2 }), Line{K: "log", Rec: &changed})
		}, "differs after the cut"},
		{"file gone", func(a []Line) []Line { return without(a, func(l Line) bool { return l.Path == yaml }) },
			"is gone after the cut"},
		{"file torn", func(a []Line) []Line {
			return append(without(a, func(l Line) bool { return l.Path == yaml }), Line{K: "manifest", Path: yaml, SHA: "cc", Size: 4})
		}, "is not what was reported"},
		{"backup empty", func(a []Line) []Line {
			return append(without(a, func(l Line) bool { return l.Path == "/data/backups/b.db" }), Line{K: "manifest", Path: "/data/backups/b.db", SHA: "e3", Size: 0})
		}, "/data/backups/b.db was 32768 bytes"},
		{"pid file torn", func(a []Line) []Line {
			return append(a, Line{K: "manifest", Path: "/data/lima/vm0/x.pid", Out: ""})
		}, "pid file"},
		{"torn page", func(a []Line) []Line { return append(a, Line{K: "bolt", Err: "page 7: unreachable"}) },
			"page check"},
		{"database gone", func(a []Line) []Line {
			return append(without(a, func(l Line) bool { return l.K == "log" || l.K == "bolt" || l.K == "verify" }), Line{K: "nodb"})
		}, "no database"},
		{"not recovered", func(a []Line) []Line { return without(a, func(l Line) bool { return l.K == "after" }) },
			"recovery wrote no record"},
		{"lost not as a reboot", func(a []Line) []Line {
			gone := *lost
			gone.Reason = "recovery: agent pid 7 is gone"
			return append(without(a, func(l Line) bool { return l.K == "after" }), Line{K: "after", Rec: &gone})
		}, "not that the host rebooted"},
		{"audit cut short", func(a []Line) []Line { return without(a, func(l Line) bool { return l.K == "done" }) },
			"did not finish"},
		{"running by itself", func(a []Line) []Line {
			return append(without(a, func(l Line) bool { return l.K == "final" }), Line{K: "final", VMs: []api.VM{{Name: "vm0", State: "Running"}}})
		}, "want Stopped or Broken"},
	}
	// A VM an update was restarting at the cut is started again by
	// recovery (seed 767223546): Running, by the update's restart.
	resumed := rec(4, "vm0", states.Start, states.Broken, states.Starting)
	resumed.Cause = store.Cause{Kind: store.CauseUpdateResumed}
	running := append(without(append([]Line(nil), audit...), func(l Line) bool { return l.K == "final" || l.K == "done" }),
		Line{K: "after", Rec: resumed}, Line{K: "final", VMs: []api.VM{{Name: "vm0", State: "Running"}}}, Line{K: "done"})
	if v := judge(work, running); len(v.problems) != 0 {
		t.Errorf("a VM Running by the update's restart recovery resumed: problems %q, want none", v.problems)
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := c.edit(append([]Line(nil), audit...))
			v := judge(work, a)
			if !strings.Contains(strings.Join(v.problems, "\n"), c.want) {
				t.Errorf("problems %q, want one saying %q", v.problems, c.want)
			}
		})
	}
}

func without(ls []Line, drop func(Line) bool) []Line {
	var out []Line
	for _, l := range ls {
		if !drop(l) {
			out = append(out, l)
		}
	}
	return out
}

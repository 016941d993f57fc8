package powercut

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// verdict is what one cut proved, or failed to.
type verdict struct {
	problems []string
	acked    int // distinct records acknowledged before the cut
	logged   int // records in the log as the cut left it
	live     int // VMs live (not settled) at the cut, that recovery settled
	reasons  []string
}

func (v *verdict) fail(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

// commandEvent is the event a successful command records.
var commandEvent = map[string]states.Event{
	"create": states.Create, "start": states.Start, "stop": states.Stop,
	"force_stop": states.ForceStop, "update": states.Update, "reset": states.Reset,
	"delete": states.Delete,
}

// settledStates are the states recovery may leave a VM in after a power
// cut: nothing of the old boot runs, and nothing starts by itself (but an
// update's restart, see updateResumed).
func settled(s api.State) bool { return s == api.Stopped || s == api.Broken }

// updateResumed tells whether recovery's records rs of a VM start the
// restart an update had asked for before the cut (the user's own intent,
// carried out, not a VM starting by itself).
func updateResumed(rs []store.Record) bool {
	for _, r := range rs {
		if r.Event == states.Start && r.Cause.Kind == store.CauseUpdateResumed {
			return true
		}
	}
	return false
}

// judge checks the reports of one cut: work is what the guest reported
// before the cut, audit what the audit boot found.
func judge(work, audit []Line) verdict {
	var v verdict
	for _, l := range work {
		if l.K == "error" {
			v.fail("before the cut, the guest reported: %s", l.Err)
		}
	}
	var (
		bootID   string
		log      = map[uint64]store.Record{}
		lastSeq  uint64
		nodb     bool
		sawBolt  bool
		sawVer   bool
		done     bool
		final    []string
		finalVMs []api.VM
		finalOK  = true
		after    = map[string][]store.Record{}
		files    = map[string]Line{} // manifest by path
	)
	for _, l := range audit {
		switch l.K {
		case "error":
			v.fail("audit: %s", l.Err)
		case "boot":
			bootID = l.BootID
		case "manifest":
			files[l.Path] = l
		case "nodb":
			nodb = true
		case "bolt":
			sawBolt = true
			if l.Err != "" {
				v.fail("bbolt's page check of the database as the cut left it: %s", l.Err)
			}
		case "verify":
			sawVer = true
			if l.Err != "" {
				v.fail("lifeline replay verify of the database as the cut left it: %s\n%s", l.Err, l.Out)
			}
		case "log":
			log[l.Rec.Seq] = *l.Rec
			lastSeq = max(lastSeq, l.Rec.Seq)
		case "after":
			after[l.Rec.VM] = append(after[l.Rec.VM], *l.Rec)
		case "final":
			finalVMs = append(finalVMs, l.VMs...)
			for _, vm := range l.VMs {
				final = append(final, vm.Name+"="+string(vm.State))
			}
		case "done":
			done = true
		}
	}
	for _, vm := range finalVMs {
		if settled(vm.State) || vm.State == api.Running && updateResumed(after[vm.Name]) {
			continue
		}
		finalOK = false
		v.fail("after recovery, vm %q is %s (event %s, reason %q), want Stopped or Broken (or Running by an update's restart recovery resumed)", vm.Name, vm.State, vm.Event, vm.Reason)
	}
	if !done {
		v.fail("the audit boot did not finish (no \"done\" line)")
	}
	v.logged = len(log)
	if !nodb && (!sawBolt || !sawVer) {
		v.fail("the audit did not check the database (bolt %v, verify %v)", sawBolt, sawVer)
	}

	// 1. Every acknowledged record is in the log, with its data, in order.
	acked := map[uint64]bool{}
	var prev uint64
	for _, l := range work {
		switch l.K {
		case "ready":
			if nodb {
				v.fail("the daemon answered before the cut, so its store was open, but after the cut there is no database (or an empty one)")
			}
		case "rec":
			r := *l.Rec
			acked[r.Seq] = true
			if r.Seq <= prev {
				v.fail("the event stream delivered seq %d after seq %d", r.Seq, prev)
			}
			prev = r.Seq
			got, ok := log[r.Seq]
			if !ok {
				v.fail("record seq %d (vm %q %s %s→%s) was committed and delivered before the cut, and is not in the log (last seq %d)", r.Seq, r.VM, r.Event, r.From, r.To, lastSeq)
				continue
			}
			if a, b := marshal(r), marshal(got); a != b {
				v.fail("record seq %d differs after the cut:\n  delivered %s\n  logged    %s", r.Seq, a, b)
			}
		case "cmd":
			acked[l.Seq] = true
			got, ok := log[l.Seq]
			if !ok {
				v.fail("%s of vm %q was answered with seq %d before the cut, and that record is not in the log (last seq %d)", l.Op, l.VM, l.Seq, lastSeq)
				continue
			}
			if got.VM != l.VM || got.Event != commandEvent[l.Op] || got.To.String() != l.State {
				v.fail("%s of vm %q was answered with seq %d (%s), and the log's seq %d is vm %q %s →%s", l.Op, l.VM, l.Seq, l.State, l.Seq, got.VM, got.Event, got.To)
			}
		}
	}
	v.acked = len(acked)

	// 2. Files reported as written exist whole (a VM's, unless the log
	// says it was deleted or created again since; a backup's always).
	lastCreate := map[string]uint64{}
	head := map[string]store.Record{}
	for seq := uint64(1); seq <= lastSeq; seq++ {
		r, ok := log[seq]
		if !ok {
			continue
		}
		head[r.VM] = r
		if r.Event == states.Create {
			lastCreate[r.VM] = seq
		}
	}
	type fileAck struct {
		line    Line
		allowed map[string]bool // SHAs the file may hold
	}
	want := map[string]*fileAck{}
	for _, l := range work {
		switch l.K {
		case "file":
			if l.Op != "backup" && (l.Seq < lastCreate[l.VM] || head[l.VM].Event == states.Delete) {
				continue
			}
			want[l.Path] = &fileAck{line: l, allowed: map[string]bool{l.SHA: true}}
		case "intent":
			// A template sent after the file was read may be in it since
			// (an update, or a start that defined the VM again).
			if fa := want[filepath.Join("/data/lima", l.VM, "lima.yaml")]; fa != nil {
				fa.allowed[l.SHA] = true
			}
		}
	}
	for path, fa := range want {
		got, ok := files[path]
		switch {
		case fa.line.Size < 0:
			v.fail("%s was missing already when read back right after the answer of seq %d (found %d bytes after the cut)", path, fa.line.Seq, got.Size)
		case !ok || got.Size < 0:
			v.fail("%s was written (%d bytes) and reported (after seq %d), and is gone after the cut", path, fa.line.Size, fa.line.Seq)
		case got.Size != fa.line.Size && !strings.HasSuffix(path, "lima.yaml"):
			v.fail("%s was %d bytes when reported after seq %d, and is %d after the cut", path, fa.line.Size, fa.line.Seq, got.Size)
		case !fa.allowed[got.SHA]:
			v.fail("%s after the cut (%d bytes, sha256 %.12s) is not what was reported after seq %d (%d bytes, sha256 %.12s), nor a template sent since", path, got.Size, got.SHA, fa.line.Seq, fa.line.Size, fa.line.SHA)
		}
	}
	for path, l := range files {
		if strings.HasSuffix(path, ".pid") {
			if pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(l.Out, "\n", 2)[0])); err != nil || pid <= 0 {
				v.fail("pid file %s after the cut is not whole: %q", path, l.Out)
			}
		}
	}

	// 3. Recovery settled every VM that was live at the cut, with a
	// record saying why (a loss is the host's reboot), and the old
	// processes' boot is not this one.
	if finalOK && final == nil && len(head) > 0 {
		for _, r := range head {
			if r.Event != states.Delete {
				v.fail("the audit reported no final states, and the log has live VMs")
				break
			}
		}
	}
	for vm, r := range head {
		if settled(api.State(r.To.String())) || r.To == states.Absent {
			continue
		}
		rs := after[vm]
		if len(rs) == 0 {
			v.fail("vm %q was %s at the cut, and recovery wrote no record for it", vm, r.To)
			continue
		}
		v.live++
		first := rs[0]
		if first.Reason == "" {
			v.fail("vm %q: recovery's record seq %d (%s %s→%s) gives no reason", vm, first.Seq, first.Event, first.From, first.To)
		}
		if first.Event == states.Lost && !strings.Contains(first.Reason, "host rebooted") {
			// The cut rebooted the guest: its boot id changed, and the
			// loss is the reboot's (issue 11 item 6).
			v.fail("vm %q: recovery's record seq %d (lost %s→%s) says %q, not that the host rebooted", vm, first.Seq, first.From, first.To, first.Reason)
		}
		v.reasons = append(v.reasons, fmt.Sprintf("%s %s→%s %q", vm, first.From, first.To, first.Reason))
		if b := r.Agent.BootID; b != "" && b == bootID {
			v.fail("vm %q: its agent's recorded boot %s is the audit boot's: the cut did not reboot", vm, b)
		}
	}
	return v
}

func marshal(r store.Record) string {
	b, _ := json.Marshal(r)
	return string(b)
}

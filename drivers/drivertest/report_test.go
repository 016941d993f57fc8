package drivertest_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
)

// sink collects observations.
type sink struct {
	mu  sync.Mutex
	got []drivers.Observation
}

func (s *sink) add(o drivers.Observation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, o)
}

func (s *sink) all() []drivers.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]drivers.Observation(nil), s.got...)
}

func TestReportScriptsObservations(t *testing.T) {
	ctx := context.Background()
	d := drivertest.New()
	d.Script("vm1", drivertest.Behavior{NeverRunning: true})
	procs, err := d.Spawn(ctx, "vm1", drivers.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	d.Watch(ctx, "vm1", drivers.Spec{}, procs, s.add)
	if len(s.all()) != 0 {
		t.Fatalf("a NeverRunning agent reported %v", s.all())
	}

	if !d.Report("vm1", drivers.Observation{Kind: drivers.ObsFailed, Reason: "degraded: ssh not ready"}) {
		t.Fatal("Report of a live agent returned false")
	}
	if !d.Report("vm1", drivers.Observation{Kind: drivers.ObsRunning}) {
		t.Fatal("Report running returned false")
	}
	if live, _, _ := d.Lookup(ctx, "vm1", drivers.Spec{}, procs, zeroTime); live != drivers.Ready {
		t.Errorf("after a running report Lookup says %s, want ready", live)
	}
	if !d.Report("vm1", drivers.Observation{Kind: drivers.ObsExited, Code: 137, Reason: "signal: killed (oom)"}) {
		t.Fatal("Report exited returned false")
	}
	got := s.all()
	if len(got) != 3 {
		t.Fatalf("observations %+v", got)
	}
	if got[0].Kind != drivers.ObsFailed || got[0].Reason != "degraded: ssh not ready" || got[0].VM != "vm1" || got[0].Procs != procs {
		t.Errorf("failure reported as %+v", got[0])
	}
	if got[1].Kind != drivers.ObsRunning {
		t.Errorf("second observation %+v", got[1])
	}
	if got[2].Kind != drivers.ObsExited || got[2].Code != 137 || got[2].Reason != "signal: killed (oom)" {
		t.Errorf("exit reported as %+v, want the reason verbatim", got[2])
	}
	if len(d.Alive("vm1")) != 0 {
		t.Error("the agent lives on after a reported exit")
	}
	if d.Report("vm1", drivers.Observation{Kind: drivers.ObsRunning}) {
		t.Error("Report without a live agent returned true")
	}
	calls := strings.Join(d.CallsFor("vm1"), ";")
	if !strings.Contains(calls, "Report vm1 pid=1000 failed;Report vm1 pid=1000 running;") || !strings.HasSuffix(calls, "Report vm1 running gone") {
		t.Errorf("calls %s", calls)
	}
}

func TestSpawnPID(t *testing.T) {
	ctx := context.Background()
	d := drivertest.New()
	d.Script("vm1", drivertest.Behavior{SpawnPID: 4242})
	p1, err := d.Spawn(ctx, "vm1", drivers.Spec{})
	if err != nil || p1.Agent.PID != 4242 {
		t.Fatalf("Spawn with SpawnPID 4242: %+v, %v", p1.Agent, err)
	}
	// The pid is held by a live agent: the next free one is used.
	p2, _ := d.Spawn(ctx, "vm1", drivers.Spec{})
	if p2.Agent.PID == 4242 || p2.Agent.PID == 0 {
		t.Fatalf("second Spawn got pid %d while 4242 lives", p2.Agent.PID)
	}
	// Without SpawnPID, pids run on as before and skip live ones.
	d.Script("vm2", drivertest.Behavior{SpawnPID: 1001})
	p3, _ := d.Spawn(ctx, "vm2", drivers.Spec{})
	d.Script("vm3", drivertest.Behavior{})
	p4, _ := d.Spawn(ctx, "vm3", drivers.Spec{})
	if p3.Agent.PID != 1001 || p4.Agent.PID == 1001 || p4.Agent.PID == p2.Agent.PID {
		t.Errorf("pids %d, %d, %d: a live pid was handed out twice", p2.Agent.PID, p3.Agent.PID, p4.Agent.PID)
	}
	// A dead agent's pid can be given again, with a new start time.
	_ = d.KillTree(ctx, "vm1", p1)
	d.Script("vm1", drivertest.Behavior{SpawnPID: 4242})
	p5, _ := d.Spawn(ctx, "vm1", drivers.Spec{})
	if p5.Agent.PID != 4242 || p5.Agent.StartTime == p1.Agent.StartTime {
		t.Errorf("respawn on a free pid: %+v (first %+v)", p5.Agent, p1.Agent)
	}
	if live, _, _ := d.Lookup(ctx, "vm1", drivers.Spec{}, p1, zeroTime); live != drivers.Gone {
		t.Errorf("the old identity of pid 4242 is %s, want gone", live)
	}
}

var zeroTime time.Time

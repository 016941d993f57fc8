package states

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

var update = flag.Bool("update", false, "rewrite golden files")

// allowed is the expected table, written out arrow by arrow, independently
// of table.go: a change to the lifecycle must change both.
var allowed = map[State]map[Event]State{
	Absent:        {Create: Stopped},
	Stopped:       {Start: Starting, Adopted: Running, Delete: Absent, Update: Stopped, Release: Absent},
	Starting:      {Update: Starting, Spawned: Starting, EventRunning: Running, StartFailed: Broken, Stop: Stopping, ForceStop: ForceStopping, Adopted: Running, Lost: Broken, StoppedOutside: Stopped},
	Running:       {Stop: Stopping, ForceStop: ForceStopping, Crashed: Broken, Adopted: Running, Lost: Broken, Update: Running, StoppedOutside: Stopped, Release: Absent},
	Stopping:      {Spawned: Stopping, Update: Stopping, StopTimeout: ForceStopping, ForceStop: ForceStopping, Exited: Stopped, KillFailed: Broken},
	ForceStopping: {Spawned: ForceStopping, Update: ForceStopping, Exited: Stopped, KillFailed: Broken},
	Broken:        {ForceStop: ForceStopping, Reset: Stopped, Delete: Absent, Update: Broken, Backoff: Broken, Restart: Starting, Release: Absent},
}

func TestNextEveryPair(t *testing.T) {
	for _, from := range AllStates() {
		for _, ev := range append(AllEvents(), EventNone, Event(200)) {
			to, err := Next(from, ev)
			want, ok := allowed[from][ev]
			if ok {
				if err != nil || to != want {
					t.Errorf("Next(%s, %s) = %s, %v; want %s", from, ev, to, err, want)
				}
				continue
			}
			var ite *InvalidTransitionError
			if !errors.As(err, &ite) || ite.From != from || ite.Event != ev {
				t.Errorf("Next(%s, %s) = %s, %v; want InvalidTransitionError", from, ev, to, err)
			}
			if to != from {
				t.Errorf("Next(%s, %s) moved to %s on error", from, ev, to)
			}
		}
	}
	if _, err := Next(State(99), Start); err == nil {
		t.Error("Next from an undeclared state succeeded")
	}
}

func TestEveryEventHasAnArrow(t *testing.T) {
	seen := map[Event]bool{}
	for _, a := range Table() {
		seen[a.Event] = true
		if a.Why == "" {
			t.Errorf("arrow %s has no reason", a.Event)
		}
	}
	for _, ev := range AllEvents() {
		if !seen[ev] {
			t.Errorf("event %s has no arrow", ev)
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, s := range AllStates() {
		got, err := ParseState(s.String())
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %v, %v", s, got, err)
		}
		b, _ := s.MarshalText()
		var u State
		if err := u.UnmarshalText(b); err != nil || u != s {
			t.Errorf("text round trip of %s: %v, %v", s, u, err)
		}
	}
	if got, err := ParseState("forcestopping"); err != nil || got != ForceStopping {
		t.Errorf("ParseState is not case-insensitive: %v, %v", got, err)
	}
	for _, ev := range AllEvents() {
		got, err := ParseEvent(ev.String())
		if err != nil || got != ev {
			t.Errorf("ParseEvent(%q) = %v, %v", ev, got, err)
		}
	}
	if _, err := ParseState("Paused"); !errors.Is(err, ErrUnknownState) {
		t.Errorf("ParseState(Paused) = %v", err)
	}
	if _, err := ParseEvent("none"); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("ParseEvent(none) = %v", err)
	}
}

// TestMachineAgreesWithNext drives a looplab/fsm machine built from the
// table with random events and checks it always agrees with Next.
func TestMachineAgreesWithNext(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := NewMachine(Absent)
		cur := Absent
		evs := rapid.SliceOf(rapid.SampledFrom(AllEvents())).Draw(t, "events")
		for _, ev := range evs {
			want, werr := Next(cur, ev)
			got, gerr := Fire(context.Background(), m, ev)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("from %s by %s: Next err %v, fsm err %v", cur, ev, werr, gerr)
			}
			if werr == nil {
				if got != want {
					t.Fatalf("from %s by %s: Next %s, fsm %s", cur, ev, want, got)
				}
				cur = want
			}
			if !cur.Valid() {
				t.Fatalf("undefined state %d", cur)
			}
		}
	})
}

func TestDiagramsGolden(t *testing.T) {
	for name, got := range map[string]string{"lifecycle.mmd": Mermaid(), "lifecycle.dot": Graphviz()} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s differs from golden (run go test ./states -update):\n%s", name, got)
		}
		// Byte-stable: the visualizers iterate maps; they must sort.
		for i := 0; i < 20; i++ {
			again := Mermaid()
			if name == "lifecycle.dot" {
				again = Graphviz()
			}
			if again != got {
				t.Fatalf("%s is not byte-stable", name)
			}
		}
	}
}

// TestDiagramSelfLoopsAndOrigins is issue 12 item 17: a state's self-loops
// are one edge, so their labels never run together ("adoptedupdate" in the
// old dot rendering); commands, observations and lifeline's decisions are
// drawn differently, each edge in its event's origin's style; the digraph
// is named lifeline; a title names what is drawn.
func TestDiagramSelfLoopsAndOrigins(t *testing.T) {
	dot := Graphviz()
	if !strings.HasPrefix(dot, "digraph lifeline {\n") {
		t.Errorf("the digraph is not named lifeline:\n%s", dot)
	}
	edge := regexp.MustCompile(`^    "(\w+)" -> "(\w+)" \[ label = (.*), style = (\w+), color = "([^"]+)"`)
	loops := map[string]int{}
	for _, line := range strings.Split(dot, "\n") {
		m := edge.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if m[1] == m[2] {
			loops[m[1]]++
			continue
		}
		ev, err := ParseEvent(strings.Trim(m[3], `"`))
		if err != nil {
			t.Fatalf("edge %q: %v", line, err)
		}
		want := map[Origin]string{Command: "solid", Observation: "dashed", Decision: "dotted"}[ev.Origin()]
		if m[4] != want {
			t.Errorf("%s (%s) drawn %s, want %s", ev, ev.Origin(), m[4], want)
		}
	}
	for s, n := range loops {
		if n != 1 {
			t.Errorf("%s has %d self-loop edges, want 1 (labels of several run together)", s, n)
		}
	}
	if loops["Running"] != 1 || !strings.Contains(dot, `<font color="#1f6feb">adopted</font><br/><font color="black">update</font>`) {
		t.Errorf("Running's self-loops are not one edge with adopted (observation colour) and update (command colour) on their own lines:\n%s", dot)
	}
	mmd := Mermaid()
	for _, want := range []string{
		"Running -->|\"adopted (observed), update\"| Running\n",
		"Running -.->|\"crashed\"| Broken\n",
		"Running -->|\"stop\"| Stopping\n",
		"Stopping ==>|\"stop_timeout\"| ForceStopping\n",
	} {
		if !strings.Contains(mmd, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, mmd)
		}
	}
	titled := RenderDot(DiagramOptions{Title: "vm db", Taken: map[Transition]int{{From: Running, To: Broken, Event: Crashed}: 2}})
	if !strings.Contains(titled, `label = "vm db\n`) || !strings.Contains(titled, `"Running" -> "Broken" [ label = "crashed ×2", style = dashed, color = "#1f6feb", fontcolor = "#1f6feb", penwidth = 3 ];`) {
		t.Errorf("title or taken arrow missing:\n%s", titled)
	}
}

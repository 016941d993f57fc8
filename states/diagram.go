package states

import (
	"fmt"
	"slices"
	"strings"
)

// Origin says who raises an event: what a user asks, what the OS reported,
// or what lifeline decided on its own. The diagrams draw each differently.
type Origin uint8

// The origins.
const (
	// Command: a user asks (create, start, stop, force_stop, reset,
	// delete, update). Drawn solid.
	Command Origin = iota + 1
	// Observation: the OS reported it, through the driver or recovery
	// (spawned, running, exited, crashed, lost, ...). Drawn dashed.
	Observation
	// Decision: lifeline's own timer or restart policy (stop_timeout,
	// backoff, restart). Drawn thick (mermaid) or dotted (dot).
	Decision
)

func (o Origin) String() string {
	switch o {
	case Command:
		return "command"
	case Observation:
		return "observation"
	case Decision:
		return "decision"
	}
	return fmt.Sprintf("Origin(%d)", uint8(o))
}

// Origin returns who raises e. An event with two sources is classed by
// the one its name says: start is a user's (the restart policy's own is
// restart), force_stop a user's --force (also the cleanup of a Broken VM's
// leftovers), start_failed an observation (also the start deadline).
func (e Event) Origin() Origin {
	switch e {
	case Create, Start, Stop, ForceStop, Reset, Delete, Update, Release:
		return Command
	case StopTimeout, Backoff, Restart:
		return Decision
	case Spawned, EventRunning, StartFailed, Exited, KillFailed, Crashed, Adopted, Lost, StoppedOutside:
		return Observation
	}
	return 0 // not an event: a new one must be given its origin here
}

// Transition is one arrow of the diagram: Event moves a VM From → To.
type Transition struct {
	From, To State
	Event    Event
}

// DiagramOptions decorate a rendering of the table.
type DiagramOptions struct {
	// Title, if set, names the diagram (replay graph: the VM it draws).
	Title string
	// Taken, if set, counts how many times each transition was taken:
	// those are labelled "×N" and drawn bold. Taken transitions the table
	// no longer has are added, marked "not in today's table".
	Taken map[Transition]int
}

// edge is one drawn arrow: one transition of the table, or every self-loop
// of one state merged into one edge, so that their labels never run
// together ("adoptedupdate").
type edge struct {
	from, to State
	// origin is the events' common origin; 0 for a self-loop that merges
	// events of more than one origin.
	origin Origin
	items  []item
	taken  bool
	extra  bool
}

// item is one event's label on an edge.
type item struct {
	label  string
	origin Origin
}

func (e edge) label(sep string, mark bool) string {
	ls := make([]string, len(e.items))
	for i, it := range e.items {
		ls[i] = it.label
		if mark && e.origin == 0 && it.origin != Command {
			ls[i] += " (" + it.origin.short() + ")"
		}
	}
	return strings.Join(ls, sep)
}

func (o Origin) short() string {
	switch o {
	case Observation:
		return "observed"
	case Decision:
		return "decided"
	}
	return "asked"
}

// edges lists the table's transitions, plus the taken ones it lacks, as
// edges in the order of [tableTransitions] (the extra ones last): a
// byte-stable order. A state's self-loops are one edge.
func edges(o DiagramOptions) []edge {
	type key struct {
		from, to State
		event    Event // EventNone for a self-loop: they merge
		extra    bool
	}
	byKey := map[key]*edge{}
	var keys []key
	add := func(t Transition, extra bool) {
		k := key{t.From, t.To, t.Event, extra}
		if t.From == t.To {
			k.event = EventNone
		}
		l := t.Event.String()
		n := o.Taken[t]
		if n > 0 {
			l += fmt.Sprintf(" ×%d", n)
		}
		if extra {
			l += " (not in today's table)"
		}
		it := item{label: l, origin: t.Event.Origin()}
		if e, ok := byKey[k]; ok {
			e.items = append(e.items, it)
			e.taken = e.taken || n > 0
			if e.origin != it.origin {
				e.origin = 0
			}
			return
		}
		byKey[k] = &edge{from: t.From, to: t.To, origin: it.origin, items: []item{it}, taken: n > 0, extra: extra}
		keys = append(keys, k)
	}
	inTable := map[Transition]bool{}
	for _, t := range tableTransitions() {
		inTable[t] = true
		add(t, false)
	}
	var extras []Transition
	for t := range o.Taken {
		if !inTable[t] {
			extras = append(extras, t)
		}
	}
	slices.SortFunc(extras, compareTransitions)
	for _, t := range extras {
		add(t, true)
	}
	out := make([]edge, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	return out
}

// tableTransitions lists every arrow of the table, sorted by from state's
// name, then event name, then to.
func tableTransitions() []Transition {
	var out []Transition
	for _, a := range table {
		for _, f := range a.From {
			out = append(out, Transition{From: f, To: a.To, Event: a.Event})
		}
	}
	slices.SortFunc(out, compareTransitions)
	return out
}

func compareTransitions(a, b Transition) int {
	if c := strings.Compare(a.From.String(), b.From.String()); c != 0 {
		return c
	}
	if c := strings.Compare(a.Event.String(), b.Event.String()); c != 0 {
		return c
	}
	return strings.Compare(a.To.String(), b.To.String())
}

// The legends say how the diagrams draw each origin.
const (
	legendMermaid = "solid: a command (what a user asks); dashed: an observation (what the OS reported); thick: lifeline's own decision (a timer or the restart policy); a state's self-loops are one arrow, each event marked with its origin"
	legendDot     = "solid black: a command (what a user asks); dashed blue: an observation (what the OS reported); dotted brown: lifeline's own decision (a timer or the restart policy)"
)

// RenderMermaid renders the table as a Mermaid flowchart: commands drawn
// solid (-->), observations dashed (-.->), lifeline's own decisions thick
// (==>); a state's self-loops merged into one arrow whose label marks each
// event's origin; taken transitions (o.Taken) bold and blue. Byte-stable.
func RenderMermaid(o DiagramOptions) string {
	var b strings.Builder
	title := o.Title
	if title == "" {
		title = "lifeline: the VM lifecycle"
	}
	fmt.Fprintf(&b, "---\ntitle: %q\n---\n", title)
	b.WriteString("flowchart TD\n")
	fmt.Fprintf(&b, "    %%%% %s\n", legendMermaid)
	var taken, extra []string
	for i, e := range edges(o) {
		arrow := map[Origin]string{0: "-->", Command: "-->", Observation: "-.->", Decision: "==>"}[e.origin]
		fmt.Fprintf(&b, "    %s %s|%q| %s\n", e.from, arrow, e.label(", ", true), e.to)
		switch {
		case e.extra:
			extra = append(extra, fmt.Sprint(i))
		case e.taken:
			taken = append(taken, fmt.Sprint(i))
		}
	}
	if len(taken) > 0 {
		fmt.Fprintf(&b, "    linkStyle %s stroke:#1f6feb,stroke-width:4px\n", strings.Join(taken, ","))
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, "    linkStyle %s stroke:#d1242f,stroke-width:4px\n", strings.Join(extra, ","))
	}
	return b.String()
}

// dotStyle is how dot draws each origin.
var dotStyle = map[Origin]struct{ style, color string }{
	0:           {"solid", "gray40"},
	Command:     {"solid", "black"},
	Observation: {"dashed", "#1f6feb"},
	Decision:    {"dotted", "#9a6700"},
}

// RenderDot renders the table as a Graphviz digraph named lifeline:
// commands solid black, observations dashed blue, lifeline's own decisions
// dotted brown, with a legend in the graph's label; a state's self-loops
// are one edge whose label lists each event in its origin's colour; taken
// transitions (o.Taken) drawn bold. Byte-stable.
func RenderDot(o DiagramOptions) string {
	var b strings.Builder
	title := o.Title
	if title == "" {
		title = "lifeline: the VM lifecycle"
	}
	b.WriteString("digraph lifeline {\n")
	fmt.Fprintf(&b, "    label = %q;\n", title+"\n"+legendDot)
	b.WriteString("    labelloc = \"t\";\n")
	b.WriteString("    node [ shape = box, style = rounded ];\n")
	for _, e := range edges(o) {
		st := dotStyle[e.origin]
		color := st.color
		if e.extra {
			color = "#d1242f"
		}
		label := fmt.Sprintf("%q", e.label("\n", false))
		if e.origin == 0 {
			// Mixed origins: each event in its origin's colour, one a line.
			var h strings.Builder
			for i, it := range e.items {
				if i > 0 {
					h.WriteString("<br/>")
				}
				fmt.Fprintf(&h, `<font color="%s">%s</font>`, dotStyle[it.origin].color, htmlEscape(it.label))
			}
			label = "<" + h.String() + ">"
		}
		attrs := fmt.Sprintf("label = %s, style = %s, color = %q, fontcolor = %q", label, st.style, color, color)
		if e.origin == 0 {
			attrs = fmt.Sprintf("label = %s, style = %s, color = %q", label, st.style, color)
		}
		if e.taken || e.extra {
			attrs += ", penwidth = 3"
		}
		fmt.Fprintf(&b, "    %q -> %q [ %s ];\n", e.from.String(), e.to.String(), attrs)
	}
	b.WriteString("    \"Absent\" [ color = \"red\" ];\n")
	b.WriteString("}\n")
	return b.String()
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// Mermaid renders the table as a Mermaid flowchart ([RenderMermaid]).
func Mermaid() string { return RenderMermaid(DiagramOptions{}) }

// Graphviz renders the table as a Graphviz digraph ([RenderDot]).
func Graphviz() string { return RenderDot(DiagramOptions{}) }

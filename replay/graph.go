package replay

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// arrow is one taken transition.
type arrow struct {
	from, to states.State
	event    states.Event
}

// dotEdge matches an edge line of looplab/fsm's Graphviz output.
var dotEdge = regexp.MustCompile(`^(\s*)"([^"]+)" -> "([^"]+)" \[ label = "([^"]+)" \];$`)

// Graph writes vm's lifecycle diagram in format "mermaid" (the default) or
// "dot": the transition table rendered through looplab/fsm, as
// states.Mermaid and states.Graphviz render it, with each arrow the VM took
// labelled with how many times ("stop ×3"; in dot also drawn bold). Arrows
// the VM took that today's table no longer has are added at the end. The
// output is byte-stable.
func (d *DB) Graph(w io.Writer, vm, format string) error {
	counts := make(map[arrow]int)
	var n int
	var h store.Head
	err := d.vmRecords(vm, func(r store.Record) error {
		counts[arrow{r.From, r.To, r.Event}]++
		h = h.Apply(r)
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("graph %s: %w", vm, err)
	}
	var out string
	switch format {
	case "", "mermaid":
		out = mermaidCounts(states.Mermaid(), counts)
		out += fmt.Sprintf("    %%%% %s: %d records, now %s\n", vm, n, h.State)
	case "dot":
		out = dotCounts(states.Graphviz(), counts, fmt.Sprintf("    // %s: %d records, now %s", vm, n, h.State))
	default:
		return fmt.Errorf("graph: unknown format %q (want mermaid or dot)", format)
	}
	_, err = io.WriteString(w, out)
	return err
}

func label(ev string, n int) string { return fmt.Sprintf("%s ×%d", ev, n) }

// extra lists the taken arrows the rendered table lacks, sorted.
func extra(counts map[arrow]int, drawn map[arrow]bool) []arrow {
	var out []arrow
	for a := range counts {
		if !drawn[a] {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b arrow) int {
		return strings.Compare(fmt.Sprint(a.from, a.to, a.event), fmt.Sprint(b.from, b.to, b.event))
	})
	return out
}

func mermaidCounts(diagram string, counts map[arrow]int) string {
	var b strings.Builder
	drawn := make(map[arrow]bool)
	for line := range strings.Lines(diagram) {
		body := strings.TrimRight(line, "\n")
		if a, ok := parseMermaid(body); ok {
			drawn[a] = true
			if n := counts[a]; n > 0 {
				body += fmt.Sprintf(" ×%d", n)
			}
		}
		b.WriteString(body + "\n")
	}
	for _, a := range extra(counts, drawn) {
		fmt.Fprintf(&b, "    %s --> %s: %s (not in today's table)\n", a.from, a.to, label(a.event.String(), counts[a]))
	}
	return b.String()
}

// parseMermaid reads "    From --> To: event".
func parseMermaid(line string) (arrow, bool) {
	from, rest, ok := strings.Cut(strings.TrimSpace(line), " --> ")
	if !ok {
		return arrow{}, false
	}
	to, ev, ok := strings.Cut(rest, ": ")
	if !ok {
		return arrow{}, false
	}
	return parseArrow(from, to, ev)
}

func parseArrow(from, to, ev string) (arrow, bool) {
	f, err1 := states.ParseState(from)
	t, err2 := states.ParseState(to)
	e, err3 := states.ParseEvent(ev)
	return arrow{f, t, e}, err1 == nil && err2 == nil && err3 == nil
}

func dotCounts(diagram string, counts map[arrow]int, comment string) string {
	var b strings.Builder
	drawn := make(map[arrow]bool)
	lines := strings.Split(strings.TrimSuffix(diagram, "\n"), "\n")
	for i, line := range lines {
		if m := dotEdge.FindStringSubmatch(line); m != nil {
			if a, ok := parseArrow(m[2], m[3], m[4]); ok {
				drawn[a] = true
				if n := counts[a]; n > 0 {
					line = fmt.Sprintf(`%s"%s" -> "%s" [ label = "%s", penwidth = 3, color = "blue" ];`, m[1], m[2], m[3], label(m[4], n))
				}
			}
		}
		if i == len(lines)-1 && line == "}" {
			for _, a := range extra(counts, drawn) {
				fmt.Fprintf(&b, "    \"%s\" -> \"%s\" [ label = \"%s (not in today's table)\", penwidth = 3, color = \"orange\" ];\n", a.from, a.to, label(a.event.String(), counts[a]))
			}
			b.WriteString(comment + "\n")
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

package replay

import (
	"fmt"
	"io"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Graph writes vm's lifecycle diagram in format "mermaid" (the default) or
// "dot": the transition table as states.RenderMermaid and states.RenderDot
// draw it, titled with the VM, its record count and its state now, with
// each arrow the VM took labelled with how many times ("stop ×3") and drawn
// bold. Arrows the VM took that today's table no longer has are added. The
// output is byte-stable.
func (d *DB) Graph(w io.Writer, vm, format string) error {
	counts := make(map[states.Transition]int)
	var n int
	var h store.Head
	err := d.vmRecords(vm, func(r store.Record) error {
		counts[states.Transition{From: r.From, To: r.To, Event: r.Event}]++
		h = h.Apply(r)
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("graph %s: %w", vm, err)
	}
	o := states.DiagramOptions{
		Title: fmt.Sprintf("vm %s: %d records, now %s", vm, n, h.State),
		Taken: counts,
	}
	var out string
	switch format {
	case "", "mermaid":
		out = states.RenderMermaid(o)
	case "dot":
		out = states.RenderDot(o)
	default:
		return fmt.Errorf("graph %s: unknown format %q (want mermaid or dot)", vm, format)
	}
	_, err = io.WriteString(w, out)
	return err
}

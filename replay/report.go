package replay

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// DefaultReportMax is how many records a report draws at most (the last
// ones) when [ReportOptions.MaxRecords] is zero.
const DefaultReportMax = 20000

// ReportOptions select what [DB.Report] draws.
type ReportOptions struct {
	// VMs, when not empty, draws only these VMs.
	VMs []string
	// MaxRecords bounds the records drawn (the last ones are kept).
	// Default DefaultReportMax.
	MaxRecords int
}

// stateColors are the colours of the states' segments.
var stateColors = map[states.State]string{
	states.Stopped:       "#9e9e9e",
	states.Starting:      "#42a5f5",
	states.Running:       "#2e7d32",
	states.Stopping:      "#ffb300",
	states.ForceStopping: "#ef6c00",
	states.Broken:        "#c62828",
}

// forced are the events drawn as markers of a forced stop.
var forced = map[states.Event]bool{states.ForceStop: true, states.StopTimeout: true, states.KillFailed: true}

// Report writes one self-contained HTML page (no external script, font or
// style) with an SVG timeline of the database: a lane per VM (an SVG group
// with data-vm="NAME"), one coloured segment per state a VM was in, a
// marker for each forced stop (force_stop, stop_timeout, kill_failed),
// lines for the daemon's boots and its crashes, and the details of a record
// on hover (SVG titles). Every VM that ends Broken gets its [DB.Explain]
// text. The page is byte-stable for a given database.
func (d *DB) Report(w io.Writer, o ReportOptions) error {
	if o.MaxRecords <= 0 {
		o.MaxRecords = DefaultReportMax
	}
	var recs []store.Record
	var total int
	heads := make(map[string]*store.Head)
	err := d.records(1, func(r store.Record) error {
		if !contains(o.VMs, r.VM) {
			return nil
		}
		total++
		h := heads[r.VM]
		if h == nil {
			h = &store.Head{}
			heads[r.VM] = h
		}
		*h = h.Apply(r)
		recs = append(recs, r)
		if len(recs) >= 2*o.MaxRecords {
			recs = append(recs[:0:0], recs[len(recs)-o.MaxRecords:]...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for _, vm := range o.VMs {
		if heads[vm] == nil {
			return fmt.Errorf("report: vm %q: %w", vm, ErrNoSuchVM)
		}
	}
	if len(recs) > o.MaxRecords {
		recs = recs[len(recs)-o.MaxRecords:]
	}
	boots, err := d.boots()
	if err != nil {
		boots = nil
	}
	r := &reporter{d: d, recs: recs, total: total, boots: bootIndex(boots), heads: heads, loc: d.loc}
	var b bytes.Buffer
	if err := r.page(&b); err != nil {
		return err
	}
	_, err = w.Write(b.Bytes())
	return err
}

type reporter struct {
	d     *DB
	recs  []store.Record
	total int
	boots bootIndex
	heads map[string]*store.Head
	loc   *time.Location
}

// Geometry of the SVG, in pixels.
const (
	svgWidth   = 1160
	laneLeft   = 150
	laneRight  = 20
	laneTop    = 56
	laneHeight = 26
	laneGap    = 12
	axisHeight = 34
)

// stop is a point on the time axis: a record or a boot's start.
type stop struct {
	t    time.Time
	boot uint64 // a boot start, else 0
}

func (r *reporter) page(b *bytes.Buffer) error {
	esc := html.EscapeString
	vms := slices.Sorted(maps.Keys(r.heads))
	crashes := 0
	for i, bt := range r.boots {
		if bt.Closed.IsZero() && i < len(r.boots)-1 {
			crashes++
		}
	}
	fmt.Fprintf(b, `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lifeline replay report: %s</title>
<style>
body { font-family: sans-serif; margin: 16px 24px; color: #212121; background: #ffffff; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
h2 { font-size: 16px; margin: 24px 0 8px 0; }
h3 { font-size: 14px; margin: 12px 0 4px 0; }
p.meta { color: #616161; margin: 0 0 12px 0; }
ul.legend { list-style: none; padding: 0; margin: 0 0 8px 0; }
ul.legend li { display: inline-block; margin-right: 16px; font-size: 13px; }
ul.legend span.swatch { display: inline-block; width: 14px; height: 14px; vertical-align: middle; margin-right: 4px; border: 1px solid #424242; }
svg text { font-family: sans-serif; font-size: 12px; fill: #212121; }
svg .lane rect.segment:hover { stroke: #000000; stroke-width: 2; }
section.explain p { max-width: 1100px; line-height: 1.4; }
pre { font-size: 12px; background: #f5f5f5; padding: 8px; overflow-x: auto; }
</style>
</head>
<body>
<h1>lifeline replay report</h1>
`, esc(r.d.path))
	fmt.Fprintf(b, "<p class=\"meta\">Database %s: %d records of %d VMs drawn", esc(r.d.path), len(r.recs), len(vms))
	if len(r.recs) < r.total {
		fmt.Fprintf(b, " (the last %d of %d)", len(r.recs), r.total)
	}
	fmt.Fprintf(b, "; %s, %s. Hover a segment or a marker for its record.</p>\n", plural(len(r.boots), "daemon boot"), plural(crashes, "daemon crash"))
	b.WriteString("<ul class=\"legend\">\n")
	for _, s := range []states.State{states.Stopped, states.Starting, states.Running, states.Stopping, states.ForceStopping, states.Broken} {
		fmt.Fprintf(b, "<li><span class=\"swatch\" style=\"background:%s\"></span>%s</li>\n", stateColors[s], s)
	}
	b.WriteString("<li>◆ forced stop (force_stop, stop_timeout, kill_failed)</li>\n<li><span style=\"color:#d50000\">┆</span> daemon crash</li>\n<li><span style=\"color:#757575\">│</span> daemon boot</li>\n</ul>\n")
	r.svg(b, vms)
	var broken []string
	for _, vm := range vms {
		if r.heads[vm].State == states.Broken {
			broken = append(broken, vm)
		}
	}
	if len(broken) > 0 {
		b.WriteString("<h2>Why these VMs are Broken</h2>\n")
		for _, vm := range broken {
			text, err := r.d.ExplainText(vm)
			if err != nil {
				text = err.Error()
			}
			fmt.Fprintf(b, "<section class=\"explain\" data-explain=\"%s\">\n<h3>%s</h3>\n<p>%s</p>\n</section>\n", esc(vm), esc(vm), esc(text))
		}
	}
	if r.total <= 5000 {
		var tl bytes.Buffer
		var names []string
		if len(vms) < len(r.allVMs()) {
			names = vms
		}
		if err := r.d.Timeline(&tl, TimelineOptions{VMs: names}); err == nil {
			fmt.Fprintf(b, "<details>\n<summary>Timeline (text)</summary>\n<pre>%s</pre>\n</details>\n", esc(tl.String()))
		}
	}
	b.WriteString("</body>\n</html>\n")
	return nil
}

// allVMs lists every VM of the database, drawn or not.
func (r *reporter) allVMs() []string {
	hs, err := r.d.heads()
	if err != nil {
		return nil
	}
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.VM
	}
	return out
}

// scale places the stops on the x axis: every stop gets a minimal slot,
// so that states that lasted no time still show, and the rest of the width
// goes to the time between stops, square-root compressed so that a long
// idle night does not squeeze the incident into a pixel.
func scale(stops []stop, end time.Time) (xs []float64, xEnd float64) {
	width := float64(svgWidth - laneLeft - laneRight)
	n := len(stops)
	slot := math.Min(8, width/float64(2*n+2))
	gaps := make([]float64, n+1)
	var total float64
	for i := 1; i <= n; i++ {
		next := end
		if i < n {
			next = stops[i].t
		}
		g := next.Sub(stops[i-1].t).Seconds()
		if g > 0 {
			gaps[i] = math.Sqrt(g)
			total += gaps[i]
		}
	}
	spread := width - slot*float64(n)
	xs = make([]float64, n)
	x := float64(laneLeft)
	for i := range n {
		if i > 0 {
			x += slot
			if total > 0 {
				x += spread * gaps[i] / total
			}
		}
		xs[i] = x
	}
	xEnd = x + slot
	if total > 0 {
		xEnd += spread * gaps[n] / total
	} else {
		xEnd = float64(svgWidth - laneRight)
	}
	return xs, xEnd
}

func (r *reporter) svg(b *bytes.Buffer, vms []string) {
	esc := html.EscapeString
	// The axis: boot starts and records, in log order.
	var stops []stop
	recStop := make([]int, len(r.recs))
	bootStop := make(map[uint64]int)
	var shown uint64
	first := uint64(0)
	if len(r.recs) > 0 {
		first = r.recs[0].Boot
	}
	addBoot := func(n uint64) {
		if bt, ok := r.boots.get(n); ok && n >= first {
			bootStop[n] = len(stops)
			stops = append(stops, stop{t: bt.Started, boot: n})
		}
	}
	for i, rec := range r.recs {
		for shown < rec.Boot {
			shown++
			addBoot(shown)
		}
		recStop[i] = len(stops)
		stops = append(stops, stop{t: rec.Time})
	}
	for shown < r.boots.last() {
		shown++
		addBoot(shown)
	}
	end := time.Time{}
	for _, s := range stops {
		if s.t.After(end) {
			end = s.t
		}
	}
	if bt, ok := r.boots.get(r.boots.last()); ok && bt.Closed.After(end) {
		end = bt.Closed
	}
	// Keep times monotonic for the scale: a clock step back draws as no time.
	for i := 1; i < len(stops); i++ {
		if stops[i].t.Before(stops[i-1].t) {
			stops[i].t = stops[i-1].t
		}
	}
	if len(stops) > 0 && end.Before(stops[len(stops)-1].t) {
		end = stops[len(stops)-1].t
	}
	xs, xEnd := scale(stops, end)
	height := laneTop + len(vms)*(laneHeight+laneGap) + axisHeight
	fmt.Fprintf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"timeline of %d VMs\">\n",
		svgWidth, height, svgWidth, height, len(vms))
	fmt.Fprintf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", svgWidth, height)
	laneY := make(map[string]int, len(vms))
	for i, vm := range vms {
		laneY[vm] = laneTop + i*(laneHeight+laneGap)
	}
	bottom := laneTop + len(vms)*(laneHeight+laneGap)

	// Boots and crashes, behind the lanes.
	for i, bt := range r.boots {
		k, ok := bootStop[bt.Number]
		if !ok {
			continue
		}
		x := math.Round(xs[k]) // whole pixels: crisp lines
		prevCrashed := i > 0 && r.boots[i-1].Closed.IsZero()
		if prevCrashed {
			pb := r.boots[i-1]
			fmt.Fprintf(b, "<g class=\"crash\" data-boot=\"%d\"><title>%s</title><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#d50000\" stroke-width=\"2\" stroke-dasharray=\"5,3\"/><text %s y=\"%d\" fill=\"#d50000\">✕ daemon crash</text></g>\n",
				pb.Number, esc(fmt.Sprintf("daemon crash: boot %d (pid %d, started %s) never closed; boot %d (pid %d) started %s", pb.Number, pb.PID, when(pb.Started, r.loc), bt.Number, bt.PID, when(bt.Started, r.loc))),
				x, laneTop-22, x, bottom, labelX(x, 110), laneTop-26)
		}
		line := "" // a crash's line marks the boot that followed it
		if !prevCrashed {
			line = fmt.Sprintf("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#757575\" stroke-width=\"1\"/>", x+0.5, laneTop-8, x+0.5, bottom)
		}
		fmt.Fprintf(b, "<g class=\"boot\" data-boot=\"%d\"><title>%s</title>%s<text %s y=\"%d\" fill=\"#616161\">boot %d</text></g>\n",
			bt.Number, esc(fmt.Sprintf("boot %d (pid %d) started %s", bt.Number, bt.PID, when(bt.Started, r.loc))),
			line, labelX(x, 60), laneTop-10, bt.Number)
	}

	// One lane per VM.
	byVM := make(map[string][]int)
	for i, rec := range r.recs {
		byVM[rec.VM] = append(byVM[rec.VM], i)
	}
	for _, vm := range vms {
		y := laneY[vm]
		fmt.Fprintf(b, "<g class=\"lane\" data-vm=\"%s\">\n<text x=\"8\" y=\"%d\">%s</text>\n", esc(vm), y+laneHeight/2+4, esc(vm))
		fmt.Fprintf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e0e0e0\"/>\n", laneLeft, y+laneHeight/2, xEnd, y+laneHeight/2)
		idx := byVM[vm]
		for j, i := range idx {
			rec := r.recs[i]
			x0 := xs[recStop[i]]
			x1, until := xEnd, end
			if j+1 < len(idx) {
				x1, until = xs[recStop[idx[j+1]]], r.recs[idx[j+1]].Time
			}
			color, ok := stateColors[rec.To]
			if !ok {
				continue // Absent: deleted, nothing to draw
			}
			title := fmt.Sprintf("%s %s from %s for %s\nrecord #%d (vmseq %d, boot %d): %s %s", vm, rec.To, when(rec.Time, r.loc), dur(until.Sub(rec.Time)), rec.Seq, rec.VMSeq, rec.Boot, rec.Event, transition(rec))
			if !rec.Agent.IsZero() {
				title += fmt.Sprintf("\nagent pid %d", rec.Agent.PID)
			}
			if !rec.Deadline.IsZero() {
				title += "\ndeadline " + when(rec.Deadline, r.loc)
			}
			title += causeTitle(rec)
			fmt.Fprintf(b, "<rect class=\"segment\" data-state=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s</title></rect>\n",
				rec.To, x0, y, math.Max(x1-x0, 1), laneHeight, color, esc(title))
		}
		for _, i := range idx {
			rec := r.recs[i]
			if !forced[rec.Event] {
				continue
			}
			x, cy := xs[recStop[i]], float64(y+laneHeight/2)
			title := fmt.Sprintf("%s at %s: record #%d %s %s", rec.Event, when(rec.Time, r.loc), rec.Seq, rec.Event, transition(rec))
			title += causeTitle(rec)
			fmt.Fprintf(b, "<polygon class=\"marker\" data-event=\"%s\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"#212121\" stroke=\"#ffffff\" stroke-width=\"1\"><title>%s</title></polygon>\n",
				rec.Event, x, cy-8, x+6, cy, x, cy+8, x-6, cy, esc(title))
		}
		b.WriteString("</g>\n")
	}

	// The time axis: a handful of labels spread over the width.
	fmt.Fprintf(b, "<g class=\"axis\"><line x1=\"%d\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#424242\"/>\n", laneLeft, bottom, xEnd, bottom)
	lastX := -1000.0
	for i, s := range stops {
		if xs[i]-lastX < 110 || xs[i] > svgWidth-90 {
			continue
		}
		lastX = xs[i]
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%d\">%s</text>\n", xs[i], bottom+16, clock(s.t, r.loc))
	}
	b.WriteString("</g>\n</svg>\n")
}

// causeTitle is what a record's hover text says of its cause: its kind
// (a name for each, [store.CauseKind.String]) and its sentence.
func causeTitle(rec store.Record) string {
	if rec.Cause.IsZero() && rec.Reason == "" {
		return ""
	}
	s := "\ncause: " + rec.Cause.Kind.String()
	if rec.Reason != "" {
		s += "\nreason: " + rec.Reason
	}
	return s
}

// plural prints n things, "1 daemon crash", "2 daemon crashes".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	if strings.HasSuffix(thing, "sh") || strings.HasSuffix(thing, "s") {
		return fmt.Sprintf("%d %ses", n, thing)
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// labelX places a label of about width pixels beside the line at x: to its
// right, or to its left near the right edge.
func labelX(x float64, width int) string {
	if x+float64(width) > svgWidth {
		return fmt.Sprintf("x=\"%.1f\" text-anchor=\"end\"", x-3)
	}
	return fmt.Sprintf("x=\"%.1f\"", x+3)
}

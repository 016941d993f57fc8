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
// style; one inline script) with an SVG timeline of the database: a lane
// per VM (an SVG group with data-vm="NAME"), one coloured segment per state
// a VM was in, a marker for each forced stop (force_stop, stop_timeout,
// kill_failed) and each crash (crashed, lost, start_failed), lines for the
// daemon's boots and its crashes, dates and times on the axis, and the
// details of a record on hover (its deadline and reason). The page says
// that its time axis is compressed; its script offers a linear one, zoom
// and pan. Every VM that is Broken, crashed or was forced gets each such
// record in a sentence and its [DB.Explain] text. The page is byte-stable
// for a given database.
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
	axisHeight = 40
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
section.explain p, section.explain li, p.axisnote { max-width: 1100px; line-height: 1.4; }
p.axisnote { font-size: 13px; margin: 0 0 8px 0; }
div.controls { margin: 0 0 6px 0; font-size: 13px; }
div.controls button { font-size: 13px; margin-right: 4px; }
div.controls span.hint { color: #616161; margin-left: 12px; }
div.plot { position: relative; }
svg#timeline { cursor: grab; user-select: none; }
svg#timeline.dragging { cursor: grabbing; }
div#tip { position: absolute; z-index: 2; max-width: 520px; background: #fffde7; border: 1px solid #616161; padding: 6px 8px; font-size: 12px; white-space: pre-wrap; pointer-events: none; box-shadow: 2px 2px 4px rgba(0,0,0,0.25); }
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
	fmt.Fprintf(b, "; %s, %s; times in %s. Hover a segment or a marker for its record, its deadline and its reason.</p>\n", plural(len(r.boots), "daemon boot"), plural(crashes, "daemon crash"), zoneName(r.recs, r.loc))
	b.WriteString(axisNoteCompressed)
	b.WriteString(controls)
	b.WriteString("<ul class=\"legend\">\n")
	for _, s := range []states.State{states.Stopped, states.Starting, states.Running, states.Stopping, states.ForceStopping, states.Broken} {
		fmt.Fprintf(b, "<li><span class=\"swatch\" style=\"background:%s\"></span>%s</li>\n", stateColors[s], s)
	}
	b.WriteString("<li>◆ forced stop (force_stop, stop_timeout, kill_failed)</li>\n<li><span style=\"color:#c9a800\">▼</span> VM crash (crashed, lost, start_failed)</li>\n<li><span style=\"color:#d50000\">┆</span> daemon crash</li>\n<li><span style=\"color:#757575\">│</span> daemon boot</li>\n</ul>\n")
	b.WriteString("<div class=\"plot\">\n")
	r.svg(b, vms)
	b.WriteString("<div id=\"tip\" hidden></div>\n</div>\n")
	r.incidents(b, vms)
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
	b.WriteString("<script>\n" + reportScript + "</script>\n")
	b.WriteString("</body>\n</html>\n")
	return nil
}

// incidents writes, for every VM that is Broken or was ever crashed, lost,
// failed to start or was forced, what happened in prose: each such record
// in a sentence, then how the VM came to its state ([DB.ExplainText]).
func (r *reporter) incidents(b *bytes.Buffer, vms []string) {
	esc := html.EscapeString
	byVM := make(map[string][]store.Record)
	for _, rec := range r.recs {
		if forced[rec.Event] || crashes[rec.Event] {
			byVM[rec.VM] = append(byVM[rec.VM], rec)
		}
	}
	var shown []string
	for _, vm := range vms {
		if len(byVM[vm]) > 0 || r.heads[vm].State == states.Broken {
			shown = append(shown, vm)
		}
	}
	if len(shown) == 0 {
		return
	}
	b.WriteString("<h2>VMs that crashed, failed or were forced</h2>\n")
	for _, vm := range shown {
		fmt.Fprintf(b, "<section class=\"explain\" data-explain=\"%s\">\n<h3>%s (now %s)</h3>\n", esc(vm), esc(vm), r.heads[vm].State)
		if recs := byVM[vm]; len(recs) > 0 {
			b.WriteString("<ul>\n")
			for _, rec := range recs {
				fmt.Fprintf(b, "<li data-seq=\"%d\">%s</li>\n", rec.Seq, esc(incidentSentence(rec, r.loc)))
			}
			b.WriteString("</ul>\n")
		}
		text, err := r.d.ExplainText(vm)
		if err != nil {
			text = err.Error()
		}
		fmt.Fprintf(b, "<p>%s</p>\n</section>\n", esc(text))
	}
}

// incidentSentence tells one crash or forced stop in a sentence.
func incidentSentence(rec store.Record, loc *time.Location) string {
	at := when(rec.Time, loc)
	why := rec.Reason
	if why == "" {
		why = rec.Cause.Kind.String()
	}
	pid := ""
	if !rec.Agent.IsZero() {
		pid = fmt.Sprintf(" (pid %d)", rec.Agent.PID)
	}
	var s string
	switch rec.Event {
	case states.Crashed:
		s = fmt.Sprintf("At %s the agent%s crashed: %s. The VM went %s.", at, pid, why, transition(rec))
	case states.Lost:
		s = fmt.Sprintf("At %s recovery found the agent%s gone: %s. The VM went %s.", at, pid, why, transition(rec))
	case states.StartFailed:
		s = fmt.Sprintf("At %s the start failed: %s. The VM went %s.", at, why, transition(rec))
	case states.StopTimeout:
		s = fmt.Sprintf("At %s the stop was forced: %s. lifeline sent SIGTERM, then SIGKILL to the agent's tree (%s).", at, why, transition(rec))
	case states.ForceStop:
		s = fmt.Sprintf("At %s a forced stop (%s) killed the agent's tree without waiting for it to power off (%s).", at, why, transition(rec))
	case states.KillFailed:
		s = fmt.Sprintf("At %s the kill failed: %s. The VM went %s; `lifeline reset` clears it once nothing of it runs.", at, why, transition(rec))
	default:
		s = fmt.Sprintf("At %s: %s %s: %s.", at, rec.Event, transition(rec), why)
	}
	if !rec.Deadline.IsZero() {
		s += fmt.Sprintf(" Its next deadline: %s.", when(rec.Deadline, loc))
	}
	return s
}

// zoneName names the zone the page's times are in, as of its first record.
func zoneName(recs []store.Record, loc *time.Location) string {
	t := time.Now()
	if len(recs) > 0 {
		t = recs[0].Time
	}
	name, off := t.In(loc).Zone()
	return fmt.Sprintf("%s (UTC%+03d:%02d)", name, off/3600, absInt(off%3600)/60)
}

func absInt(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// axisNoteCompressed says on the page that the time axis is not to scale;
// the script swaps it for axisNoteLinear when the linear axis is chosen.
const axisNoteCompressed = `<p class="axisnote" id="axisnote"><b>The time axis is compressed, not to scale:</b> every record gets a slot of its own and the time between records is drawn by its square root, so a quiet night does not squeeze an incident into a pixel. Widths show order, not duration; hover for the durations, or choose the linear axis.</p>
`

const axisNoteLinear = `<b>The time axis is linear:</b> widths are in proportion to time; records close together overlap (zoom in to tell them apart).`

// controls are the page's zoom, pan and axis controls; hidden until the
// script runs (the page without it is the static, compressed drawing).
const controls = `<div class="controls" id="controls" hidden>
<button type="button" id="zoomin">zoom in</button><button type="button" id="zoomout">zoom out</button><button type="button" id="zoomreset">reset</button>
<label><input type="checkbox" id="linear"> linear time axis</label>
<span class="hint">wheel: zoom at the pointer; drag: pan; the address's #linear&amp;zoom=4&amp;seq=17 opens that view</span>
</div>
`

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

// linearScale places the stops in proportion to time: the linear axis the
// page's toggle offers. With no time between the first stop and the end,
// it is the compressed scale.
func linearScale(stops []stop, end time.Time, compressed []float64, cEnd float64) (xs []float64, xEnd float64) {
	if len(stops) == 0 || !end.After(stops[0].t) {
		return compressed, cEnd
	}
	width := float64(svgWidth - laneLeft - laneRight)
	span := end.Sub(stops[0].t).Seconds()
	xs = make([]float64, len(stops))
	for i, s := range stops {
		xs[i] = laneLeft + width*s.t.Sub(stops[0].t).Seconds()/span
	}
	return xs, laneLeft + width
}

// crashes are the events drawn as a VM's crash markers.
var crashes = map[states.Event]bool{states.Crashed: true, states.Lost: true, states.StartFailed: true}

// Marker shapes, around (0, 0): a diamond for a forced stop, a triangle
// for a crash; placed with a translate.
const (
	diamond  = "0,-8 6,0 0,8 -6,0"
	triangle = "-7,-7 7,-7 0,7"
	// crashColor fills a crash marker: yellow on the Broken segment it
	// starts.
	crashColor = "#ffd600"
)

func fmtXs(xs []float64, end float64) string {
	var b strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&b, "%.1f ", x)
	}
	fmt.Fprintf(&b, "%.1f", end)
	return b.String()
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
	xl, xlEnd := linearScale(stops, end, xs, xEnd)
	endStop := len(stops) // index of the end in the position lists
	height := laneTop + len(vms)*(laneHeight+laneGap) + axisHeight
	// data-xc and data-xl: every stop's x on the compressed and the linear
	// axis, the end last; the page's script lays the drawing out from them
	// (zoom, pan, the axis toggle). Without the script the drawing is the
	// compressed one.
	fmt.Fprintf(b, "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"timeline of %d VMs\" data-left=\"%d\" data-right=\"%d\" data-xc=\"%s\" data-xl=\"%s\">\n",
		svgWidth, height, svgWidth, height, len(vms), laneLeft, svgWidth-laneRight, fmtXs(xs, xEnd), fmtXs(xl, xlEnd))
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
			fmt.Fprintf(b, "<g class=\"crash\" data-boot=\"%d\" data-s=\"%d\"><title>%s</title><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#d50000\" stroke-width=\"2\" stroke-dasharray=\"5,3\"/><text %s y=\"%d\" fill=\"#d50000\" data-w=\"110\">✕ daemon crash</text></g>\n",
				pb.Number, k, esc(fmt.Sprintf("daemon crash: boot %d (pid %d, started %s) never closed; boot %d (pid %d) started %s", pb.Number, pb.PID, when(pb.Started, r.loc), bt.Number, bt.PID, when(bt.Started, r.loc))),
				x, laneTop-22, x, bottom, labelX(x, 110), laneTop-26)
		}
		line := "" // a crash's line marks the boot that followed it
		if !prevCrashed {
			line = fmt.Sprintf("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#757575\" stroke-width=\"1\"/>", x+0.5, laneTop-8, x+0.5, bottom)
		}
		fmt.Fprintf(b, "<g class=\"boot\" data-boot=\"%d\" data-s=\"%d\"><title>%s</title>%s<text %s y=\"%d\" fill=\"#616161\" data-w=\"60\">boot %d</text></g>\n",
			bt.Number, k, esc(fmt.Sprintf("boot %d (pid %d) started %s", bt.Number, bt.PID, when(bt.Started, r.loc))),
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
		fmt.Fprintf(b, "<line class=\"track\" x1=\"%d\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e0e0e0\"/>\n", laneLeft, y+laneHeight/2, xEnd, y+laneHeight/2)
		idx := byVM[vm]
		for j, i := range idx {
			rec := r.recs[i]
			k0, k1 := recStop[i], endStop
			x0 := xs[k0]
			x1, until := xEnd, end
			if j+1 < len(idx) {
				k1 = recStop[idx[j+1]]
				x1, until = xs[k1], r.recs[idx[j+1]].Time
			}
			color, ok := stateColors[rec.To]
			if !ok {
				continue // Absent: deleted, nothing to draw
			}
			title := fmt.Sprintf("%s %s from %s for %s\nrecord #%d (vmseq %d, boot %d): %s %s", vm, rec.To, when(rec.Time, r.loc), dur(until.Sub(rec.Time)), rec.Seq, rec.VMSeq, rec.Boot, rec.Event, transition(rec))
			if !rec.Agent.IsZero() {
				title += fmt.Sprintf("\nagent pid %d", rec.Agent.PID)
			}
			title += deadlineTitle(rec, r.loc)
			title += causeTitle(rec)
			fmt.Fprintf(b, "<rect class=\"segment\" data-state=\"%s\" data-seq=\"%d\" data-s0=\"%d\" data-s1=\"%d\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s</title></rect>\n",
				rec.To, rec.Seq, k0, k1, x0, y, math.Max(x1-x0, 1), laneHeight, color, esc(title))
		}
		for _, i := range idx {
			rec := r.recs[i]
			shape, fill, stroke, class := diamond, "#212121", "#ffffff", "marker"
			switch {
			case forced[rec.Event]:
			case crashes[rec.Event]:
				shape, fill, stroke, class = triangle, crashColor, "#212121", "marker crash-marker"
			default:
				continue
			}
			k := recStop[i]
			title := fmt.Sprintf("%s: %s at %s\nrecord #%d %s %s", vm, rec.Event, when(rec.Time, r.loc), rec.Seq, rec.Event, transition(rec))
			if !rec.Agent.IsZero() {
				title += fmt.Sprintf("\nagent pid %d", rec.Agent.PID)
			}
			title += deadlineTitle(rec, r.loc)
			title += causeTitle(rec)
			fmt.Fprintf(b, "<polygon class=\"%s\" data-event=\"%s\" data-seq=\"%d\" data-s=\"%d\" points=\"%s\" transform=\"translate(%.1f,%d)\" fill=\"%s\" stroke=\"%s\" stroke-width=\"1\"><title>%s</title></polygon>\n",
				class, rec.Event, rec.Seq, k, shape, xs[k], y+laneHeight/2, fill, stroke, esc(title))
		}
		b.WriteString("</g>\n")
	}

	// The time axis: a label at a recorded moment wherever there is room
	// (the script moves and thins them as the view changes), with the date
	// under the first label and wherever the day changes.
	fmt.Fprintf(b, "<g class=\"axis\"><line x1=\"%d\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#424242\"/>\n", laneLeft, bottom, xEnd, bottom)
	lastX, lastDate := -1000.0, ""
	for i, s := range stops {
		show := xs[i]-lastX >= axisLabelGap && xs[i] <= svgWidth-90
		date := dateOf(s.t, r.loc) // with the zone: the tick above is a time of day
		hidden := ` display="none"`
		dateHidden := hidden
		if show {
			lastX, hidden = xs[i], ""
			if date != lastDate {
				dateHidden, lastDate = "", date
			}
		}
		fmt.Fprintf(b, "<text class=\"tick\" data-s=\"%d\" x=\"%.1f\" y=\"%d\"%s>%s</text>\n", i, xs[i], bottom+16, hidden, s.t.In(r.loc).Format("15:04:05"))
		fmt.Fprintf(b, "<text class=\"tickdate\" data-s=\"%d\" x=\"%.1f\" y=\"%d\" fill=\"#616161\"%s>%s</text>\n", i, xs[i], bottom+31, dateHidden, date)
	}
	mode := "axis: compressed (not to scale)"
	fmt.Fprintf(b, "<text id=\"axismode\" x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#616161\">%s</text>\n", svgWidth-laneRight, laneTop-40, mode)
	b.WriteString("</g>\n</svg>\n")
}

// axisLabelGap is the least room, in pixels, between two axis labels.
const axisLabelGap = 110

// deadlineTitle is what a record's hover text says of its deadline.
func deadlineTitle(rec store.Record, loc *time.Location) string {
	if rec.Deadline.IsZero() {
		return ""
	}
	return fmt.Sprintf("\ndeadline %s (%s after the record)", when(rec.Deadline, loc), dur(rec.Deadline.Sub(rec.Time)))
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

// labelX places a label of about width pixels beside the line at x: to its
// right, or to its left near the right edge.
func labelX(x float64, width int) string {
	if x+float64(width) > svgWidth {
		return fmt.Sprintf("x=\"%.1f\" text-anchor=\"end\"", x-3)
	}
	return fmt.Sprintf("x=\"%.1f\"", x+3)
}

package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/internal/cli/vmtext"
)

// progress shows a --wait's transitions as the daemon records them.
type progress interface {
	record(r api.Record)
	// note is a line the VM's agent logged while it starts (Lima's own
	// progress: "Waiting for the essential requirement 1 of 3: ssh").
	note(vm, level, msg string)
	// agentEvent is a status event the VM's agent reported (Lima's own
	// progress: "running; ssh on 127.0.0.1:60022").
	agentEvent(vm string, ev api.AgentEvent)
	done()
}

// noProgress shows nothing (-o json, -q).
type noProgress struct{}

func (noProgress) record(api.Record)                 {}
func (noProgress) note(string, string, string)       {}
func (noProgress) agentEvent(string, api.AgentEvent) {}
func (noProgress) done()                             {}

// newProgress picks how a --wait shows its work on w (stderr): a spinner
// line with the state, the next deadline counting down and the escalation
// step when w is a terminal and one VM is followed; one line per
// transition otherwise. Nothing with -o json or -q.
func newProgress(g *Globals, w io.Writer, vms int) progress {
	if g.json() || g.quiet {
		return noProgress{}
	}
	var mu sync.Mutex
	if vms == 1 && isTerminal(w) {
		return newSpinner(g, w, &mu)
	}
	return &lineProgress{g: g, w: w, mu: &mu}
}

// isTerminal tells whether w is a terminal, and not one that asks for no
// cursor tricks (TERM=dumb): colour and spinners are for people watching,
// never for files, pipes or /dev/null.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && os.Getenv("TERM") != "dumb" && term.IsTerminal(int(f.Fd()))
}

// lineProgress prints one line per transition.
type lineProgress struct {
	g  *Globals
	w  io.Writer
	mu *sync.Mutex
}

func (p *lineProgress) record(r api.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, transitionLine(p.g, r))
}

func (p *lineProgress) note(vm, level, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, noteLine(p.g, vm, level, msg))
}

func (p *lineProgress) agentEvent(vm string, ev api.AgentEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, agentEventLine(p.g, vm, ev))
}

func (p *lineProgress) done() {}

// agentEventLine is one of the agent's status events, as progress: when
// the agent reported it, the VM, and what it said, as limactl start says
// it ("db: Lima: running; ssh on 127.0.0.1:60022", "db: Lima: degraded:
// ...", "db: Lima: exiting").
func agentEventLine(g *Globals, vm string, ev api.AgentEvent) string {
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	return fmt.Sprintf("%s  %s: Lima: %s", g.clock(at), vm, agentEventText(ev.Status))
}

// agentEventText says what one status event reports.
func agentEventText(st api.AgentEventStatus) string {
	var s string
	switch {
	case st.Exiting:
		s = "exiting"
	case st.Degraded:
		s = "degraded"
	case st.Running:
		s = "running"
	case len(st.Errors) > 0:
		s = "error"
	default:
		s = "starting"
	}
	if len(st.Errors) > 0 {
		s += ": " + strings.Join(st.Errors, "; ")
	} else if st.SSHLocalPort != 0 && !st.Exiting {
		s += fmt.Sprintf("; ssh on 127.0.0.1:%d", st.SSHLocalPort)
	}
	return s
}

// noteLine is a line of the agent's log, as progress.
func noteLine(g *Globals, vm, level, msg string) string {
	if level != "" && level != "info" {
		msg = level + ": " + msg
	}
	return fmt.Sprintf("%s  %s: agent: %s", g.clock(time.Now()), vm, msg)
}

// transitionLine is one transition for people: when, the VM, the arrow,
// the event and what the daemon does now.
func transitionLine(g *Globals, r api.Record) string {
	line := fmt.Sprintf("%s  %s: %s → %s (%s)", g.clock(r.Time), r.VM, r.From, r.To, r.Event)
	if s := step(g, r, time.Time{}); s != "" {
		line += ": " + s
	}
	return line
}

// timeZero asks step for absolute deadlines, not a countdown.
var timeZero time.Time

// step says what the daemon does in the state r entered and what comes at
// its deadline; with now set, as a countdown from now (vmtext.Step).
func step(g *Globals, r api.Record, now time.Time) string { return vmtext.Step(g.times(), r, now) }

// spinner rewrites one line on a terminal: the VM's state, the next
// deadline counting down and the escalation step; each transition is also
// left on the screen as a line of its own.
type spinner struct {
	g    *Globals
	w    io.Writer
	mu   *sync.Mutex
	last *api.Record
	stop chan struct{}
	wg   sync.WaitGroup
	n    int
}

// spinnerTick is how often the spinner line is redrawn.
const spinnerTick = 200 * time.Millisecond

func newSpinner(g *Globals, w io.Writer, mu *sync.Mutex) *spinner {
	s := &spinner{g: g, w: w, mu: mu, stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(spinnerTick)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-t.C:
				s.mu.Lock()
				s.draw(now)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

var spinFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// draw redraws the spinner line; s.mu held.
func (s *spinner) draw(now time.Time) {
	if s.last == nil || !s.last.To.InFlight() {
		return
	}
	s.n++
	r := s.last
	line := fmt.Sprintf("%s %s: %s — %s", spinFrames[s.n%len(spinFrames)], r.VM, r.To, step(s.g, *r, now))
	fmt.Fprint(s.w, "\r\x1b[K"+strings.TrimSpace(line))
}

func (s *spinner) record(r api.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprint(s.w, "\r\x1b[K")
	fmt.Fprintln(s.w, transitionLine(s.g, r))
	s.last = &r
	s.draw(time.Now())
}

func (s *spinner) note(vm, level, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprint(s.w, "\r\x1b[K")
	fmt.Fprintln(s.w, noteLine(s.g, vm, level, msg))
	s.draw(time.Now())
}

func (s *spinner) agentEvent(vm string, ev api.AgentEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprint(s.w, "\r\x1b[K")
	fmt.Fprintln(s.w, agentEventLine(s.g, vm, ev))
	s.draw(time.Now())
}

func (s *spinner) done() {
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprint(s.w, "\r\x1b[K")
}

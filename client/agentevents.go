package client

import (
	"bytes"
	"encoding/json"

	"github.com/lifeline-vm/lifeline/api"
)

// MaxAgentEventLine bounds a line an [AgentEventReader] keeps while it
// waits for the line's end: an event is a few hundred bytes, so a longer
// line is not one and is dropped (counted in Skipped), never held whole.
const MaxAgentEventLine = 64 << 10

// AgentEventReader is the writer to give [Client.Logs] with
// LogsOptions.Events: it splits what the daemon sends into lines and
// calls Fn with each line that is an [api.AgentEvent]. A line that is not
// one (not JSON, no "status", longer than MaxAgentEventLine) is skipped
// and counted, never fatal. Each answer starts from the top of the
// agent's events, so a reader that asks again passes over the lines an
// earlier answer gave with Skip.
type AgentEventReader struct {
	// Skip is how many complete lines to pass over first.
	Skip int
	// Fn is called with each event after the first Skip lines.
	Fn func(api.AgentEvent)

	lines   int    // complete lines seen, skipped ones included
	skipped int    // lines after Skip that were not events
	buf     []byte // the start of a line whose newline has not come
	over    bool   // buf overflowed: drop up to the newline
}

// Write never fails: what is not an event is counted and dropped.
func (r *AgentEventReader) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if !r.over {
				r.buf = append(r.buf, b...)
				if len(r.buf) > MaxAgentEventLine {
					r.buf, r.over = nil, true
				}
			}
			return n, nil
		}
		tooLong := r.over || len(r.buf)+i > MaxAgentEventLine
		var line []byte
		if !tooLong {
			line = append(r.buf, b[:i]...)
		}
		r.line(line, tooLong)
		r.buf, r.over = r.buf[:0], false
		b = b[i+1:]
	}
	return n, nil
}

// line handles one complete line; tooLong: it was dropped.
func (r *AgentEventReader) line(line []byte, tooLong bool) {
	r.lines++
	if r.lines <= r.Skip {
		return
	}
	if len(bytes.TrimSpace(line)) == 0 && !tooLong {
		return
	}
	ev, ok := parseAgentEvent(line)
	if tooLong || !ok {
		r.skipped++
		return
	}
	if r.Fn != nil {
		r.Fn(ev)
	}
}

// parseAgentEvent reads one line as an event: a JSON object with a
// "status" object.
func parseAgentEvent(line []byte) (api.AgentEvent, bool) {
	var ev struct {
		api.AgentEvent
		Status *api.AgentEventStatus `json:"status"`
	}
	if err := json.Unmarshal(line, &ev); err != nil || ev.Status == nil {
		return api.AgentEvent{}, false
	}
	ev.AgentEvent.Status = *ev.Status
	return ev.AgentEvent, true
}

// Lines is how many complete lines the reader has seen, the Skip ones
// included: the Skip of the next reader of the same events.
func (r *AgentEventReader) Lines() int { return r.lines }

// Skipped is how many lines after Skip were not events.
func (r *AgentEventReader) Skipped() int { return r.skipped }

// Partial tells whether the answer ended in the middle of a line (the
// agent was writing it, or died before its newline): the next answer
// reads it whole, if it was finished.
func (r *AgentEventReader) Partial() bool { return len(r.buf) > 0 || r.over }

package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers"
)

// logs answers GET /v1/vms/{name}/logs?previous=1&follow=1&events=1: the
// agent's own log as text/plain, the current start's or (previous) the
// one's before, followed (follow) until the agent exits or the client
// hangs up; with events, the agent's status events instead (one JSON
// object a line, api.AgentEvent, as the agent wrote them). A VM whose
// driver keeps no log (or no events), or a log not kept, is 404 no_log.
// The answer is written by the request's own goroutine: a slow reader
// holds up nothing but its own answer.
func (s *handler) logs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := s.eng.Get(name); err != nil {
		s.fail(w, name, err)
		return
	}
	q := r.URL.Query()
	var opts drivers.LogOptions
	for _, p := range []struct {
		key string
		v   *bool
	}{{"previous", &opts.Previous}, {"follow", &opts.Follow}, {"events", &opts.Events}} {
		if v := q.Get(p.key); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				s.fail(w, name, invalid(fmt.Errorf("vm %q: logs: bad %s %q: want 1 or 0", name, p.key, v)))
				return
			}
			*p.v = b
		}
	}
	if s.opts.Logs == nil {
		s.noLog(w, name, fmt.Errorf("vm %q: %w: its driver keeps no agent log; look in the driver's own files", name, drivers.ErrNoLog))
		return
	}
	lw := &logWriter{w: w, rc: http.NewResponseController(w)}
	err := s.opts.Logs.AgentLog(r.Context(), name, opts, lw)
	switch {
	case err == nil:
		lw.start() // an empty log is an empty answer
	case !lw.started && errors.Is(err, drivers.ErrNoLog):
		s.noLog(w, name, err)
	case !lw.started:
		s.fail(w, name, err)
	default:
		s.log.Warn().Err(err).Str("vm", name).Msg("agent log stream ended")
	}
}

func (s *handler) noLog(w http.ResponseWriter, name string, err error) {
	body := &api.ErrorBody{Code: api.CodeNoLog, VM: name, Message: err.Error()}
	s.addState(body)
	writeJSON(w, http.StatusNotFound, body)
}

// logWriter answers 200 at the first write and flushes every write, so a
// follower sees each line as the agent writes it.
type logWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func (l *logWriter) start() {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		l.w.WriteHeader(http.StatusOK)
	}
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.start()
	n, err := l.w.Write(p)
	if err == nil {
		err = l.rc.Flush()
	}
	return n, err
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// MaxWait bounds every wait the server does for a client, whatever the
// client asks: a wait never holds a connection forever.
const MaxWait = 24 * time.Hour

// Store is what the handler reads from the log besides the engine: where
// the log ends (events, wait since), a VM's head (wait since) and a
// consistent copy (backup). *store.Store implements it.
type Store interface {
	LastSeq() uint64
	Head(vm string) (store.Head, bool, error)
	Backup(w io.Writer) (int64, error)
}

var _ Store = (*store.Store)(nil)

// Options configure a handler. The zero value serves the API with no
// daemon info, no default spec and no log.
type Options struct {
	// Info is what GET /v1/info answers.
	Info api.Info
	// Logger logs what the handler ends on its own (an events stream cut
	// off, a failed backup); default zerolog.Nop().
	Logger zerolog.Logger
	// DefaultSpec, if set, completes a create's spec before it is recorded
	// (a default template when none was given). The engine checks the
	// result, with the driver, before anything is recorded.
	DefaultSpec func(name string, spec *drivers.Spec) error
	// Logs, if set, serves GET /v1/vms/{name}/logs (the daemon's driver,
	// when it is a drivers.LogReader); nil: every VM has no log.
	Logs drivers.LogReader
	// Locate, if set, names a VM's directory and agent log files in GET
	// /v1/vms/{name} (the daemon's driver, when it is a drivers.Locator).
	Locate drivers.Locator
}

// handler serves the control API over an engine.
type handler struct {
	eng  *engine.Engine
	st   Store
	opts Options
	log  zerolog.Logger
}

// NewHandler returns the control API's routes (see package api) over eng,
// whose log is st (the store eng was opened with). The caller serves it
// where it likes: the daemon on its unix socket, an embedding program on
// its own. Commands run under eng's rules; a command whose client hangs up
// still commits what it started.
func NewHandler(eng *engine.Engine, st Store, opts Options) http.Handler {
	if eng == nil || st == nil {
		panic("server.NewHandler: the engine and its store are required")
	}
	s := &handler{eng: eng, st: st, opts: opts, log: opts.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.opts.Info) })
	mux.HandleFunc("GET /v1/vms", s.list)
	mux.HandleFunc("POST /v1/vms", s.create)
	mux.HandleFunc("GET /v1/vms/{name}", s.status)
	mux.HandleFunc("DELETE /v1/vms/{name}", s.command(func(ctx context.Context, name string, r *http.Request) (store.Record, error) {
		if err := readEmpty(r); err != nil {
			return store.Record{}, err
		}
		return s.eng.Delete(ctx, name)
	}))
	mux.HandleFunc("POST /v1/vms/{name}/start", s.command(func(ctx context.Context, name string, r *http.Request) (store.Record, error) {
		if err := readEmpty(r); err != nil {
			return store.Record{}, err
		}
		return s.eng.Start(ctx, name)
	}))
	mux.HandleFunc("POST /v1/vms/{name}/stop", s.command(func(ctx context.Context, name string, r *http.Request) (store.Record, error) {
		var req api.StopRequest
		if err := readJSON(r, &req); err != nil {
			return store.Record{}, err
		}
		return s.eng.Stop(ctx, name, engine.StopOptions{Force: req.Force, Grace: req.Grace})
	}))
	mux.HandleFunc("POST /v1/vms/{name}/reset", s.command(func(ctx context.Context, name string, r *http.Request) (store.Record, error) {
		if err := readEmpty(r); err != nil {
			return store.Record{}, err
		}
		return s.eng.Reset(ctx, name)
	}))
	mux.HandleFunc("PUT /v1/vms/{name}/spec", s.command(func(ctx context.Context, name string, r *http.Request) (store.Record, error) {
		var req api.UpdateRequest
		if err := readJSON(r, &req); err != nil {
			return store.Record{}, err
		}
		return s.eng.Update(ctx, name, driverSpec(req.Spec))
	}))
	mux.HandleFunc("POST /v1/vms/{name}/release", s.command(func(ctx context.Context, name string, r *http.Request) (store.Record, error) {
		if err := readEmpty(r); err != nil {
			return store.Record{}, err
		}
		return s.eng.Release(ctx, name)
	}))
	mux.HandleFunc("POST /v1/import", s.importVMs) // import.go
	mux.HandleFunc("GET /v1/vms/{name}/wait", s.wait)
	mux.HandleFunc("GET /v1/vms/{name}/logs", s.logs) // logs.go
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("GET /v1/backup", s.backup)
	return mux
}

func (s *handler) list(w http.ResponseWriter, _ *http.Request) {
	out := []api.VM{}
	for _, v := range s.eng.List() {
		out = append(out, VMOf(v))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *handler) status(w http.ResponseWriter, r *http.Request) {
	v, err := s.eng.Get(r.PathValue("name"))
	if err != nil {
		s.fail(w, r.PathValue("name"), err)
		return
	}
	out := VMOf(v)
	if s.opts.Locate != nil {
		if l, err := s.opts.Locate.Locate(v.Name); err == nil {
			out.InstanceDir, out.AgentLogs = l.Dir, l.AgentLogs
		} else {
			s.log.Debug().Err(err).Str("vm", v.Name).Msg("status: the VM's files not named")
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *handler) create(w http.ResponseWriter, r *http.Request) {
	var req api.CreateRequest
	if err := readJSON(r, &req); err != nil {
		s.fail(w, "", err)
		return
	}
	if err := engine.ValidateName(req.Name); err != nil {
		s.fail(w, req.Name, err)
		return
	}
	// The shared fields are checked before DefaultSpec fills the rest;
	// Create checks everything again, with the driver, before its record.
	if err := engine.ValidateSpec(req.Name, driverSpec(req.Spec)); err != nil {
		s.fail(w, req.Name, err)
		return
	}
	spec := driverSpec(req.Spec)
	if s.opts.DefaultSpec != nil {
		if err := s.opts.DefaultSpec(req.Name, &spec); err != nil {
			s.fail(w, req.Name, fmt.Errorf("vm %q: create: default spec: %w", req.Name, err))
			return
		}
	}
	rec, err := s.eng.Create(r.Context(), req.Name, spec)
	s.result(w, req.Name, rec, err)
}

func (s *handler) command(f func(ctx context.Context, name string, r *http.Request) (store.Record, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		// A command's record must not be abandoned half-way because the
		// client hung up: the engine commits what it started.
		rec, err := f(context.WithoutCancel(r.Context()), name, r)
		s.result(w, name, rec, err)
	}
}

func (s *handler) result(w http.ResponseWriter, name string, rec store.Record, err error) {
	if err != nil {
		if rec.Seq != 0 {
			// The record is durable but a follow-up failed (a definition
			// that could not be written, files that remain after delete):
			// the caller must hear it, with what did happen.
			err = recordedError{fmt.Errorf("recorded %s as seq %d, but: %w", rec.Event, rec.Seq, err)}
		}
		s.fail(w, name, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Result{Name: name, Seq: rec.Seq, State: api.State(rec.To.String())})
}

// wait answers GET /v1/vms/{name}/wait?for=state=Running|delete&since=N&timeout=D.
// Without since, the VM's current state counts. With since, every record
// after seq N counts, in order: a VM that went Running and then Broken
// before the request still satisfies for=state=Running. Unless it waits
// for delete, a wait on a VM that does not exist, or that is deleted
// before it reaches the state, answers 404 at once.
func (s *handler) wait(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	want, err := parseFor(q.Get("for"))
	if err != nil {
		s.fail(w, name, err)
		return
	}
	timeout := MaxWait
	if t := q.Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			s.fail(w, name, invalid(fmt.Errorf("wait: bad timeout %q: want a positive duration such as 30s", t)))
			return
		}
		timeout = min(d, MaxWait)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	var head store.Head
	if since := q.Get("since"); since != "" {
		seq, err := strconv.ParseUint(since, 10, 64)
		if err != nil {
			s.fail(w, name, invalid(fmt.Errorf("wait: bad since %q: want a record sequence", since)))
			return
		}
		if last := s.st.LastSeq(); seq > last {
			s.fail(w, name, invalid(fmt.Errorf("wait: since %d is beyond the last record (seq %d): use a seq a command answered", seq, last)))
			return
		}
		head, err = s.eng.WaitForSince(ctx, name, seq, func(h store.Head) bool {
			return h.State == want || h.State == states.Absent
		})
		if err == nil && head.State != want {
			// Absent with no record after seq: nothing can bring the VM
			// to want unless it is created again, which a wait does not
			// wait for.
			if head.Seq <= seq {
				err = fmt.Errorf("vm %q: %w", name, engine.ErrNotFound)
			} else {
				err = deletedError(name, head.Seq, want)
			}
		}
		if err != nil {
			s.failWait(w, name, timeout, err)
			return
		}
	} else {
		if want != states.Absent {
			if _, err := s.eng.Get(name); err != nil {
				s.fail(w, name, err)
				return
			}
		}
		head, err = s.eng.WaitFor(ctx, name, func(h store.Head) bool {
			return h.State == want || h.State == states.Absent
		})
		if err == nil && head.State != want {
			err = deletedError(name, head.Seq, want)
		}
		if err != nil {
			s.failWait(w, name, timeout, err)
			return
		}
	}
	v := engine.VM{Name: name, Head: head}
	writeJSON(w, http.StatusOK, VMOf(v))
}

func deletedError(name string, seq uint64, want states.State) error {
	return fmt.Errorf("vm %q: deleted (seq %d) before it was %s: %w", name, seq, want, engine.ErrNotFound)
}

func parseFor(s string) (states.State, error) {
	if s == "delete" {
		return states.Absent, nil
	}
	if st, ok := strings.CutPrefix(s, "state="); ok {
		v, err := states.ParseState(st)
		if err != nil {
			return 0, invalid(fmt.Errorf("wait: --for=%s: %w", s, err))
		}
		return v, nil
	}
	return 0, invalid(fmt.Errorf("wait: --for=%q: want state=STATE or delete", s))
}

func (s *handler) failWait(w http.ResponseWriter, name string, timeout time.Duration, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		body := &api.ErrorBody{Code: api.CodeTimeout, VM: name, Message: fmt.Sprintf("vm %q: wait: timed out after %v", name, timeout)}
		s.addState(body)
		writeJSON(w, http.StatusGatewayTimeout, body)
		return
	}
	s.fail(w, name, err)
}

// EventsWriteTimeout bounds one write of the events stream: a client that
// reads nothing for this long is disconnected.
const EventsWriteTimeout = time.Minute

// events streams records as JSON lines: history from since, then, with
// follow, live ones until the client goes away. A stream the daemon ends
// (a reader too slow to keep up, the daemon closing) ends with one
// api.StreamError line that says why and from which seq to resume.
func (s *handler) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since uint64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.fail(w, "", invalid(fmt.Errorf("events: bad since %q: want a record sequence", v)))
			return
		}
		since = n
	}
	vm := q.Get("vm")
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Without follow, stop at what is committed now.
	last := s.st.LastSeq()
	sub, err := s.eng.Subscribe(ctx, since)
	if err != nil {
		s.fail(w, vm, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	if !follow && (last == 0 || last < since) {
		return
	}
	next := since
	for rec := range sub.C {
		_ = rc.SetWriteDeadline(time.Now().Add(EventsWriteTimeout))
		if vm == "" || rec.VM == vm {
			if err := enc.Encode(RecordOf(rec)); err != nil {
				return
			}
		}
		next = rec.Seq + 1
		if !follow && rec.Seq >= last {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	err = sub.Err()
	if err == nil || ctx.Err() != nil {
		return
	}
	line := api.StreamError{Code: api.CodeInternal, Message: err.Error(), ResumeSeq: next}
	var slow *engine.TooSlowError
	if errors.As(err, &slow) {
		line.Code, line.ResumeSeq = api.CodeTooSlow, slow.ResumeSeq
		line.Message = fmt.Sprintf("events: this reader fell behind by more than %d bytes and was cut off; resume with since=%d", slow.Limit, slow.ResumeSeq)
	}
	s.log.Warn().Err(err).Uint64("seq", line.ResumeSeq).Msg("events stream ended")
	_ = rc.SetWriteDeadline(time.Now().Add(EventsWriteTimeout))
	_ = enc.Encode(line)
	_ = rc.Flush()
}

func (s *handler) backup(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := s.st.Backup(w); err != nil {
		s.log.Error().Err(err).Msg("backup")
	}
}

// recordedError is a failure after the command's record was written: never
// a refusal (409, 400), whatever it wraps.
type recordedError struct{ error }

func (e recordedError) Unwrap() error { return e.error }

type invalidError struct{ error }

func (e invalidError) Unwrap() error { return e.error }

func invalid(err error) error { return invalidError{err} }

// fail maps an engine error to its status and code.
func (s *handler) fail(w http.ResponseWriter, name string, err error) {
	status, body := s.errorBody(name, err)
	writeJSON(w, status, body)
}

// errorBody is err on the wire, with its HTTP status.
func (s *handler) errorBody(name string, err error) (int, *api.ErrorBody) {
	status, body := http.StatusInternalServerError, &api.ErrorBody{Code: api.CodeInternal, VM: name, Message: err.Error()}
	var rej *engine.RejectedError
	var inv invalidError
	var recorded recordedError
	switch {
	case errors.As(err, &recorded):
	case errors.As(err, &rej):
		status, body.Code, body.State = http.StatusConflict, api.CodeRejected, api.State(rej.State.String())
		if rej.Event.Valid() {
			body.Command = api.Event(rej.Event.String())
		}
	case errors.Is(err, engine.ErrStillAlive), errors.Is(err, process.ErrAlive):
		// A driver that refuses a reset or delete because a process of
		// the VM (Lima's QEMU) still runs: a refusal by state, not a fault.
		status, body.Code = http.StatusConflict, api.CodeStillAlive
	case errors.Is(err, engine.ErrNotFound):
		status, body.Code = http.StatusNotFound, api.CodeNotFound
	case errors.Is(err, engine.ErrExists):
		status, body.Code = http.StatusConflict, api.CodeExists
	case errors.Is(err, engine.ErrInvalidName), errors.Is(err, engine.ErrInvalidSpec), errors.Is(err, engine.ErrInvalidStop), errors.As(err, &inv):
		status, body.Code = http.StatusBadRequest, api.CodeInvalid
	case errors.Is(err, engine.ErrShuttingDown), errors.Is(err, engine.ErrClosed):
		status, body.Code = http.StatusServiceUnavailable, api.CodeShuttingDown
		body.Message = "the daemon is shutting down: " + err.Error() + "; start the daemon again, then retry"
	}
	s.addState(body)
	return status, body
}

// addState sets the state of the body's VM, if it has one and it exists,
// unless the body names the state the refusal saw.
func (s *handler) addState(body *api.ErrorBody) {
	if body.State == "" && body.VM != "" {
		if v, err := s.eng.Get(body.VM); err == nil {
			body.State = api.State(v.State.String())
		}
	}
}

// MaxBody bounds a request body (a spec with its template).
const MaxBody = 16 << 20

// readJSON decodes the body as exactly one JSON object of v's type: no
// unknown field, nothing after it but white space.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid(fmt.Errorf("bad request body: %w", err))
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("a second JSON value")
		}
		return invalid(fmt.Errorf("bad request body: after the JSON object: %w; send one object", err))
	}
	return nil
}

// readEmpty accepts a body that is empty or {}: what a command without
// parameters may carry.
func readEmpty(r *http.Request) error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		return invalid(fmt.Errorf("bad request body: %w", err))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return readJSON(r, &struct{}{})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

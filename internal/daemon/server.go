package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/internal/api"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// MaxWait bounds every wait the server does for a client, whatever the
// client asks: a wait never holds a connection forever.
const MaxWait = 24 * time.Hour

// Server serves the control API over an engine.
type Server struct {
	Engine *engine.Engine
	Store  *store.Store
	Info   api.Info
	Log    zerolog.Logger
	// DefaultSpec, if set, completes a create's spec before it is recorded.
	DefaultSpec func(name string, spec *drivers.Spec) error
	// Deleted, if set, is called after a VM's delete is recorded and its
	// driver files are gone, to remove what DefaultSpec made for it.
	Deleted func(name string) error

	// names serializes a create and a delete of one name: without it a
	// delete's Deleted could remove the files DefaultSpec found for a VM
	// created again meanwhile (a power cut found a created VM without its
	// blank disk: e2e/powercut, seed 848415866).
	names nameLocks
}

// nameLocks is a mutex per name, held by few at a time.
type nameLocks struct {
	mu    sync.Mutex
	locks map[string]*nameLock
}

type nameLock struct {
	sync.Mutex
	users int
}

// lock locks name and returns its unlock.
func (n *nameLocks) lock(name string) (unlock func()) {
	n.mu.Lock()
	if n.locks == nil {
		n.locks = map[string]*nameLock{}
	}
	l := n.locks[name]
	if l == nil {
		l = &nameLock{}
		n.locks[name] = l
	}
	l.users++
	n.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		n.mu.Lock()
		if l.users--; l.users == 0 {
			delete(n.locks, name)
		}
		n.mu.Unlock()
	}
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Info) })
	mux.HandleFunc("GET /v1/vms", s.list)
	mux.HandleFunc("POST /v1/vms", s.create)
	mux.HandleFunc("GET /v1/vms/{name}", s.status)
	mux.HandleFunc("DELETE /v1/vms/{name}", s.command(func(ctx context.Context, name string, _ *http.Request) (store.Record, error) {
		defer s.names.lock(name)()
		rec, err := s.Engine.Delete(ctx, name)
		if err == nil && s.Deleted != nil {
			err = s.Deleted(name)
		}
		return rec, err
	}))
	mux.HandleFunc("POST /v1/vms/{name}/start", s.command(func(ctx context.Context, name string, _ *http.Request) (store.Record, error) {
		return s.Engine.Start(ctx, name)
	}))
	mux.HandleFunc("POST /v1/vms/{name}/stop", s.command(func(ctx context.Context, name string, r *http.Request) (store.Record, error) {
		var req api.StopRequest
		if err := readJSON(r, &req); err != nil {
			return store.Record{}, err
		}
		return s.Engine.Stop(ctx, name, engine.StopOptions{Force: req.Force})
	}))
	mux.HandleFunc("POST /v1/vms/{name}/reset", s.command(func(ctx context.Context, name string, _ *http.Request) (store.Record, error) {
		return s.Engine.Reset(ctx, name)
	}))
	mux.HandleFunc("PUT /v1/vms/{name}/spec", s.command(func(ctx context.Context, name string, r *http.Request) (store.Record, error) {
		var req api.UpdateRequest
		if err := readJSON(r, &req); err != nil {
			return store.Record{}, err
		}
		return s.Engine.Update(ctx, name, req.Spec)
	}))
	mux.HandleFunc("GET /v1/vms/{name}/wait", s.wait)
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("GET /v1/backup", s.backup)
	return mux
}

func (s *Server) list(w http.ResponseWriter, _ *http.Request) {
	out := []api.VM{}
	for _, v := range s.Engine.List() {
		out = append(out, api.FromEngine(v))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	v, err := s.Engine.Get(r.PathValue("name"))
	if err != nil {
		s.fail(w, r.PathValue("name"), err)
		return
	}
	writeJSON(w, http.StatusOK, api.FromEngine(v))
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var req api.CreateRequest
	if err := readJSON(r, &req); err != nil {
		s.fail(w, "", err)
		return
	}
	if err := engine.ValidateName(req.Name); err != nil {
		s.fail(w, req.Name, err)
		return
	}
	defer s.names.lock(req.Name)()
	if s.DefaultSpec != nil {
		if err := s.DefaultSpec(req.Name, &req.Spec); err != nil {
			s.fail(w, req.Name, fmt.Errorf("vm %q: create: default spec: %w", req.Name, err))
			return
		}
	}
	rec, err := s.Engine.Create(r.Context(), req.Name, req.Spec)
	s.result(w, req.Name, rec, err)
}

func (s *Server) command(f func(ctx context.Context, name string, r *http.Request) (store.Record, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		// A command's record must not be abandoned half-way because the
		// client hung up: the engine commits what it started.
		rec, err := f(context.WithoutCancel(r.Context()), name, r)
		s.result(w, name, rec, err)
	}
}

func (s *Server) result(w http.ResponseWriter, name string, rec store.Record, err error) {
	if err != nil {
		if rec.Seq != 0 {
			// The record is durable but a follow-up failed (a definition
			// that could not be written, files that remain after delete):
			// the caller must hear it, with what did happen.
			err = fmt.Errorf("recorded %s as seq %d, but: %w", rec.Event, rec.Seq, err)
		}
		s.fail(w, name, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Result{Name: name, Seq: rec.Seq, State: rec.To.String()})
}

// wait answers GET /v1/vms/{name}/wait?for=state=Running|delete&since=N&timeout=D.
// Without since, the VM's current state counts. With since, every record
// after seq N counts, in order: a VM that went Running and then Broken
// before the request still satisfies for=state=Running.
func (s *Server) wait(w http.ResponseWriter, r *http.Request) {
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
			s.fail(w, name, invalid(fmt.Errorf("wait: bad timeout %q", t)))
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
			s.fail(w, name, invalid(fmt.Errorf("wait: bad since %q", since)))
			return
		}
		head, err = s.waitSince(ctx, name, seq, want)
		if err != nil {
			s.failWait(w, name, timeout, err)
			return
		}
	} else {
		head, err = s.Engine.WaitFor(ctx, name, func(h store.Head) bool { return h.State == want })
		if err != nil {
			s.failWait(w, name, timeout, err)
			return
		}
	}
	v := engine.VM{Head: head}
	v.VM = name
	writeJSON(w, http.StatusOK, api.FromEngine(v))
}

func (s *Server) waitSince(ctx context.Context, name string, seq uint64, want states.State) (store.Head, error) {
	var head store.Head
	if h, ok, err := s.Store.Head(name); err == nil && ok && h.Seq <= seq {
		// Nothing after seq yet: the current state counts.
		if h.State == want {
			return h, nil
		}
	}
	sub, err := s.Engine.Subscribe(ctx, seq+1)
	if err != nil {
		return head, err
	}
	var folded bool
	for rec := range sub.C {
		if rec.VM != name {
			continue
		}
		if !folded {
			// Start from the VM's state just before this record.
			head = store.Head{VM: name, State: rec.From}
			folded = true
		}
		head = head.Apply(rec)
		if head.State == want {
			return head, nil
		}
	}
	if err := sub.Err(); err != nil {
		return head, err
	}
	return head, engine.ErrClosed
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

func (s *Server) failWait(w http.ResponseWriter, name string, timeout time.Duration, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		writeJSON(w, http.StatusGatewayTimeout, &api.Error{Code: api.CodeTimeout, VM: name, Message: fmt.Sprintf("vm %q: wait: timed out after %v", name, timeout)})
		return
	}
	s.fail(w, name, err)
}

// events streams records as JSON lines: history from since, then, with
// follow, live ones until the client goes away.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since uint64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.fail(w, "", invalid(fmt.Errorf("events: bad since %q", v)))
			return
		}
		since = n
	}
	vm := q.Get("vm")
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	ctx := r.Context()
	// Without follow, stop at what is committed now.
	last := s.Store.LastSeq()
	sub, err := s.Engine.Subscribe(ctx, since)
	if err != nil {
		s.fail(w, vm, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	if !follow && (last == 0 || last < since) {
		return
	}
	for rec := range sub.C {
		if vm == "" || rec.VM == vm {
			if err := enc.Encode(rec); err != nil {
				return
			}
		}
		if !follow && rec.Seq >= last {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

func (s *Server) backup(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := s.Store.Backup(w); err != nil {
		s.Log.Error().Err(err).Msg("backup")
	}
}

type invalidError struct{ error }

func (e invalidError) Unwrap() error { return e.error }

func invalid(err error) error { return invalidError{err} }

// fail maps an engine error to its status and code.
func (s *Server) fail(w http.ResponseWriter, name string, err error) {
	status, body := http.StatusInternalServerError, &api.Error{Code: api.CodeInternal, VM: name, Message: err.Error()}
	var rej *engine.RejectedError
	var inv invalidError
	switch {
	case errors.As(err, &rej):
		status, body.Code, body.State = http.StatusConflict, api.CodeRejected, rej.State.String()
	case errors.Is(err, engine.ErrStillAlive):
		status, body.Code = http.StatusConflict, api.CodeStillAlive
	case errors.Is(err, engine.ErrNotFound):
		status, body.Code = http.StatusNotFound, api.CodeNotFound
	case errors.Is(err, engine.ErrExists):
		status, body.Code = http.StatusConflict, api.CodeExists
	case errors.Is(err, engine.ErrInvalidName), errors.As(err, &inv):
		status, body.Code = http.StatusBadRequest, api.CodeInvalid
	}
	if body.State == "" && name != "" {
		if v, gerr := s.Engine.Get(name); gerr == nil {
			body.State = v.State.String()
		}
	}
	writeJSON(w, status, body)
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid(fmt.Errorf("bad request body: %w", err))
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

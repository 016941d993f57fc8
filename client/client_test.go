package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
)

// fakeDaemon serves h on a unix socket in a short temporary directory and
// returns the directory; it records every request's URL.
type fakeDaemon struct {
	dir, sock string
	mu        sync.Mutex
	urls      []*url.URL
}

func serve(t *testing.T, h http.HandlerFunc) *fakeDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "llc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &fakeDaemon{dir: dir, sock: filepath.Join(dir, api.SocketName)}
	ln, err := net.Listen("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.urls = append(d.urls, r.URL)
		d.mu.Unlock()
		h(w, r)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return d
}

func (d *fakeDaemon) last() *url.URL {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.urls[len(d.urls)-1]
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// The zero Client talks to the daemon of the default data dir, as the CLI
// does.
func TestZeroClientUsesTheDefaultSocket(t *testing.T) {
	d := serve(t, func(w http.ResponseWriter, _ *http.Request) { answer(w, 200, api.Info{PID: 42}) })
	t.Setenv("LIFELINE_HOME", d.dir)
	var c Client
	info, err := c.Info(ctx(t))
	if err != nil || info.PID != 42 {
		t.Fatalf("zero client: %+v %v", info, err)
	}
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("LIFELINE_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	if got, want := DefaultDataDir(), filepath.Join("/home/u", ".local", "state", "lifeline"); got != want {
		t.Errorf("no env: %s, want %s", got, want)
	}
	t.Setenv("XDG_STATE_HOME", "/state")
	if got, want := DefaultDataDir(), filepath.Join("/state", "lifeline"); got != want {
		t.Errorf("XDG_STATE_HOME: %s, want %s", got, want)
	}
	t.Setenv("LIFELINE_HOME", "/ll")
	if got := DefaultDataDir(); got != "/ll" {
		t.Errorf("LIFELINE_HOME: %s, want /ll", got)
	}
	if got, want := DefaultSocketPath(), filepath.Join("/ll", api.SocketName); got != want {
		t.Errorf("socket %s, want %s", got, want)
	}
}

// Dial replaces the dial of the socket; it gets the socket path.
func TestDialReachesTheDaemon(t *testing.T) {
	d := serve(t, func(w http.ResponseWriter, _ *http.Request) { answer(w, 200, api.Info{PID: 7}) })
	var gotNet, gotAddr string
	c := &Client{SocketPath: "/nonexistent/forwarded.sock", Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		gotNet, gotAddr = network, addr
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.sock)
	}}
	info, err := c.Info(ctx(t))
	if err != nil || info.PID != 7 {
		t.Fatalf("info through Dial: %+v %v", info, err)
	}
	if gotNet != "unix" || gotAddr != "/nonexistent/forwarded.sock" {
		t.Errorf("Dial got %s %s", gotNet, gotAddr)
	}
}

func TestNoDaemon(t *testing.T) {
	c := New(filepath.Join(t.TempDir(), api.SocketName))
	_, err := c.List(ctx(t))
	if !errors.Is(err, ErrNoDaemon) {
		t.Errorf("%v, want ErrNoDaemon", err)
	}
}

// A refusal is a *Error with the daemon's body; the helpers answer by
// code, never by text. An answer that is not an error body is an error
// naming the status, not a *Error.
func TestErrorsAreTyped(t *testing.T) {
	var body api.ErrorBody
	var status int
	d := serve(t, func(w http.ResponseWriter, _ *http.Request) { answer(w, status, body) })
	c := New(d.sock)
	for _, tc := range []struct {
		status                      int
		code                        api.Code
		rejected, notFound, timeout bool
	}{
		{409, api.CodeRejected, true, false, false},
		{409, api.CodeStillAlive, true, false, false},
		{404, api.CodeNotFound, false, true, false},
		{504, api.CodeTimeout, false, false, true},
		{409, api.CodeExists, false, false, false},
		{400, api.CodeInvalid, false, false, false},
		{503, api.CodeShuttingDown, false, false, false},
		{500, api.CodeInternal, false, false, false},
	} {
		status, body = tc.status, api.ErrorBody{Code: tc.code, Message: "words that mean nothing to a client", VM: "vm1", State: api.Broken, Command: api.EventStart}
		_, err := c.Start(ctx(t), "vm1")
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: %v (%T), want *Error", tc.code, err, err)
		}
		if e.StatusCode != tc.status || e.ErrorBody != body || err.Error() != body.Message {
			t.Errorf("%s: %+v", tc.code, e)
		}
		if IsRejected(err) != tc.rejected || IsNotFound(err) != tc.notFound || IsTimeout(err) != tc.timeout || ErrorCode(err) != tc.code {
			t.Errorf("%s: IsRejected %v IsNotFound %v IsTimeout %v ErrorCode %q", tc.code, IsRejected(err), IsNotFound(err), IsTimeout(err), ErrorCode(err))
		}
		// Wrapped, as a caller would.
		if w := fmt.Errorf("vm1: %w", err); ErrorCode(w) != tc.code {
			t.Errorf("%s: wrapped: ErrorCode %q", tc.code, ErrorCode(w))
		}
	}
	// The caller's deadline is a timeout too.
	if !IsTimeout(fmt.Errorf("wait: %w", context.DeadlineExceeded)) || IsTimeout(errors.New("timeout")) {
		t.Error("IsTimeout: a context deadline is a timeout, a text is not")
	}
	status, body = 502, api.ErrorBody{}
	_, err := c.Start(ctx(t), "vm1")
	var e *Error
	if err == nil || errors.As(err, &e) {
		t.Errorf("a 502 without an error body: %v, want a plain error", err)
	}
}

// Wait asks the daemon for the state (delete for Absent), since the seq
// and with the timeout given.
func TestWaitQuery(t *testing.T) {
	d := serve(t, func(w http.ResponseWriter, _ *http.Request) { answer(w, 200, api.VM{Name: "vm1", State: api.Running}) })
	c := New(d.sock)
	for _, tc := range []struct {
		want api.State
		opts WaitOptions
		q    url.Values
	}{
		{api.Running, WaitOptions{}, url.Values{"for": {"state=Running"}}},
		{api.Running, WaitOptions{Since: 12, Timeout: 3 * time.Second}, url.Values{"for": {"state=Running"}, "since": {"12"}, "timeout": {"3s"}}},
		{api.Absent, WaitOptions{Since: 5}, url.Values{"for": {"delete"}, "since": {"5"}}},
	} {
		v, err := c.Wait(ctx(t), "vm 1", tc.want, tc.opts)
		if err != nil || v.State != api.Running {
			t.Fatalf("wait: %+v %v", v, err)
		}
		u := d.last()
		if u.Path != "/v1/vms/vm 1/wait" || u.Query().Encode() != tc.q.Encode() {
			t.Errorf("wait %s %+v asked %s?%s, want ?%s", tc.want, tc.opts, u.Path, u.RawQuery, tc.q.Encode())
		}
	}
}

// Events decodes each record line (one with a field this version does not
// know, as a later daemon's typed cause), asks from the seq given, and
// hands back the daemon's last line of a cut-off stream as a *Error with
// the seq to resume from.
func TestEventsFollowsTheStream(t *testing.T) {
	d := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, `{"seq":5,"vmSeq":2,"vm":"vm1","event":"start","from":"Stopped","to":"Starting","time":"2026-01-02T03:04:05Z","boot":1,"deadline":"2026-01-02T03:09:05Z"}`)
		fmt.Fprintln(w, `{"seq":6,"vmSeq":3,"vm":"vm1","event":"spawned","from":"Starting","to":"Starting","time":"2026-01-02T03:04:06Z","boot":1,"hostAgent":{"pid":42,"startTime":9,"group":42},"cause":{"kind":"requested"}}`)
		fmt.Fprintln(w, `{"error":"events: this reader fell behind","code":"too_slow","resumeSeq":7}`)
	})
	c := New(d.sock)
	var got []api.Record
	err := c.Events(ctx(t), EventsOptions{VM: "vm1", Since: 5, Follow: true}, func(r api.Record) error {
		got = append(got, r)
		return nil
	})
	if q := d.last().Query(); q.Get("since") != "5" || q.Get("vm") != "vm1" || q.Get("follow") != "1" {
		t.Errorf("asked ?%s", d.last().RawQuery)
	}
	if len(got) != 2 || got[0].Seq != 5 || got[0].To != api.Starting || got[0].Deadline.IsZero() || got[1].HostAgent.PID != 42 || got[1].Event != api.EventSpawned {
		t.Errorf("records %+v", got)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != api.CodeTooSlow || e.ResumeSeq != 7 || e.StatusCode != 0 || e.VM != "vm1" {
		t.Errorf("end of the stream: %v %+v, want a too_slow *Error resuming at 7", err, e)
	}
	// fn's error ends the stream and is returned as it is.
	stop := errors.New("enough")
	if err := c.Events(ctx(t), EventsOptions{}, func(api.Record) error { return stop }); err != stop {
		t.Errorf("fn's error: %v", err)
	}
}

// StopWith sends the stop's grace; Stop, whose signature callers keep,
// sends what it always sent (no grace key), so an older daemon accepts it.
func TestStopWithSendsGrace(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	d := serve(t, func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		answer(w, http.StatusOK, api.Result{Name: "vm1", Seq: 3, State: api.Stopping})
	})
	c := New(d.sock)
	if _, err := c.StopWith(ctx(t), "vm1", api.StopRequest{Grace: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stop(ctx(t), "vm1", false); err != nil {
		t.Fatal(err)
	}
	if got := d.last().Path; got != "/v1/vms/vm1/stop" {
		t.Errorf("path %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if g, ok := bodies[0]["grace"].(float64); !ok || time.Duration(g) != 5*time.Second {
		t.Errorf("StopWith body %v, want grace 5s in nanoseconds", bodies[0])
	}
	if _, ok := bodies[1]["grace"]; ok || len(bodies[1]) != 1 {
		t.Errorf("Stop body %v, want only force", bodies[1])
	}
}

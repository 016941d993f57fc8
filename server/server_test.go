package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/store"
)

// testAPI is the API's handler over a real store and an engine, served on
// a unix socket the way the daemon serves it.
type testAPI struct {
	t      testing.TB
	st     *store.Store
	e      *engine.Engine
	opts   Options
	sock   string
	http   *http.Client
	c      *client.Client
	logBuf *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newTestAPI(t testing.TB, drv drivers.Driver, tune func(*engine.Options, *Options)) *testAPI {
	t.Helper()
	dir, err := os.MkdirTemp("", "ll")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	st, err := store.Open(filepath.Join(dir, "lifeline.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a := &testAPI{t: t, st: st, sock: filepath.Join(dir, api.SocketName), logBuf: &syncBuffer{}}
	opts := engine.Options{Store: st, Driver: drv, GracefulTimeout: time.Second, TerminateGrace: time.Second}
	a.opts = Options{Logger: zerolog.New(a.logBuf)}
	if tune != nil {
		tune(&opts, &a.opts)
	}
	e, err := engine.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	a.e = e
	ln, err := net.Listen("unix", a.sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: NewHandler(e, st, a.opts)}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		e.Close()
		st.Close()
	})
	a.http = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", a.sock)
	}}}
	a.c = client.New(a.sock)
	return a
}

// do sends a raw request and returns the status and the decoded error body
// (if any).
func (a *testAPI) do(method, path, body string) (int, api.ErrorBody) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://lifeline"+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var e api.ErrorBody
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		_ = json.Unmarshal(b, &e)
	}
	return resp.StatusCode, e
}

// A body is exactly one JSON object: trailing garbage, a second object, an
// unknown field or a body where none belongs is 400 and records nothing.
func TestAPIRejectsMalformedBodies(t *testing.T) {
	a := newTestAPI(t, drivertest.New(), nil)
	if _, err := a.c.Create(context.Background(), "vm1", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	last := a.st.LastSeq()
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/vms", `{"name":"a"} x`},
		{"POST", "/v1/vms", `{"name":"a"}{"name":"b"}`},
		{"POST", "/v1/vms", `{"name":"a"} {}`},
		{"POST", "/v1/vms", `{"name":"a","bogus":1}`},
		{"POST", "/v1/vms", `[]`},
		{"POST", "/v1/vms/vm1/start", `{} trailing`},
		{"POST", "/v1/vms/vm1/start", `{"force":true}`},
		{"POST", "/v1/vms/vm1/start", `garbage`},
		{"POST", "/v1/vms/vm1/stop", `{"force":true}{"force":false}`},
		{"PUT", "/v1/vms/vm1/spec", `{"spec":{}} 1`},
		{"DELETE", "/v1/vms/vm1", `{"x":1}`},
		{"POST", "/v1/vms/vm1/reset", `{}{}`},
	} {
		code, e := a.do(tc.method, tc.path, tc.body)
		if code != http.StatusBadRequest || e.Code != api.CodeInvalid {
			t.Errorf("%s %s %q: %d %s %q, want 400 invalid", tc.method, tc.path, tc.body, code, e.Code, e.Message)
		}
	}
	if got := a.st.LastSeq(); got != last {
		t.Errorf("last seq %d after malformed requests, want %d", got, last)
	}
	// White space after the object is fine, and an empty body where none
	// is needed.
	if code, e := a.do("POST", "/v1/vms/vm1/start", "{}\n"); code != 200 {
		t.Errorf("start with {}: %d %q", code, e.Message)
	}
}

// since=2^64-1 wrapped to 0 and answered an old record; since beyond the
// log is refused.
func TestWaitSinceBeyondTheLog(t *testing.T) {
	a := newTestAPI(t, drivertest.New(), nil)
	if _, err := a.c.Create(context.Background(), "vm1", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	for _, since := range []string{"18446744073709551615", "2"} {
		code, e := a.do("GET", "/v1/vms/vm1/wait?for=state=Stopped&timeout=2s&since="+since, "")
		if code != http.StatusBadRequest || !strings.Contains(e.Message, "beyond the last record") {
			t.Errorf("since=%s: %d %q, want 400 beyond the last record", since, code, e.Message)
		}
	}
	if code, e := a.do("GET", "/v1/vms/vm1/wait?for=state=Stopped&timeout=2s&since=1", ""); code != 200 {
		t.Errorf("since=1 (the create): %d %q", code, e.Message)
	}
}

// A wait on a VM that does not exist answers 404 at once (it waited 15
// minutes), unless it waits for delete; so does one whose VM is deleted
// before it reaches the state.
func TestWaitNoSuchVMAnswersAtOnce(t *testing.T) {
	a := newTestAPI(t, drivertest.New(), nil)
	ctx := context.Background()
	r, err := a.c.Create(ctx, "gone", api.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.c.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"/v1/vms/nosuch/wait?for=state=Running",
		"/v1/vms/nosuch/wait?for=state=Running&since=1",
		fmt.Sprintf("/v1/vms/gone/wait?for=state=Running&since=%d", r.Seq),
		"/v1/vms/gone/wait?for=state=Running",
	} {
		start := time.Now()
		code, e := a.do("GET", q, "")
		if code != http.StatusNotFound || e.Code != api.CodeNotFound {
			t.Errorf("%s: %d %s %q, want 404", q, code, e.Code, e.Message)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v", q, d)
		}
	}
	if code, e := a.do("GET", "/v1/vms/nosuch/wait?for=delete&timeout=5s", ""); code != 200 {
		t.Errorf("wait for delete of a VM that does not exist: %d %q", code, e.Message)
	}
	// Deleted while waiting.
	if _, err := a.c.Create(ctx, "vm1", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.c.Wait(ctx, "vm1", api.Running, client.WaitOptions{Timeout: 30 * time.Second})
		done <- err
	}()
	// Poll until the wait is registered: the delete must come after it.
	deadline := time.Now().Add(10 * time.Second)
	for a.e.Subscribers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the wait never subscribed")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := a.c.Delete(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ae *client.Error
		if !errors.As(err, &ae) || !client.IsNotFound(err) || !strings.Contains(ae.Message, "deleted") || ae.StatusCode != http.StatusNotFound {
			t.Errorf("wait across a delete: %v, want not_found naming the delete", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a wait on a deleted VM still waits")
	}
}

// A reset or delete the driver refuses because a process of the VM still
// runs (Lima's QEMU, found by Cleanup) is a refusal by state: 409
// still_alive, not 500.
func TestStillRunningDriverProcessIs409(t *testing.T) {
	drv := drivertest.New()
	a := newTestAPI(t, drv, nil)
	ctx := context.Background()
	drv.Script("vm1", drivertest.Behavior{SpawnErr: errors.New("spawn failed")})
	if _, err := a.c.Create(ctx, "vm1", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	r, err := a.c.Start(ctx, "vm1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.c.Wait(ctx, "vm1", api.Broken, client.WaitOptions{Since: r.Seq, Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	qemu := fmt.Errorf("%w: %w: driver pid 4242 (qemu.pid)", lima.ErrDriverAlive, process.ErrAlive)
	drv.Script("vm1", drivertest.Behavior{CleanupErr: qemu})
	last := a.st.LastSeq()
	for _, tc := range []struct{ method, path string }{{"POST", "/v1/vms/vm1/reset"}, {"DELETE", "/v1/vms/vm1"}} {
		code, e := a.do(tc.method, tc.path, "")
		if code != http.StatusConflict || e.Code != api.CodeStillAlive || !strings.Contains(e.Message, "4242") || e.State != "Broken" {
			t.Errorf("%s %s: %d %s state %q %q, want 409 still_alive naming the pid", tc.method, tc.path, code, e.Code, e.State, e.Message)
		}
	}
	if got := a.st.LastSeq(); got != last {
		t.Errorf("a refused reset or delete wrote records: seq %d, want %d", got, last)
	}
}

// An events reader that stops reading is cut off with a last line that
// says it fell behind and where to resume; nothing before it is lost.
func TestEventsSlowReaderIsToldWhereToResume(t *testing.T) {
	a := newTestAPI(t, drivertest.New(), func(o *engine.Options, _ *Options) { o.SubscriberBytes = 4 << 10 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := a.c.Create(ctx, "vm1", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var got []uint64
	done := make(chan error, 1)
	go func() {
		done <- a.c.Events(ctx, client.EventsOptions{Since: 1, Follow: true}, func(r api.Record) error {
			if len(got) == 0 {
				<-release // read one record, then nothing until released
			}
			got = append(got, r.Seq)
			return nil
		})
	}()
	// Wait until the stream subscribed, then write records until the
	// engine drops the subscriber of the reader that reads nothing
	// (bounded).
	deadline := time.Now().Add(10 * time.Second)
	for a.e.Subscribers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the events stream never subscribed")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 0; a.e.Subscribers() > 0; i++ {
		if i == 100000 {
			t.Fatal("100000 records and the reader that reads nothing is not cut off")
		}
		if _, err := a.e.Update(ctx, "vm1", drivers.Spec{Env: map[string]string{"K": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the cut-off stream did not end")
	}
	var se *client.Error
	if !errors.As(err, &se) || se.Code != api.CodeTooSlow || !strings.Contains(se.Message, "fell behind") {
		t.Fatalf("stream ended with %v, want a too_slow StreamError", err)
	}
	for i, seq := range got {
		if seq != uint64(i)+1 {
			t.Fatalf("records not contiguous from 1 at %d: %d", i, seq)
		}
	}
	if want := uint64(len(got)) + 1; se.ResumeSeq != want {
		t.Errorf("resume seq %d, want %d (the first record not delivered)", se.ResumeSeq, want)
	}
	if !strings.Contains(a.logBuf.String(), "events stream ended") {
		t.Errorf("the daemon did not log the cut-off:\n%s", a.logBuf.String())
	}
	t.Logf("cut off after %d of %d records", len(got), a.st.LastSeq())
}

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/lima/limaprep"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/store"
)

// testAPI is the API's handler over a real store and an engine wired the
// way the daemon wires them, served on a unix socket.
type testAPI struct {
	t      testing.TB
	st     *store.Store
	e      *engine.Engine
	opts   server.Options
	sock   string
	http   *http.Client
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

func newTestAPI(t testing.TB, drv drivers.Driver, tune func(*engine.Options, *server.Options)) *testAPI {
	t.Helper()
	dir, err := os.MkdirTemp("", "ll")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	st, err := store.Open(filepath.Join(dir, DBName), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a := &testAPI{t: t, st: st, sock: filepath.Join(dir, api.SocketName), logBuf: &syncBuffer{}}
	opts := engine.Options{Store: st, Driver: drv, GracefulTimeout: time.Second, TerminateGrace: time.Second}
	a.opts = server.Options{Logger: zerolog.New(a.logBuf)}
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
	hs := &http.Server{Handler: server.NewHandler(e, st, a.opts)}
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

func specBody(name string, spec api.Spec) string {
	b, _ := json.Marshal(api.CreateRequest{Name: name, Spec: spec})
	return string(b)
}

// Every bad spec of issue 9 item 7, sent to the API: 400, code invalid,
// the field named, nothing recorded, and a default disk made for a refused
// create removed again.
func TestAPIRefusesInvalidSpecs(t *testing.T) {
	home := t.TempDir()
	t.Setenv("LIMA_HOME", home)
	drv, err := lima.New(lima.Options{LimaHome: home, HostAgentCmd: []string{"/nonexistent/agent"}, ValidateTemplate: limaprep.ValidateTemplate})
	if err != nil {
		t.Fatal(err)
	}
	disks := t.TempDir()
	disk := func(name string) string { return filepath.Join(disks, name+".raw") }
	a := newTestAPI(t, drv, func(o *engine.Options, s *server.Options) {
		s.DefaultSpec = func(name string, spec *drivers.Spec) error {
			if len(spec.Template) > 0 {
				return nil
			}
			spec.Template, err = lima.DefaultTemplate(lima.TemplateOptions{Disk: disk(name)})
			spec.Ready = lima.ReadyAgent
			return err
		}
		// The daemon's wiring: the driver wrapped with the files it makes
		// just before Define. The wrapper must keep the driver's checks.
		o.Driver = withFiles(drv, blankDiskFiles(disk))
	})
	good, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: "/nonexistent.raw"})
	if err != nil {
		t.Fatal(err)
	}
	if code, e := a.do("POST", "/v1/vms", specBody("ok", api.Spec{Template: good})); code != 200 {
		t.Fatalf("a good create: %d %v", code, e.Message)
	}
	last := a.st.LastSeq()
	long := strings.Repeat("a", 76)
	for _, tc := range []struct {
		name, vm string
		spec     api.Spec
		field    string
	}{
		{"bad YAML", "vm1", api.Spec{Template: []byte("images: [\n")}, "template"},
		{"YAML list", "vm1", api.Spec{Template: []byte("- a\n- b\n")}, "template"},
		{"ready bogus", "vm1", api.Spec{Template: good, Ready: "bogus"}, "ready"},
		{"restart always", "vm1", api.Spec{Template: good, Restart: "always"}, "restart"},
		{"env empty key", "vm1", api.Spec{Template: good, Env: map[string]string{"": "x"}}, "env"},
		{"env key with =", "vm1", api.Spec{Template: good, Env: map[string]string{"A=B": "x"}}, "env"},
		{"Lima schema", "vm1", api.Spec{Template: []byte("vmType: bogus\nimages:\n- location: /x.img\n")}, "vmType"},
		{"long name, default template", long, api.Spec{}, "too long"},
		{"long name", long, api.Spec{Template: good}, "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, e := a.do("POST", "/v1/vms", specBody(tc.vm, tc.spec))
			if code != http.StatusBadRequest || e.Code != api.CodeInvalid || !strings.Contains(e.Message, tc.field) {
				t.Errorf("create: %d %s %q; want 400 invalid naming %s", code, e.Code, e.Message, tc.field)
			}
			if _, err := os.Stat(disk(tc.vm)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("refused create left its default disk: %v", err)
			}
			if tc.vm == long {
				return
			}
			b, _ := json.Marshal(api.UpdateRequest{Spec: tc.spec})
			code, e = a.do("PUT", "/v1/vms/ok/spec", string(b))
			if code != http.StatusBadRequest || e.Code != api.CodeInvalid || !strings.Contains(e.Message, tc.field) {
				t.Errorf("update: %d %s %q; want 400 invalid naming %s", code, e.Code, e.Message, tc.field)
			}
		})
	}
	// An update with no template (the CLI requires one; the API must too).
	if code, e := a.do("PUT", "/v1/vms/ok/spec", `{"spec":{"ready":"agent"}}`); code != http.StatusBadRequest || !strings.Contains(e.Message, "template") {
		t.Errorf("update without template: %d %q", code, e.Message)
	}
	if got := a.st.LastSeq(); got != last {
		t.Errorf("last seq %d after the refusals, want %d", got, last)
	}
}

// blankDiskFiles makes a blank disk per VM, as the daemon's default spec
// needs.
type blankDiskFiles func(vm string) string

func (f blankDiskFiles) Make(vm string, _ drivers.Spec) error {
	if _, err := os.Stat(f(vm)); err == nil {
		return nil
	}
	return lima.CreateBlankDisk(f(vm), 0)
}

func (f blankDiskFiles) Remove(vm string) error { return os.Remove(f(vm)) }

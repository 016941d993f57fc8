package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// remote is a client of host over NATS: the CLI's client, dialing
// through Dialer.
func remote(t *testing.T, url, host string, notes *[]string) *client.Client {
	t.Helper()
	nc, err := Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &client.Client{Dial: Dialer(nc, host, func(n string) { *notes = append(*notes, n) })}
}

// TestRemoteVerbsAnswerAsTheSocket: create, start, status, list, stop,
// wait and a refusal with its code, against a host over NATS.
func TestRemoteVerbsAnswerAsTheSocket(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", srv.ClientURL(), nil)
	var notes []string
	c := remote(t, srv.ClientURL(), "h1", &notes)
	ctx := t.Context()
	eventually(t, 5*time.Second, "the host serves commands", func() bool { _, err := c.List(ctx); return err == nil })
	if _, err := c.Create(ctx, "vm1", api.Spec{Command: []string{"sleep", "9"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	v, err := c.Wait(ctx, "vm1", "Running", client.WaitOptions{Timeout: 10 * time.Second})
	if err != nil || v.State != "Running" {
		t.Fatalf("wait: %+v %v", v, err)
	}
	local, _ := th.e.Get("vm1")
	st, err := c.Status(ctx, "vm1")
	if err != nil || st.Seq != local.Seq || st.State != "Running" {
		t.Fatalf("status over NATS %+v (%v); the engine says seq %d %s", st, err, local.Seq, local.State)
	}
	_, err = c.Create(ctx, "vm1", api.Spec{Command: []string{"sleep", "9"}})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeExists {
		t.Fatalf("a second create: %v, want the code %s", err, api.CodeExists)
	}
	if _, err := c.Stop(ctx, "vm1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx, "nope"); !errors.As(err, &ae) || ae.Code != api.CodeNotFound {
		t.Fatalf("status of no VM: %v, want the code %s", err, api.CodeNotFound)
	}
	if len(notes) != 0 {
		t.Errorf("notes without a lost reply: %q", notes)
	}
}

// TestLostReplyRetry: the host runs a command and its reply is lost; the
// client retries once. A stop's retry finds the VM stopping and says the
// first stop took effect; a create's retry is a clear refusal saying the
// first create most likely made the VM.
func TestLostReplyRetry(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", srv.ClientURL(), func(o *Options) {})
	th.drv.Script("vm1", drivertestIgnoreInterrupt())
	nc, err := Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := t.Context()
	do := func(method, path, body string) Reply {
		t.Helper()
		r, err := doWithTimeout(ctx, nc, "h1", method, path, []byte(body), 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	eventually(t, 5*time.Second, "the host serves commands", func() bool {
		_, err := doWithTimeout(ctx, nc, "h1", "GET", "/v1/vms", nil, time.Second)
		return err == nil
	})
	testDropReplies.Store(1)
	r := do("POST", "/v1/vms", `{"name":"vm1","spec":{"command":["sleep","9"]}}`)
	var eb api.ErrorBody
	_ = json.Unmarshal(r.Body, &eb)
	if r.Status != http.StatusConflict || eb.Code != api.CodeExists || !strings.Contains(eb.Message, "most likely made it") || r.Note == "" {
		t.Fatalf("a create retried after a lost reply: %d %s (note %q), want a refusal %s that says so", r.Status, r.Body, r.Note, api.CodeExists)
	}
	if _, err := th.e.Get("vm1"); err != nil {
		t.Fatalf("the first create did not make the VM: %v", err)
	}
	do("POST", "/v1/vms/vm1/start", "")
	eventually(t, 5*time.Second, "vm1 running", func() bool { v, _ := th.e.Get("vm1"); return v.State.String() == "Running" })
	testDropReplies.Store(1)
	r = do("POST", "/v1/vms/vm1/stop", "{}")
	var res api.Result
	_ = json.Unmarshal(r.Body, &res)
	if r.Status != http.StatusOK || (res.State != "Stopping" && res.State != "Stopped") || !strings.Contains(r.Note, "the first stop took effect") {
		t.Fatalf("a stop retried after a lost reply: %d %s (note %q), want success saying the first stop took effect", r.Status, r.Body, r.Note)
	}
	// A start is not safe to send again: the error says so.
	testDropReplies.Store(1)
	_, err = doWithTimeout(ctx, nc, "h1", "POST", "/v1/vms/vm1/start", nil, 500*time.Millisecond)
	if !errors.Is(err, ErrNoReply) || !strings.Contains(err.Error(), "may or may not have been applied") {
		t.Fatalf("a start whose reply was lost: %v, want ErrNoReply saying to check", err)
	}
}

// TestReadOnlyUserRefused: with the README's permission layout, a
// watcher may read the fleet view but not command a host; the host's own
// user may publish its records and heads.
func TestReadOnlyUserRefused(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(PermissionsExample, "$STORE", filepath.Join(dir, "js"))), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := natsserver.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	o.Host, o.Port, o.NoLog, o.NoSigs = "127.0.0.1", natsserver.RANDOM_PORT, true, true
	srv := runNATS(t, o)
	url := srv.ClientURL()
	th := newTestHost(t, "h1", url, nil)
	th.nc.Close()
	th.cancel()
	<-th.done
	th.done <- nil // for the cleanup's stop
	// The host again, as its own user.
	hnc, err := Connect(url, nats.UserInfo("h1", "h1-secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hnc.Close)
	h, err := New(hnc, th.h.opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	churn(t, th.e, "vm", 5)
	eventually(t, 10*time.Second, "the host's user publishes its records", func() bool { return h.Acked() == th.st.LastSeq() })

	op, err := Connect(url, nats.UserInfo("operator", "op-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if r, err := doWithTimeout(ctx, op, "h1", "GET", "/v1/vms", nil, 5*time.Second); err != nil || r.Status != http.StatusOK {
		t.Fatalf("the operator's list: %v %v", r.Status, err)
	}
	w, err := Connect(url, nats.UserInfo("watcher", "w-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, err = doWithTimeout(ctx, w, "h1", "POST", "/v1/vms/vm-0/start", nil, time.Second)
	if !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("a watcher's start: %v, want a permissions violation", err)
	}
	if _, err := th.e.Get("vm-0"); err != nil {
		t.Fatal(err)
	}
	if v, _ := th.e.Get("vm-0"); v.State.String() != "Stopped" {
		t.Fatalf("vm-0 is %s after a watcher's refused start", v.State)
	}
	wjs := jsOfConn(t, w)
	view, err := List(ctx, wjs)
	if err != nil || len(view) != 1 || len(view[0].VMs) != len(th.e.List()) {
		t.Fatalf("the watcher's fleet view: %+v %v", view, err)
	}
	// The watcher may not write a head either.
	if kv, err := wjs.KeyValue(ctx, HeadsBucket); err == nil {
		if _, err := kv.Put(ctx, HeadKey("h1", "vm-0"), []byte("{}")); err == nil {
			t.Fatal("the watcher wrote a head")
		}
	}
	cancel()
	<-done
}

// TestHostUserResumesItsOwnStream: with the README's permission layout,
// a host's own user resumes publishing on its stream once it holds
// records (a restart, a reconnect): the resume reads the stream's last
// messages with a consumer, which the layout must let the host make on
// its own stream. Before, the layout allowed consumers on the heads
// bucket only, and the resume's consumer, refused, was tried again
// forever (jetstream's ordered consumer retries without end by default,
// whatever the context): the publisher hung with no word.
func TestHostUserResumesItsOwnStream(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(PermissionsExample, "$STORE", filepath.Join(dir, "js"))), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := natsserver.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	o.Host, o.Port, o.NoLog, o.NoSigs = "127.0.0.1", natsserver.RANDOM_PORT, true, true
	srv := runNATS(t, o)
	url := srv.ClientURL()
	th := newTestHost(t, "h1", url, nil) // its user and password come next
	th.nc.Close()
	th.cancel()
	<-th.done
	th.done <- nil // for the cleanup's stop
	run := func() (stop func()) {
		nc, err := Connect(url, nats.UserInfo("h1", "h1-secret"))
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(nc, th.h.opts)
		if err != nil {
			t.Fatal(err)
		}
		th.h = h
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx) }()
		return func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Errorf("the host's Run did not end within 20s of its cancel")
			}
			nc.Close()
		}
	}
	stop := run()
	churn(t, th.e, "a", 5)
	th.waitCaughtUp(10 * time.Second)
	stop()
	// Again, on a stream that holds records: the resume reads its tail.
	stop = run()
	defer stop()
	churn(t, th.e, "b", 5)
	th.waitCaughtUp(10 * time.Second)
	op, err := Connect(url, nats.UserInfo("operator", "op-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	sameRecords(t, localRecords(t, th.st), streamRecords(t, jsOfConn(t, op), th.name))
}

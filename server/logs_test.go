package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
)

// fakeLogs is a LogReader: "current" or "previous", then, following, each
// line sent on more until it is closed.
type fakeLogs struct {
	more chan string
	asks chan drivers.LogOptions
}

func (f *fakeLogs) AgentLog(ctx context.Context, vm string, opts drivers.LogOptions, w io.Writer) error {
	f.asks <- opts
	if vm == "nolog" {
		return fmt.Errorf("vm %q: %w: not kept", vm, drivers.ErrNoLog)
	}
	which := "current"
	if opts.Previous {
		which = "previous"
	}
	if _, err := fmt.Fprintf(w, "%s log of %s\n", which, vm); err != nil || !opts.Follow {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-f.more:
			if !ok {
				return nil
			}
			if _, err := io.WriteString(w, l); err != nil {
				return err
			}
		}
	}
}

// GET /v1/vms/NAME/logs: the driver's log as it writes it, followed line
// by line; no_log for a log not kept or a driver without logs; not_found
// for no such VM; invalid for a bad flag.
func TestLogsRoute(t *testing.T) {
	ctx := context.Background()
	bare := newTestAPI(t, drivertest.New(), nil)
	if _, err := bare.c.Create(ctx, "vm1", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	err := bare.c.Logs(ctx, "vm1", client.LogsOptions{}, io.Discard)
	if client.ErrorCode(err) != api.CodeNoLog || !strings.Contains(err.Error(), "keeps no agent log") {
		t.Errorf("logs with a driver without logs: %v, want no_log", err)
	}

	fl := &fakeLogs{more: make(chan string), asks: make(chan drivers.LogOptions, 10)}
	a := newTestAPI(t, drivertest.New(), func(_ *engine.Options, o *Options) { o.Logs = fl })
	for _, vm := range []string{"vm1", "nolog"} {
		if _, err := a.c.Create(ctx, vm, api.Spec{}); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	if err := a.c.Logs(ctx, "vm1", client.LogsOptions{Previous: true}, &b); err != nil || b.String() != "previous log of vm1\n" {
		t.Errorf("previous: %q, %v", b.String(), err)
	}
	if got := <-fl.asks; got != (drivers.LogOptions{Previous: true}) {
		t.Errorf("driver asked %+v, want previous", got)
	}
	if err := a.c.Logs(ctx, "vm1", client.LogsOptions{Events: true}, io.Discard); err != nil {
		t.Errorf("events: %v", err)
	}
	if got := <-fl.asks; got != (drivers.LogOptions{Events: true}) {
		t.Errorf("driver asked %+v, want events", got)
	}
	if err := a.c.Logs(ctx, "nolog", client.LogsOptions{}, io.Discard); client.ErrorCode(err) != api.CodeNoLog || !strings.Contains(err.Error(), "not kept") {
		t.Errorf("a log not kept: %v, want no_log with the driver's words", err)
	}
	<-fl.asks
	if err := a.c.Logs(ctx, "nosuch", client.LogsOptions{}, io.Discard); client.ErrorCode(err) != api.CodeNotFound {
		t.Errorf("no such VM: %v, want not_found", err)
	}
	if code, e := a.do("GET", "/v1/vms/vm1/logs?follow=maybe", ""); code != http.StatusBadRequest || e.Code != api.CodeInvalid {
		t.Errorf("bad follow: %d %+v, want 400 invalid", code, e)
	}

	// Following: each line reaches the client before the next is written.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- a.c.Logs(ctx, "vm1", client.LogsOptions{Follow: true}, pw); pw.Close() }()
	rd := bufio.NewReader(pr)
	for i, want := range []string{"current log of vm1\n", "line 1\n", "line 2\n"} {
		if i > 0 {
			fl.more <- want
		}
		got, err := rd.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("followed line %d: %q, %v; want %q", i, got, err, want)
		}
	}
	close(fl.more) // the agent exits
	if rest, _ := io.ReadAll(rd); len(rest) != 0 {
		t.Errorf("after the end: %q", rest)
	}
	if err := <-done; err != nil {
		t.Errorf("follow: %v", err)
	}
}

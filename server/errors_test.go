package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/store"
)

// Every refusal the handler makes has the status and code package api
// lists (the ones earlier versions sent), and the client hands it back as
// a typed *client.Error: its helpers answer by code, and a rejection
// names the VM, its state and the command it refused.
func TestErrorCodesAndStatuses(t *testing.T) {
	a := newTestAPI(t, drivertest.New(), nil)
	ctx := context.Background()
	if _, err := a.c.Create(ctx, "vm1", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		code   api.Code
		is     func(error) bool
		state  api.State
		cmd    api.Event
	}{
		{"invalid body", func() error { _, err := a.c.Create(ctx, "../x", api.Spec{}); return err }, http.StatusBadRequest, api.CodeInvalid, nil, "", ""},
		{"not found", func() error { _, err := a.c.Status(ctx, "nosuch"); return err }, http.StatusNotFound, api.CodeNotFound, client.IsNotFound, "", ""},
		{"exists", func() error { _, err := a.c.Create(ctx, "vm1", api.Spec{}); return err }, http.StatusConflict, api.CodeExists, nil, api.Stopped, ""},
		{"rejected", func() error { _, err := a.c.Stop(ctx, "vm1", false); return err }, http.StatusConflict, api.CodeRejected, client.IsRejected, api.Stopped, api.EventStop},
		{"rejected reset", func() error { _, err := a.c.Reset(ctx, "vm1"); return err }, http.StatusConflict, api.CodeRejected, client.IsRejected, api.Stopped, api.EventReset},
		{"timeout", func() error {
			_, err := a.c.Wait(ctx, "vm1", api.Running, client.WaitOptions{Timeout: 10 * time.Millisecond})
			return err
		}, http.StatusGatewayTimeout, api.CodeTimeout, client.IsTimeout, api.Stopped, ""},
		{"bad wait", func() error { _, err := a.c.Wait(ctx, "vm1", "Bogus", client.WaitOptions{}); return err }, http.StatusBadRequest, api.CodeInvalid, nil, api.Stopped, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v (%T), want a *client.Error", err, err)
			}
			if e.StatusCode != tc.status || e.Code != tc.code || client.ErrorCode(err) != tc.code {
				t.Errorf("%d %s, want %d %s: %s", e.StatusCode, e.Code, tc.status, tc.code, e.Message)
			}
			if tc.is != nil && !tc.is(err) {
				t.Errorf("its helper does not recognise code %s", e.Code)
			}
			yes := 0
			for _, is := range []func(error) bool{client.IsNotFound, client.IsRejected, client.IsTimeout} {
				if is(err) {
					yes++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.is != nil]; yes != want {
				t.Errorf("%d helpers say yes to code %s, want %d", yes, e.Code, want)
			}
			if e.State != tc.state || e.Command != tc.cmd {
				t.Errorf("state %q command %q, want %q %q", e.State, e.Command, tc.state, tc.cmd)
			}
			if e.Message == "" {
				t.Error("no message")
			}
		})
	}
	// A closed engine: every command is refused as the daemon's shutdown.
	a.e.Close()
	_, err := a.c.Start(ctx, "vm1")
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusServiceUnavailable || e.Code != api.CodeShuttingDown {
		t.Errorf("start on a closed engine: %v, want 503 %s", err, api.CodeShuttingDown)
	}
}

// TestNotFoundOneSentinelPerLayer: each layer has one not-found sentinel
// and errors.Is holds across them: the engine's wraps the store's, and the
// client's matches the daemon's not_found answer (and only it).
func TestNotFoundOneSentinelPerLayer(t *testing.T) {
	a := newTestAPI(t, drivertest.New(), nil)
	ctx := context.Background()
	_, err := a.e.Get("nosuch")
	if !errors.Is(err, engine.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("engine: %v is not engine.ErrNotFound and store.ErrNotFound", err)
	}
	_, err = a.c.Status(ctx, "nosuch")
	if !errors.Is(err, client.ErrNotFound) || !client.IsNotFound(err) {
		t.Errorf("client: %v is not client.ErrNotFound", err)
	}
	if _, err := a.c.Create(ctx, "vm1", api.Spec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.c.Stop(ctx, "vm1", false); err == nil || errors.Is(err, client.ErrNotFound) {
		t.Errorf("a rejection %v is client.ErrNotFound", err)
	}
}

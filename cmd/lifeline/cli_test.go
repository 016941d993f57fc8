package main

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

func TestCloseNames(t *testing.T) {
	verbs := []string{"start", "stop", "status", "restart", "reset", "replay", "list", "ls"}
	for _, c := range []struct {
		typed string
		want  []string
	}{
		{"strat", []string{"start"}},
		{"stpo", []string{"stop"}},
		{"lst", []string{"list", "ls"}},
		{"zzzzzz", []string{}},
		{"rest", []string{"reset", "restart"}},
	} {
		if got := closeNames(c.typed, verbs); !slices.Equal(got, c.want) {
			t.Errorf("closeNames(%q) = %q, want %q", c.typed, got, c.want)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	for args, want := range map[string]bool{
		"status vm1 -o json":       true,
		"status vm1 -ojson":        true,
		"status vm1 --output=json": true,
		"status vm1 -o text":       false,
		"create x -- prog -o json": false,
	} {
		if got := wantsJSON(splitArgs(args)); got != want {
			t.Errorf("wantsJSON(%q) = %v", args, got)
		}
	}
}

func splitArgs(s string) []string {
	var out []string
	cur := ""
	for _, r := range s + " " {
		if r == ' ' {
			if cur != "" {
				out = append(out, cur)
			}
			cur = ""
			continue
		}
		cur += string(r)
	}
	return out
}

// TestExitCodes: a wait the user interrupted is 130, not a timeout; the
// combined code of several VMs is theirs when they agree, else 1.
func TestExitCodes(t *testing.T) {
	rejected := &client.Error{ErrorBody: api.ErrorBody{Code: api.CodeRejected}}
	notFound := &client.Error{ErrorBody: api.ErrorBody{Code: api.CodeNotFound}}
	for _, c := range []struct {
		err  error
		want int
	}{
		{interruptedError{errors.New("x")}, exitInterrupted},
		{timeoutError{err: errors.New("x")}, exitTimeout},
		{hintError{"x", rejected}, exitRejected},
		{multiError{failed: []error{rejected, rejected}, total: 3}, exitRejected},
		{multiError{failed: []error{rejected, notFound}, total: 2}, exitError},
		{vmError{err: errors.New("x")}, exitError},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%#v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestStepCountdown: the escalation step of a stop, as a deadline and as
// a countdown.
func TestStepCountdown(t *testing.T) {
	g := &globals{utc: true}
	at := time.Date(2026, 1, 2, 18, 18, 1, 0, time.UTC)
	r := api.Record{VM: "slow", To: api.Stopping, Event: api.EventStop, Time: at, Deadline: at.Add(30 * time.Second)}
	if got, want := step(g, r, time.Time{}), "SIGINT sent; SIGTERM at 2026-01-02 18:18:31 UTC if still running"; got != want {
		t.Errorf("step = %q, want %q", got, want)
	}
	if got, want := step(g, r, at.Add(8*time.Second)), "SIGINT sent 8s ago; SIGTERM in 22s if still running"; got != want {
		t.Errorf("step = %q, want %q", got, want)
	}
	v := api.VM{Name: "slow", State: api.Stopping, Since: at, Deadline: r.Deadline}
	if got, want := pending(v, at.Add(8*time.Second)), "SIGTERM in 22s"; got != want {
		t.Errorf("pending = %q, want %q", got, want)
	}
}

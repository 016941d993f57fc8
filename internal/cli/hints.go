package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// hintError is the daemon's error with what to do next: its message
// replaces the daemon's, its chain keeps the *client.Error (the code, the
// exit code).
type hintError struct {
	msg string
	err error
}

func (e hintError) Error() string { return e.msg }

func (e hintError) Unwrap() error { return e.err }

// hintTimeout bounds the extra look-ups a hint takes.
const hintTimeout = 2 * time.Second

// withHint adds to the daemon's refusal of verb on name what to do next:
// reset a Broken VM before a start, stop one before a delete, the close
// names of a VM that does not exist.
func withHint(ctx context.Context, g *Globals, verb, name string, err error) error {
	var ae *client.Error
	if err == nil || !asClientError(err, &ae) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hintTimeout)
	defer cancel()
	c := g.client()
	switch ae.Code {
	case api.CodeNotFound:
		msg := fmt.Sprintf("vm %q: no such vm", name)
		if vms, lerr := c.List(ctx); lerr == nil {
			names := make([]string, 0, len(vms))
			for _, v := range vms {
				names = append(names, v.Name)
			}
			if s := closeNames(name, names); len(s) > 0 {
				msg += "; did you mean " + orList(s) + "?"
			}
		}
		if verb == "create" {
			return err
		}
		return hintError{msg + " (`lifeline list` shows them; `lifeline create " + name + "` makes it)", err}
	case api.CodeRejected, api.CodeStillAlive:
		switch {
		case ae.State == api.Broken && (verb == "start" || verb == "restart"):
			why := ""
			if v, serr := c.Status(ctx, name); serr == nil && v.Reason != "" {
				why = " (" + string(v.Event) + ": " + v.Reason + ")"
			}
			return hintError{fmt.Sprintf("vm %q is Broken%s: run `lifeline reset %s` first", name, why, name), err}
		case ae.State.InFlight() && ae.Code == api.CodeRejected:
			to := api.Running
			if ae.State != api.Starting {
				to = api.Stopped
			}
			return hintError{fmt.Sprintf("%s; it is on its way: `lifeline wait %s --for=state=%s` waits for it", ae.Message, name, to), err}
		case verb == "delete" && ae.State != api.Stopped && ae.State != api.Broken && ae.State != "":
			return hintError{fmt.Sprintf("vm %q is %s: stop it first (`lifeline stop %s --wait`), or `lifeline delete --force %s` stops and deletes it", name, ae.State, name, name), err}
		}
	}
	return err
}

func asClientError(err error, ae **client.Error) bool { return errors.As(err, ae) }

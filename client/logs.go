package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// LogsOptions choose the log [Client.Logs] prints.
type LogsOptions struct {
	// Previous asks for the log of the start before the current one.
	Previous bool
	// Follow keeps printing what the agent writes until it exits, the
	// daemon ends the answer, or ctx ends.
	Follow bool
	// Events asks for the agent's status events instead of its log: one
	// JSON object a line, each an [api.AgentEvent] (Lima: the host
	// agent's ha.stdout.log) as the agent wrote it; [ReadAgentEvents]
	// reads them.
	Events bool
}

// Logs writes the agent's own log of VM name (Lima: the host agent's
// ha.stderr.log) to w as the daemon sends it. A log that is not kept is an
// *Error with code api.CodeNoLog. With Follow, a ctx that ends is not an
// error.
func (c *Client) Logs(ctx context.Context, name string, opts LogsOptions, w io.Writer) error {
	q := url.Values{}
	if opts.Previous {
		q.Set("previous", "1")
	}
	if opts.Follow {
		q.Set("follow", "1")
	}
	if opts.Events {
		q.Set("events", "1")
	}
	resp, err := c.send(ctx, http.MethodGet, vmPath(name, "/logs"), q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("vm %q: logs: %w", name, err)
	}
	return nil
}

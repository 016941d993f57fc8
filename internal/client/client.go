// Package client talks to a lifeline daemon over its unix socket.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/internal/api"
	"github.com/lifeline-vm/lifeline/store"
)

// ErrNoDaemon is returned when nothing listens on the socket.
var ErrNoDaemon = errors.New("no daemon is running")

// Client is a daemon's API.
type Client struct {
	socket string
	http   *http.Client
}

// New returns a client for the daemon listening on socket.
func New(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr}}
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send makes a request and returns a 2xx response; other statuses become
// the *api.Error the daemon sent.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := "http://lifeline" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w on %s (start one with `lifeline daemon`)", ErrNoDaemon, c.socket)
		}
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e api.Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Code == "" {
		return nil, fmt.Errorf("%s %s: daemon answered %s", method, path, resp.Status)
	}
	return nil, &e
}

// Info describes the daemon.
func (c *Client) Info(ctx context.Context) (api.Info, error) {
	var out api.Info
	return out, c.do(ctx, http.MethodGet, "/v1/info", nil, nil, &out)
}

// List returns every live VM.
func (c *Client) List(ctx context.Context) ([]api.VM, error) {
	var out []api.VM
	return out, c.do(ctx, http.MethodGet, "/v1/vms", nil, nil, &out)
}

// Status returns one VM.
func (c *Client) Status(ctx context.Context, name string) (api.VM, error) {
	var out api.VM
	return out, c.do(ctx, http.MethodGet, "/v1/vms/"+url.PathEscape(name), nil, nil, &out)
}

// Create defines a VM.
func (c *Client) Create(ctx context.Context, name string, spec drivers.Spec) (api.Result, error) {
	var out api.Result
	return out, c.do(ctx, http.MethodPost, "/v1/vms", nil, api.CreateRequest{Name: name, Spec: spec}, &out)
}

// Start starts a VM.
func (c *Client) Start(ctx context.Context, name string) (api.Result, error) {
	return c.command(ctx, http.MethodPost, name, "/start", nil)
}

// Stop stops a VM.
func (c *Client) Stop(ctx context.Context, name string, force bool) (api.Result, error) {
	return c.command(ctx, http.MethodPost, name, "/stop", api.StopRequest{Force: force})
}

// Reset clears a Broken VM.
func (c *Client) Reset(ctx context.Context, name string) (api.Result, error) {
	return c.command(ctx, http.MethodPost, name, "/reset", nil)
}

// Delete deletes a VM.
func (c *Client) Delete(ctx context.Context, name string) (api.Result, error) {
	return c.command(ctx, http.MethodDelete, name, "", nil)
}

// Update replaces a VM's spec.
func (c *Client) Update(ctx context.Context, name string, spec drivers.Spec) (api.Result, error) {
	return c.command(ctx, http.MethodPut, name, "/spec", api.UpdateRequest{Spec: spec})
}

func (c *Client) command(ctx context.Context, method, name, suffix string, body any) (api.Result, error) {
	var out api.Result
	if body == nil && method != http.MethodDelete {
		body = struct{}{}
	}
	return out, c.do(ctx, method, "/v1/vms/"+url.PathEscape(name)+suffix, nil, body, &out)
}

// Wait waits until the VM is in state want ("Running", or "delete" for
// deleted). since > 0 counts every record after seq since. timeout > 0
// bounds the wait on the daemon's side; the returned error then has code
// api.CodeTimeout.
func (c *Client) Wait(ctx context.Context, name, forArg string, since uint64, timeout time.Duration) (api.VM, error) {
	q := url.Values{"for": {forArg}}
	if since > 0 {
		q.Set("since", strconv.FormatUint(since, 10))
	}
	if timeout > 0 {
		q.Set("timeout", timeout.String())
	}
	var out api.VM
	return out, c.do(ctx, http.MethodGet, "/v1/vms/"+url.PathEscape(name)+"/wait", q, nil, &out)
}

// Events calls fn for each record from since (for vm, or all with ""),
// and with follow goes on with live ones until ctx ends or fn fails. A
// stream the daemon cut off (a reader too slow) returns an
// *api.StreamError with the seq to resume from.
func (c *Client) Events(ctx context.Context, vm string, since uint64, follow bool, fn func(store.Record) error) error {
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if vm != "" {
		q.Set("vm", vm)
	}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/events", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		// A record, or the api.StreamError that ends a stream the daemon
		// cut off.
		var l struct {
			store.Record
			Error     *string `json:"error"`
			Code      string  `json:"code"`
			ResumeSeq uint64  `json:"resumeSeq"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("events: decode: %w", err)
		}
		if l.Error != nil {
			return &api.StreamError{Message: *l.Error, Code: l.Code, ResumeSeq: l.ResumeSeq}
		}
		if err := fn(l.Record); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

// Backup writes a consistent copy of the daemon's database to w.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/backup", nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}

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
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/internal/datadir"
)

// ErrNoDaemon is returned when nothing listens on the socket.
var ErrNoDaemon = errors.New("no daemon is running")

// Client is a daemon's API. Its zero value is ready to use; set its fields
// before the first call and do not copy it after. It is safe for
// concurrent use.
type Client struct {
	// SocketPath is the daemon's control socket. Empty: [DefaultSocketPath].
	SocketPath string
	// Dial, if set, connects to the daemon instead of a dial of the unix
	// socket SocketPath; it is called with "unix" and the socket path.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	once sync.Once
	http *http.Client
}

// New returns a client for the daemon listening on socket.
func New(socket string) *Client { return &Client{SocketPath: socket} }

// DefaultDataDir is the daemon's data dir when none is given: the
// environment's $LIFELINE_HOME, else $XDG_STATE_HOME/lifeline, else
// ~/.local/state/lifeline.
func DefaultDataDir() string { return datadir.Default() }

// DefaultSocketPath is the control socket of the daemon of
// [DefaultDataDir].
func DefaultSocketPath() string { return filepath.Join(DefaultDataDir(), api.SocketName) }

func (c *Client) socket() string {
	if c.SocketPath != "" {
		return c.SocketPath
	}
	return DefaultSocketPath()
}

func (c *Client) client() *http.Client {
	c.once.Do(func() {
		sock := c.socket()
		dial := c.Dial
		if dial == nil {
			var d net.Dialer
			dial = d.DialContext
		}
		c.http = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dial(ctx, "unix", sock)
			},
		}}
	})
	return c.http
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
		return fmt.Errorf("%s %s: decode the daemon's answer: %w", method, path, err)
	}
	return nil
}

// send makes a request and returns a 2xx response; other statuses become
// an *Error with the body the daemon sent.
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
	resp, err := c.client().Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w on %s (start one with `lifeline daemon`)", ErrNoDaemon, c.socket())
		}
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	e := &Error{StatusCode: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&e.ErrorBody); err != nil || e.Code == "" {
		return nil, fmt.Errorf("%s %s: daemon answered %s", method, path, resp.Status)
	}
	return nil, e
}

// Info describes the daemon.
func (c *Client) Info(ctx context.Context) (api.Info, error) {
	var out api.Info
	return out, c.do(ctx, http.MethodGet, "/v1/info", nil, nil, &out)
}

// List returns every VM that exists (not Absent), sorted by name.
func (c *Client) List(ctx context.Context) ([]api.VM, error) {
	var out []api.VM
	return out, c.do(ctx, http.MethodGet, "/v1/vms", nil, nil, &out)
}

// Status returns one VM.
func (c *Client) Status(ctx context.Context, name string) (api.VM, error) {
	var out api.VM
	return out, c.do(ctx, http.MethodGet, vmPath(name, ""), nil, nil, &out)
}

// Create defines a VM; it starts Stopped.
func (c *Client) Create(ctx context.Context, name string, spec api.Spec) (api.Result, error) {
	var out api.Result
	return out, c.do(ctx, http.MethodPost, "/v1/vms", nil, api.CreateRequest{Name: name, Spec: spec}, &out)
}

// Start starts a Stopped VM. The VM is Starting when it returns; wait for
// Running since the result's Seq.
func (c *Client) Start(ctx context.Context, name string) (api.Result, error) {
	return c.command(ctx, http.MethodPost, name, "/start", nil)
}

// Stop stops a VM: it interrupts the agent and forces it at the graceful
// deadline, or with force kills it at once. The VM is Stopping (or
// ForceStopping) when it returns; wait for Stopped since the result's Seq.
func (c *Client) Stop(ctx context.Context, name string, force bool) (api.Result, error) {
	return c.StopWith(ctx, name, api.StopRequest{Force: force})
}

// StopWith is Stop with every option of the request: Grace replaces the
// VM's graceful timeout for this stop only. (Stop keeps its signature for
// the callers it has; options added later go here.) A daemon older than
// the Grace field refuses a request that sets it (an unknown field), so a
// grace is never silently dropped.
func (c *Client) StopWith(ctx context.Context, name string, req api.StopRequest) (api.Result, error) {
	return c.command(ctx, http.MethodPost, name, "/stop", req)
}

// Reset clears a Broken VM back to Stopped; it is refused while a process
// of the VM still runs.
func (c *Client) Reset(ctx context.Context, name string) (api.Result, error) {
	return c.command(ctx, http.MethodPost, name, "/reset", nil)
}

// Delete deletes a Stopped or Broken VM; its log stays.
func (c *Client) Delete(ctx context.Context, name string) (api.Result, error) {
	return c.command(ctx, http.MethodDelete, name, "", nil)
}

// Update replaces a VM's spec; a Running VM restarts to apply it.
func (c *Client) Update(ctx context.Context, name string, spec api.Spec) (api.Result, error) {
	return c.command(ctx, http.MethodPut, name, "/spec", api.UpdateRequest{Spec: spec})
}

// Release forgets a Stopped, Running or Broken VM and leaves it to Lima as
// it is: nothing is stopped or removed.
func (c *Client) Release(ctx context.Context, name string) (api.Result, error) {
	return c.command(ctx, http.MethodPost, name, "/release", nil)
}

// Import takes over VMs Lima's own tools made (req.Names, or req.All for
// every one the daemon does not run) and tells each one's outcome: the
// error of a request refused as a whole, else one ImportResult per VM,
// whose Error ([ImportError] makes it an *Error) says why that VM was not
// imported.
func (c *Client) Import(ctx context.Context, req api.ImportRequest) (api.ImportResponse, error) {
	var out api.ImportResponse
	return out, c.do(ctx, http.MethodPost, "/v1/import", nil, req, &out)
}

func (c *Client) command(ctx context.Context, method, name, suffix string, body any) (api.Result, error) {
	var out api.Result
	if body == nil && method != http.MethodDelete {
		body = struct{}{}
	}
	return out, c.do(ctx, method, vmPath(name, suffix), nil, body, &out)
}

func vmPath(name, suffix string) string { return "/v1/vms/" + url.PathEscape(name) + suffix }

// WaitOptions tune [Client.Wait].
type WaitOptions struct {
	// Since, if not zero, counts every record after the record with this
	// global sequence, in order, even one written before the wait began: a
	// VM that went Running and then Broken since satisfies a wait for
	// Running. Pass the Seq a command answered. Zero: the VM's current
	// state counts.
	Since uint64
	// Timeout, if positive, bounds the wait on the daemon's side, which
	// then answers an error with code api.CodeTimeout. The daemon bounds
	// every wait anyway (at a day).
	Timeout time.Duration
}

// Wait waits until the VM is in state want, or, for want [api.Absent],
// until it is deleted, and returns its status then. A wait for a state on a
// VM that does not exist, or that is deleted before it gets there, fails at
// once with code api.CodeNotFound. ctx bounds the wait on the client's
// side: give the daemon's Timeout a little less than ctx's deadline to get
// its answer rather than ctx's error.
func (c *Client) Wait(ctx context.Context, name string, want api.State, opts WaitOptions) (api.VM, error) {
	forArg := "state=" + string(want)
	if want == api.Absent {
		forArg = "delete"
	}
	return c.wait(ctx, name, forArg, opts)
}

func (c *Client) wait(ctx context.Context, name, forArg string, opts WaitOptions) (api.VM, error) {
	q := url.Values{"for": {forArg}}
	if opts.Since > 0 {
		q.Set("since", strconv.FormatUint(opts.Since, 10))
	}
	if opts.Timeout > 0 {
		q.Set("timeout", opts.Timeout.String())
	}
	var out api.VM
	return out, c.do(ctx, http.MethodGet, vmPath(name, "/wait"), q, nil, &out)
}

// EventsOptions select the records [Client.Events] reads.
type EventsOptions struct {
	// VM selects one VM's records; empty: every VM's.
	VM string
	// Since is the first global sequence to read; 0 and 1 both start at
	// the first record.
	Since uint64
	// Follow goes on with records as they are written, until ctx ends or
	// the callback fails; otherwise Events stops at the last record
	// written when it began.
	Follow bool
}

// Events calls fn for each record the options select, in global sequence
// order, with no gap and no duplicate. It returns fn's error, if any, and
// nil when the records ran out (or, following, when ctx ended). A stream
// the daemon cut off (a reader that fell too far behind) ends in an *Error
// with code api.CodeTooSlow and the ResumeSeq to pass as Since.
func (c *Client) Events(ctx context.Context, opts EventsOptions, fn func(api.Record) error) error {
	q := url.Values{"since": {strconv.FormatUint(opts.Since, 10)}}
	if opts.VM != "" {
		q.Set("vm", opts.VM)
	}
	if opts.Follow {
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
		// cut off: only the latter has an "error" field.
		var l struct {
			api.Record
			Error     *string  `json:"error"`
			Code      api.Code `json:"code"`
			ResumeSeq uint64   `json:"resumeSeq"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("events: decode a line of the daemon's stream: %w", err)
		}
		if l.Error != nil {
			return &Error{ErrorBody: api.ErrorBody{Code: l.Code, Message: *l.Error, VM: opts.VM}, ResumeSeq: l.ResumeSeq}
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

// Backup writes a consistent copy of the daemon's database to w and
// returns its size.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/backup", nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}

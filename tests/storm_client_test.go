//go:build linux

package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/internal/agentsim"
	"github.com/lifeline-vm/lifeline/states"
)

// stormCallTimeout bounds one request of the storm's clients. A command
// answers once its record is durable; only Delete and Reset wait for the
// driver, with the engine's own bound.
const stormCallTimeout = 30 * time.Second

// errStormDown is a request that reached no daemon, or lost its answer to
// a daemon that died: not acknowledged, retried with the next command.
var errStormDown = errors.New("no answer from the daemon")

// stormHTTP is the storm's own client of the control socket: one
// connection per request (no keep-alive), so that the daemon's open file
// descriptors at a quiet moment count none of the storm's idle
// connections.
type stormHTTP struct {
	hc *http.Client
}

func newStormHTTP(socket string) *stormHTTP {
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &stormHTTP{hc: &http.Client{Transport: tr, Timeout: stormCallTimeout}}
}

// call sends body (JSON, if not nil) and decodes a 2xx answer into out. A
// non-2xx answer is the daemon's *client.Error (or an error naming the
// status); a request that got no answer wraps errStormDown.
func (c *stormHTTP) call(ctx context.Context, method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := "http://lifeline" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w: %w", method, path, errStormDown, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w: read answer: %w", method, path, errStormDown, err)
	}
	if resp.StatusCode/100 != 2 {
		var e api.ErrorBody
		if json.Unmarshal(b, &e) != nil || e.Code == "" {
			return fmt.Errorf("%s %s: daemon answered %s: %q", method, path, resp.Status, b)
		}
		return &stormAPIError{Status: resp.StatusCode, Err: e}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer %q: %w", method, path, b, err)
	}
	return nil
}

// stormAPIError is a refusal with its HTTP status.
type stormAPIError struct {
	Status int
	Err    api.ErrorBody
}

func (e *stormAPIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Err.Code, e.Err.Message)
}

func (c *stormHTTP) list(ctx context.Context) ([]api.VM, error) {
	var out []api.VM
	return out, c.call(ctx, http.MethodGet, "/v1/vms", nil, nil, &out)
}

func (c *stormHTTP) info(ctx context.Context) (api.Info, error) {
	var out api.Info
	return out, c.call(ctx, http.MethodGet, "/v1/info", nil, nil, &out)
}

// stormNoTemplateOdds: one update in this many has no template.
const stormNoTemplateOdds = 25

// stormOp is one kind of command the storm's clients issue.
type stormOp int

const (
	opCreate stormOp = iota
	opStart
	opStop
	opForceStop
	opReset
	opDelete
	opUpdate
	stormOps // the number of ops
)

var stormOpNames = [stormOps]string{"create", "start", "stop", "stop --force", "reset", "delete", "update"}

func (o stormOp) String() string { return stormOpNames[o] }

// event is the event of the record an acknowledged op wrote.
func (o stormOp) event() states.Event {
	return [stormOps]states.Event{states.Create, states.Start, states.Stop, states.ForceStop, states.Reset, states.Delete, states.Update}[o]
}

// stormOpWeights is how often each op is picked for a hot VM, out of
// their sum; stormCalmWeights for a calm one, which is mostly started
// again (and reset), rarely stopped: its agents live long enough to crash
// and be restarted.
var (
	stormOpWeights   = [stormOps]int{opCreate: 12, opStart: 26, opStop: 14, opForceStop: 10, opReset: 12, opDelete: 10, opUpdate: 10}
	stormCalmWeights = [stormOps]int{opCreate: 15, opStart: 40, opStop: 6, opForceStop: 4, opReset: 25, opDelete: 2, opUpdate: 8}
)

func pickStormOp(r *rand.Rand, calm bool) stormOp {
	weights := stormOpWeights
	if calm {
		weights = stormCalmWeights
	}
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for op, w := range weights {
		if n < w {
			return stormOp(op)
		}
		n -= w
	}
	panic("unreachable")
}

// issue sends op for vm and returns the daemon's answer. An update
// carries tmpl, the template the daemon made for the VM at its create
// (a blank disk), except once in stormNoTemplateOdds: an update without a
// template is bad input (issue 9, item 7) that must be refused without a
// record.
func (c *stormHTTP) issue(ctx context.Context, r *rand.Rand, op stormOp, vm string, calm bool, tmpl []byte) (api.Result, error) {
	var res api.Result
	path := "/v1/vms/" + url.PathEscape(vm)
	var err error
	switch op {
	case opCreate:
		err = c.call(ctx, http.MethodPost, "/v1/vms", nil, api.CreateRequest{Name: vm, Spec: stormSpec(r, calm)}, &res)
	case opStart:
		err = c.call(ctx, http.MethodPost, path+"/start", nil, struct{}{}, &res)
	case opStop:
		err = c.call(ctx, http.MethodPost, path+"/stop", nil, api.StopRequest{}, &res)
	case opForceStop:
		err = c.call(ctx, http.MethodPost, path+"/stop", nil, api.StopRequest{Force: true}, &res)
	case opReset:
		err = c.call(ctx, http.MethodPost, path+"/reset", nil, struct{}{}, &res)
	case opDelete:
		err = c.call(ctx, http.MethodDelete, path, nil, nil, &res)
	case opUpdate:
		spec := stormSpec(r, calm)
		if r.IntN(stormNoTemplateOdds) != 0 {
			spec.Template = tmpl
		}
		err = c.call(ctx, http.MethodPut, path+"/spec", nil, api.UpdateRequest{Spec: spec}, &res)
	}
	return res, err
}

// stormSpec is a random spec: agent-sim's misbehaviour knobs, each with its
// own odds, a readiness and a restart policy. A calm VM crashes and is
// restarted more often.
//
// LIFELINE_SIM_EXIT_ZERO_LEAVING_DRIVER is left out: it makes a fresh agent
// start a driver child, remove its pid file and exit 0, leaving a process
// that no Lima file names. With Lima the process left is the *old* QEMU
// that the driver remembered (drivers/lima's TestTrapExitZeroLeavingDriver
// replays that trap); a new one that nothing names cannot exist there.
func stormSpec(r *rand.Rand, calm bool) api.Spec {
	odds := func(hot, calmOdds int) bool {
		if calm {
			return r.IntN(calmOdds) == 0
		}
		return r.IntN(hot) == 0
	}
	env := map[string]string{}
	dur := func(lo, hi time.Duration) string {
		return (lo + time.Duration(r.Int64N(int64(hi-lo)))).Round(time.Millisecond).String()
	}
	if r.IntN(3) == 0 {
		env[agentsim.EnvStartDelay] = dur(20*time.Millisecond, 1500*time.Millisecond)
	}
	if r.IntN(20) == 0 {
		env[agentsim.EnvNeverRunning] = "1"
	}
	if r.IntN(5) == 0 {
		env[agentsim.EnvIgnoreSIGINT] = "1"
	}
	if r.IntN(8) == 0 {
		env[agentsim.EnvIgnoreSIGTERM] = "1"
	}
	if odds(4, 2) {
		env[agentsim.EnvCrashAfter] = dur(100*time.Millisecond, 3*time.Second)
	}
	if r.IntN(6) == 0 {
		env[agentsim.EnvOrphanDriver] = "1"
	}
	if r.IntN(25) == 0 {
		env[agentsim.EnvFailStart] = "1"
	}
	spec := api.Spec{Env: env, Ready: []string{"", "guest", "agent"}[r.IntN(3)]}
	if odds(3, 2) {
		spec.Restart = engine.RestartOnFailure
	}
	return spec
}

// scrapeGoroutines reads go_goroutines from the daemon's metrics.
func scrapeGoroutines(ctx context.Context, addr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("go_goroutines ")); ok {
			n, err := strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
			return int(n), err
		}
	}
	return 0, fmt.Errorf("metrics on %s: no go_goroutines", addr)
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/internal/cli/fastpath"
)

// fakeDaemon serves GET /v1/vms/{name} and GET /v1/vms on a unix socket
// in a new data dir the way the daemon's server does (server.writeJSON:
// json.Encoder into the response, 404 with an api.ErrorBody), and sets
// LIFELINE_HOME to that dir.
func fakeDaemon(t *testing.T, vms ...api.VM) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "llfast") // short: a socket path has ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Setenv("LIFELINE_HOME", dir)
	l, err := net.Listen("unix", filepath.Join(dir, api.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	write := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/vms", func(w http.ResponseWriter, _ *http.Request) { write(w, 200, vms) })
	mux.HandleFunc("GET /v1/vms/{name}", func(w http.ResponseWriter, r *http.Request) {
		for _, v := range vms {
			if v.Name == r.PathValue("name") {
				write(w, 200, v)
				return
			}
		}
		name := r.PathValue("name")
		write(w, 404, api.ErrorBody{Code: api.CodeNotFound, Message: "vm " + `"` + name + `"` + ": no such vm", VM: name})
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return dir
}

// TestFastPathPrintsWhatTheTreePrints: lifeline's `status NAME` and `list` through
// its fast path (fastpath.Run, from the init of package early, then Main
// when it declines) prints byte for byte what the command tree alone
// prints, with the same exit code, for a VM that exists (text and
// JSON, every spelling of -o, --utc), one that does not, list (table,
// JSON, -q) and no daemon; and the fast path is what answered the VM that
// exists and the list.
func TestFastPathPrintsWhatTheTreePrints(t *testing.T) {
	// The package's tests run in a local zone that is not UTC (TestMain),
	// so that --utc changes what prints: on a machine whose zone is UTC,
	// a path that dropped it would print the same.
	if _, off := time.Now().Zone(); off == 0 {
		t.Fatal("the local zone is UTC: --utc would print the same")
	}
	// Times that print the same whenever the two run (both read the
	// clock): a zero since (its age is "-", the time since it saturates),
	// a deadline in the past (its countdown is 0s).
	var since time.Time
	past := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	vm := api.VM{
		Name: "vm1", State: api.Stopping, Seq: 7, VMSeq: 3, Since: since, Event: api.EventStop,
		Reason: "stop requested <&>", HostAgentPID: 4242, VMProcessPID: 4343,
		Deadline: past, Ready: "agent", Driver: "lima", Env: []string{"A=1"},
		InstanceDir: "/lima/vm1", AgentLogs: []string{"/lima/vm1/ha.stderr.log", "/lima/vm1/ha.stdout.log"},
		Degraded: true, AgentError: "port forwarding failed", AgentErrorAt: past,
	}
	ctx := context.Background()
	lifeline := func(args []string) (stdout, stderr string, code int, fast bool) {
		var o, e bytes.Buffer
		if code, ok := fastpath.Run(ctx, defaultDataDir(), args, &o, &e); ok {
			return o.String(), e.String(), code, true
		}
		code = Main(ctx, args, &o, &e)
		return o.String(), e.String(), code, false
	}
	tree := func(args []string) (stdout, stderr string, code int) {
		var o, e bytes.Buffer
		code = run(ctx, args, &o, &e)
		return o.String(), e.String(), code
	}
	check := func(t *testing.T, args []string, wantFast bool) {
		t.Helper()
		o, e, code, fast := lifeline(args)
		to, te, tcode := tree(args)
		if o != to || e != te || code != tcode {
			t.Errorf("lifeline %s: the fast path printed\n%s%s(exit %d), the tree\n%s%s(exit %d)", strings.Join(args, " "), o, e, code, to, te, tcode)
		}
		if runtime.GOOS == "windows" {
			wantFast = false // the fast path is unix's: Windows keeps the tree's client
		}
		if fast != wantFast {
			t.Errorf("lifeline %s: answered by the fast path: %v, want %v", strings.Join(args, " "), fast, wantFast)
		}
	}
	t.Run("daemon", func(t *testing.T) {
		fakeDaemon(t, vm, api.VM{Name: "vm2", State: api.Stopped, Seq: 9, Since: since, Event: api.EventCreate})
		for _, a := range []string{
			"status vm1", "status vm1 -o json", "status vm1 -ojson", "status vm1 -o=json",
			"status -o json vm1", "status vm1 --output json", "status vm1 --output=json", "status vm1 -o text",
			"status vm1 --utc", "status --utc vm1 -o text", "status vm1 --utc -o json",
			"status vm2 -o json", "status vm2",
			"list", "ls -o json", "ps -q", "list --quiet -o text", "list --utc", "list -q -o json",
		} {
			check(t, strings.Fields(a), true)
		}
		for _, a := range []string{
			"status nosuch", "status nosuch -o json", "status vm -o json", // not found, with a hint
			"status vm1 --utc=true", "status vm1 -o yaml", "status vm1 vm2", "status vm1 -o json -o text", // the tree's
			"list vm1", "list -o yaml", "list --no-such-flag",
		} {
			check(t, strings.Fields(a), false)
		}
	})
	t.Run("no daemon", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "llfast")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		t.Setenv("LIFELINE_HOME", dir)
		for _, a := range []string{"status vm1", "status vm1 -o json", "list", "list -o json"} {
			check(t, strings.Fields(a), false)
		}
	})
}

//go:build unix

package lifeline_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The fast path talks to the daemon over the unix socket's system calls;
// on Windows lifeline keeps the tree's client, so this file is unix's.

// TestFastPathAnswersBeforeTheTreeInitialises: `lifeline status NAME` and
// `lifeline list`, with or without -o json, are answered by lifeline
// alone (internal/front), which initialises none of net, net/http,
// crypto/tls or cobra (issue 12 item 19): with GODEBUG=inittrace=1 none
// of theirs is traced, and no lifeline-cli is there to run.
func TestFastPathAnswersBeforeTheTreeInitialises(t *testing.T) {
	dir, err := os.MkdirTemp("", "llfast") // short: a socket path has ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := net.Listen("unix", filepath.Join(dir, "lifeline.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vm := map[string]any{"name": "vm1", "state": "Running", "seq": 5}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/vms/vm1":
			_ = json.NewEncoder(w).Encode(vm)
		case "/v1/vms":
			_ = json.NewEncoder(w).Encode([]any{vm})
		default:
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Shutdown(context.Background())

	bin := filepath.Join(t.TempDir(), "lifeline")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/lifeline").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/lifeline: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"status", "vm1", "-o", "json"}, []string{`"name": "vm1"`, `"state": "Running"`}},
		{[]string{"status", "vm1"}, []string{"name:       vm1\n", "state:      Running for "}},
		{[]string{"list", "-o", "json"}, []string{`"name": "vm1"`}},
		{[]string{"ls"}, []string{"NAME ", "vm1 "}},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Dir = t.TempDir() // not a checkout: lifeline builds nothing there
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1", "LIFELINE_HOME="+dir)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("lifeline %s: %v\n%s", strings.Join(c.args, " "), err, stderr.String())
		}
		for _, want := range c.want {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("lifeline %s printed\n%s\nwithout %q", strings.Join(c.args, " "), stdout.String(), want)
			}
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "init" {
				continue
			}
			switch f[1] {
			case "net", "net/http", "crypto/tls", "crypto/x509", "github.com/spf13/cobra", module + "/client":
				t.Errorf("lifeline %s: %s was initialised before the fast path answered (%s): something the fast path imports made it wait; keep internal/cli/fastpath to the standard library's small packages", strings.Join(c.args, " "), f[1], line)
			}
		}
	}
}

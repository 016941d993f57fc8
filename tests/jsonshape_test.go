package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// decodeStrict decodes b into v and fails on a field v does not have.
func decodeStrict(t *testing.T, what string, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, b)
	}
}

// TestOneJSONShapeOfAVM: every verb that prints a VM in JSON (list,
// status, wait, replay at) prints it in the one shape, api.VM; every verb
// that prints records (events, replay export) prints api.Record. Each
// decodes into its struct with no unknown field, and they agree on the
// VM's name, state, seq and processes (issue 12 item 10).
func TestOneJSONShapeOfAVM(t *testing.T) {
	home := shortTemp(t)
	d := startDaemon(t, home)
	ctx := context.Background()
	if _, err := d.c.Create(ctx, "vm1", api.Spec{Ready: api.ReadyAgent}); err != nil {
		t.Fatal(err)
	}
	r, err := d.c.Start(ctx, "vm1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Wait(ctx, "vm1", api.Running, client.WaitOptions{Since: r.Seq, Timeout: settleWait}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(lifelineBin, append([]string{"--data-dir", home}, args...)...)
		cmd.Env = os.Environ()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("lifeline %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	var list []api.VM
	decodeStrict(t, "list -o json", run("list", "-o", "json"), &list)
	var status, wait api.VM
	decodeStrict(t, "status -o json", run("status", "vm1", "-o", "json"), &status)
	decodeStrict(t, "wait -o json", run("wait", "vm1", "--for=state=Running", "-o", "json"), &wait)
	copyDB := filepath.Join(home, "copy.db")
	run("backup", copyDB)
	var at struct {
		Seq    uint64   `json:"seq"`
		Time   string   `json:"time"`
		Boot   uint64   `json:"boot"`
		Daemon string   `json:"daemon"`
		VMs    []api.VM `json:"vms"`
	}
	decodeStrict(t, "replay at -o json", run("replay", "at", "--seq", strconv.FormatUint(status.Seq, 10), "--db", copyDB, "-o", "json"), &at)

	if len(list) != 1 || len(at.VMs) != 1 {
		t.Fatalf("list %d VMs, replay at %d, want 1", len(list), len(at.VMs))
	}
	for what, v := range map[string]api.VM{"list": list[0], "wait": wait, "replay at": at.VMs[0]} {
		if v.Name != status.Name || v.State != status.State || v.Seq != status.Seq || v.HostAgentPID != status.HostAgentPID || v.VMProcessPID != status.VMProcessPID || !v.Since.Equal(status.Since) {
			t.Errorf("%s: %+v\nstatus: %+v", what, v, status)
		}
	}
	if status.HostAgentPID == 0 || status.Name != "vm1" || status.State != api.Running {
		t.Errorf("status: %+v", status)
	}

	for what, out := range map[string][]byte{
		"events -o json": run("events", "vm1", "-o", "json"),
		"replay export":  run("replay", "export", "--db", copyDB),
	} {
		sc := bufio.NewScanner(bytes.NewReader(out))
		n := 0
		for sc.Scan() {
			var rec api.Record
			decodeStrict(t, what, sc.Bytes(), &rec)
			if rec.VM != "vm1" || rec.Seq == 0 {
				t.Errorf("%s: %+v", what, rec)
			}
			n++
		}
		if n == 0 {
			t.Errorf("%s: no records", what)
		}
	}
}

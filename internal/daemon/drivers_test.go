package daemon

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/mux"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/server"
)

// The daemon's wiring with a driver per VM: the mux, wrapped with the
// files it makes, refuses a driver it does not have and keeps each
// driver's own checks (its section, its name rule), before anything is
// recorded; 400 naming the VM and the field.
func TestAPIRoutesSpecChecksByDriver(t *testing.T) {
	home := t.TempDir()
	l, err := lima.New(lima.Options{LimaHome: home, HostAgentCmd: []string{"/nonexistent/agent"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mux.New("lima", map[string]drivers.Driver{"lima": l, "command": &process.Driver{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	a := newTestAPI(t, m, func(o *engine.Options, _ *server.Options) {
		o.Driver = withFiles(m, blankDiskFiles(func(vm string) string { return home + "/" + vm + ".raw" }))
	})
	last := a.st.LastSeq()
	for _, tc := range []struct {
		name, vm string
		spec     api.Spec
		want     string
	}{
		{"unknown driver", "vm1", api.Spec{Driver: "qemu", Command: []string{"sleep", "1"}}, `vm "vm1": invalid spec: driver: unknown driver "qemu"`},
		{"template for a command", "vm1", api.Spec{Driver: "command", Command: []string{"sleep", "1"}, Template: []byte("vmType: qemu\n")}, `vm "vm1": invalid spec: template:`},
		{"command without argv", "vm1", api.Spec{Driver: "command"}, `vm "vm1": invalid spec: command:`},
		{"command for lima", "vm1", api.Spec{Driver: "lima", Template: []byte("vmType: qemu\n"), Command: []string{"sleep", "1"}}, `vm "vm1": invalid spec: command:`},
		{"Lima's name rule", "a..b", api.Spec{Template: []byte("vmType: qemu\n")}, `vm "a..b": invalid spec: name:`},
	} {
		code, e := a.do("POST", "/v1/vms", specBody(tc.vm, tc.spec))
		if code != http.StatusBadRequest || e.Code != api.CodeInvalid || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: create: %d %s %q; want 400 invalid with %q", tc.name, code, e.Code, e.Message, tc.want)
		}
	}
	if got := a.st.LastSeq(); got != last {
		t.Errorf("last seq %d after the refusals, want %d", got, last)
	}
	// The engine's rule is the generic one: a command VM may be called
	// what Lima refuses.
	if code, e := a.do("POST", "/v1/vms", specBody("a..b", api.Spec{Driver: "command", Command: []string{"sleep", "1"}})); code != http.StatusOK {
		t.Errorf("create of command vm a..b: %d %q", code, e.Message)
	}
}

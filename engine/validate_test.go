package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/lima/limaprep"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// badSpec is one spec the adversarial run got recorded (issue 9, item 7),
// and the field its refusal must name.
type badSpec struct {
	name  string
	vm    string
	spec  drivers.Spec
	field string
}

// longName passes Lima's name rule (76 characters) but its instance
// directory's longest socket path does not fit UNIX_PATH_MAX.
var longName = strings.Repeat("a", 76)

func badSpecs(good []byte) []badSpec {
	return []badSpec{
		{"bad YAML", "vm1", drivers.Spec{Template: []byte("images: [\n")}, "template"},
		{"YAML list", "vm1", drivers.Spec{Template: []byte("- a\n- b\n")}, "template"},
		{"YAML scalar", "vm1", drivers.Spec{Template: []byte("just text\n")}, "template"},
		{"ready bogus", "vm1", drivers.Spec{Template: good, Ready: "bogus"}, "ready"},
		{"restart always", "vm1", drivers.Spec{Template: good, Restart: "always"}, "restart"},
		{"env empty key", "vm1", drivers.Spec{Template: good, Env: map[string]string{"": "x"}}, "env"},
		{"env key with =", "vm1", drivers.Spec{Template: good, Env: map[string]string{"A=B": "x"}}, "env"},
		{"env value with NUL", "vm1", drivers.Spec{Template: good, Env: map[string]string{"A": "x\x00y"}}, "env"},
		{"no template", "vm1", drivers.Spec{Ready: "agent"}, "template"},
		{"Lima schema: vmType", "vm1", drivers.Spec{Template: []byte("vmType: bogus\nimages:\n- location: /x.img\n")}, "vmType"},
		{"name too long for Lima's sockets", longName, drivers.Spec{Template: good}, "name"},
	}
}

// openLimaEngine is an engine over the Lima driver (no agent is started:
// only its checks and Define run).
func openLimaEngine(t *testing.T) (*Engine, *store.Store) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("LIMA_HOME", home)
	drv, err := lima.New(lima.Options{LimaHome: home, HostAgentCmd: []string{"/nonexistent/agent"}, ValidateTemplate: limaprep.ValidateTemplate})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), Options{Store: st, Driver: drv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); st.Close() })
	return e, st
}

func goodTemplate(t *testing.T) []byte {
	t.Helper()
	tmpl, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: filepath.Join(t.TempDir(), "blank.raw")})
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// Every bad spec is refused by Create and by Update before any record,
// with an error wrapping ErrInvalidSpec that names the field.
func TestInvalidSpecsAreNotRecorded(t *testing.T) {
	e, st := openLimaEngine(t)
	good := goodTemplate(t)
	ctx := context.Background()
	if _, err := e.Create(ctx, "ok", drivers.Spec{Template: good, Ready: "agent"}); err != nil {
		t.Fatalf("a good spec: %v", err)
	}
	last := st.LastSeq()
	for _, tc := range badSpecs(good) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Create(ctx, tc.vm, tc.spec)
			checkRefusal(t, "create", err, tc.field)
			if tc.vm == longName {
				return // update of a VM that could not be created
			}
			_, err = e.Update(ctx, "ok", tc.spec)
			checkRefusal(t, "update", err, tc.field)
		})
	}
	if got := st.LastSeq(); got != last {
		t.Errorf("last seq %d after the refusals, want %d: something invalid was recorded", got, last)
	}
	if _, err := e.Get(longName); !errors.Is(err, ErrNotFound) {
		t.Errorf("the long name exists after its refusal: %v", err)
	}
}

func checkRefusal(t *testing.T, cmd string, err error, field string) {
	t.Helper()
	if !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("%s: %v, want ErrInvalidSpec", cmd, err)
	}
	if !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "nothing was recorded") {
		t.Errorf("%s: %q does not name the field %q or say nothing was recorded", cmd, err, field)
	}
}

// An update with an invalid spec never stops a Running VM: the adversary's
// `ready: "bogus"` was answered 200 and destroyed the VM.
func TestInvalidUpdateKeepsRunningVM(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.create("vm1", drivertest.Behavior{})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)
		before := h.events("vm1")
		for _, spec := range []drivers.Spec{{Ready: "bogus"}, {Restart: "always"}, {Env: map[string]string{"A=B": "1"}}} {
			if _, err := h.e.Update(bg, "vm1", spec); !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("update %+v: %v, want ErrInvalidSpec", spec, err)
			}
		}
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", before...)
		if n := h.drv.Count("vm1", "Interrupt") + h.drv.Count("vm1", "KillTree"); n != 0 {
			t.Errorf("%d stop calls after refused updates", n)
		}
	})
}

// A VM's driver never changes: an update naming another driver is refused
// before anything is recorded, in every state (Stopped too), naming the VM
// and the field; an update naming none keeps the VM's driver.
func TestUpdateKeepsTheDriver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "web", drivers.Spec{Driver: "command", Command: []string{"sleep", "600"}}))
		n := len(h.records("web"))
		_, err := h.e.Update(bg, "web", drivers.Spec{Driver: "lima", Template: []byte("vmType: qemu\n")})
		var ise *InvalidSpecError
		if !errors.As(err, &ise) || ise.Field != "driver" || ise.VM != "web" || !strings.Contains(err.Error(), "delete the vm and create it again") {
			t.Errorf("update to another driver: %v, want an invalid driver field", err)
		}
		if got := len(h.records("web")); got != n {
			t.Errorf("a refused update wrote %d records", got-n)
		}
		h.ok(h.e.Update(bg, "web", drivers.Spec{Command: []string{"sleep", "700"}}))
		v, _ := h.e.Get("web")
		if v.Spec.Driver != "command" || v.Spec.Command[1] != "700" {
			t.Errorf("spec after an update naming no driver: %+v, want driver command kept", v.Spec)
		}
	})
}

package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
)

// POST /v1/import refuses, as a whole (400, nothing recorded), a request
// that names nothing, names VMs and all at once, or gives spec fields the
// instance's definition holds; otherwise it answers one result per VM, a
// refusal of one (a known name, an unknown one) beside the others'
// success. POST /v1/vms/{name}/release answers Absent.
func TestImportAndReleaseRoutes(t *testing.T) {
	drv := drivertest.New()
	a := newTestAPI(t, drv, nil)
	for _, body := range []string{
		`{"spec":{}}`,
		`{"names":["a"],"all":true,"spec":{}}`,
		`{"names":["a"],"spec":{"template":"eA=="}}`,
		`{"names":["a"],"spec":{"env":{"A":"1"}}}`,
	} {
		if code, e := a.do(http.MethodPost, "/v1/import", body); code != http.StatusBadRequest || e.Code != api.CodeInvalid {
			t.Errorf("import %s: %d %+v, want 400 invalid", body, code, e)
		}
	}
	drv.MakeOutside("a", drivers.Spec{})
	drv.MakeOutside("b", drivers.Spec{})
	drv.StartOutside("b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := a.c.Import(ctx, api.ImportRequest{Names: []string{"a", "b", "nosuch"}, Spec: api.Spec{Autostart: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 3 || res.Results[0].State != api.Stopped || res.Results[1].State != api.Running ||
		!client.IsNotFound(client.ImportError(res.Results[2])) || client.ImportError(res.Results[0]) != nil {
		t.Fatalf("results %+v; want a Stopped, b Running, nosuch not found", res.Results)
	}
	if v, err := a.c.Status(ctx, "a"); err != nil || !v.Autostart {
		t.Errorf("a: %+v, %v; want autostart from the request", v, err)
	}
	res, err = a.c.Import(ctx, api.ImportRequest{All: true})
	if err != nil || len(res.Results) != 0 {
		t.Errorf("import --all with every instance imported: %+v, %v; want no result", res, err)
	}
	r, err := a.c.Release(ctx, "b")
	if err != nil || r.State != "Absent" {
		t.Fatalf("release: %+v, %v", r, err)
	}
	if _, err := a.c.Status(ctx, "b"); !client.IsNotFound(err) {
		t.Errorf("b after release: %v, want not found", err)
	}
	res, err = a.c.Import(ctx, api.ImportRequest{All: true})
	if err != nil || len(res.Results) != 1 || res.Results[0].Name != "b" || res.Results[0].State != api.Running {
		t.Errorf("import --all after the release: %+v, %v; want b Running", res, err)
	}
}

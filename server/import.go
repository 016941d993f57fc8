package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers"
)

// importVMs answers POST /v1/import: each VM named (or, with all, each
// one the driver has and the engine does not run) is imported on its own,
// in order, and the answer tells each one's outcome; a refusal of one
// does not stop the others. Only a request that names nothing, or names
// VMs and all at once, or sets spec fields an import does not take, is
// refused as a whole.
func (s *handler) importVMs(w http.ResponseWriter, r *http.Request) {
	var req api.ImportRequest
	if err := readJSON(r, &req); err != nil {
		s.fail(w, "", err)
		return
	}
	ctx := context.WithoutCancel(r.Context())
	switch {
	case req.All && len(req.Names) > 0:
		s.fail(w, "", invalid(fmt.Errorf("import: names and all exclude each other: give one")))
		return
	case !req.All && len(req.Names) == 0:
		s.fail(w, "", invalid(fmt.Errorf("import: no VM named: give instance names, or all")))
		return
	case req.Spec.Driver != "" || len(req.Spec.Template) > 0 || len(req.Spec.Command) > 0 || len(req.Spec.Env) > 0:
		s.fail(w, "", invalid(fmt.Errorf("import: the spec comes from the instance: only ready, restart, gracefulTimeout and autostart may be given")))
		return
	}
	over := drivers.Spec{Ready: req.Spec.Ready, Restart: req.Spec.Restart, GracefulTimeout: req.Spec.GracefulTimeout, Autostart: req.Spec.Autostart}
	names := slices.Clone(req.Names)
	if req.All {
		var err error
		if names, err = s.eng.Instances(ctx); err != nil {
			s.fail(w, "", err)
			return
		}
	}
	out := api.ImportResponse{Results: []api.ImportResult{}}
	for _, name := range names {
		rec, err := s.eng.Import(ctx, name, over)
		res := api.ImportResult{Name: name}
		if err != nil {
			if rec.Seq != 0 {
				err = recordedError{fmt.Errorf("recorded %s as seq %d, but: %w", rec.Event, rec.Seq, err)}
			}
			_, res.Error = s.errorBody(name, err)
		} else {
			res.Seq, res.State = rec.Seq, api.State(rec.To.String())
		}
		out.Results = append(out.Results, res)
	}
	writeJSON(w, http.StatusOK, out)
}

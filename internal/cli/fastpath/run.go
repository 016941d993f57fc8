package fastpath

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/internal/cli/vmtext"
)

// Run runs args if they are a command line the fast path answers
// (ParseArgs) and the daemon of dataDir answers it, and returns the exit
// code; ok is false, with nothing written, when the command tree must run
// the command instead. Once the answer is there it is the verb's own
// output (ShowStatus, ShowList), and a failure to write it is printed as
// the tree prints it (exit 1).
func Run(ctx context.Context, dataDir string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	a, ok := ParseArgs(args)
	if !ok {
		return 0, false
	}
	path := "/v1/vms"
	if !a.List {
		if !plainName(a.Name) {
			return 0, false
		}
		path += "/" + a.Name
	}
	body, ok := Get(ctx, filepath.Join(dataDir, api.SocketName), path)
	if !ok {
		return 0, false
	}
	var err error
	if a.List {
		var vms []api.VM
		if !decode(body, &vms) {
			return 0, false
		}
		err = ShowList(stdout, vms, a.JSON, a.Quiet, time.Now())
	} else {
		var v api.VM
		if !decode(body, &v) {
			return 0, false
		}
		err = ShowStatus(stdout, v, a.JSON, a.UTC, time.Now())
	}
	switch {
	case err == nil:
		return 0, true
	case a.JSON:
		// The tree's printError with -o json of an error of no kind of
		// its own: code internal, exit 1.
		_ = WriteJSONLine(stderr, ErrorJSON{Error: err.Error(), Code: api.CodeInternal, Exit: 1})
	default:
		fmt.Fprintln(stderr, "lifeline:", err)
	}
	return 1, true
}

// ShowStatus prints the status verb's answer: as JSON, or for people
// (vmtext.Status, in UTC with utc).
func ShowStatus(w io.Writer, v api.VM, asJSON, utc bool, now time.Time) error {
	if asJSON {
		return WriteJSON(w, v)
	}
	return vmtext.Status(w, vmtext.Times{UTC: utc}, v, now)
}

// ShowList prints the list verb's answer: as JSON ([] for none), the
// names only (quiet), or list's table (vmtext.List).
func ShowList(w io.Writer, vms []api.VM, asJSON, quiet bool, now time.Time) error {
	switch {
	case asJSON:
		if vms == nil {
			vms = []api.VM{}
		}
		return WriteJSON(w, vms)
	case quiet:
		for _, v := range vms {
			fmt.Fprintln(w, v.Name)
		}
		return nil
	}
	return vmtext.List(w, vms, now)
}

// plainName tells whether name is the same escaped in a URL's path
// (url.PathEscape, as the client does it): letters, digits, '-', '.' and
// '_', which every valid VM name is made of. Any other is the tree's
// (net/url would make this package wait for net/netip's initialisation).
func plainName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return name != ""
}

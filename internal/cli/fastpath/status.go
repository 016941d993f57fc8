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

// Run runs args if they are `status NAME` with at most -o and --utc
// (StatusArgs) and the daemon of dataDir answers the VM, and returns the
// exit code; ok is false, with nothing written, when the command tree
// must run the command instead. Once the answer is there it is the status
// verb's own output (WriteJSON, vmtext.Status), and a failure to write
// it is printed as the tree prints it (exit 1).
func Run(ctx context.Context, dataDir string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	a, ok := StatusArgs(args)
	if !ok {
		return 0, false
	}
	v, ok := Status(ctx, dataDir, a.Name)
	if !ok {
		return 0, false
	}
	if a.JSON {
		if err := WriteJSON(stdout, v); err != nil {
			// The tree's printError with -o json of an error of no kind
			// of its own: code internal, exit 1.
			_ = WriteJSONLine(stderr, ErrorJSON{Error: err.Error(), Code: api.CodeInternal, Exit: 1})
			return 1, true
		}
		return 0, true
	}
	if err := vmtext.Status(stdout, vmtext.Times{UTC: a.UTC}, v, time.Now()); err != nil {
		fmt.Fprintln(stderr, "lifeline:", err)
		return 1, true
	}
	return 0, true
}

// Status asks the daemon of dataDir for the VM name; ok is false for
// anything but its answer with the VM.
func Status(ctx context.Context, dataDir, name string) (api.VM, bool) {
	if !plainName(name) {
		return api.VM{}, false
	}
	body, ok := Get(ctx, filepath.Join(dataDir, api.SocketName), "/v1/vms/"+name)
	if !ok {
		return api.VM{}, false
	}
	return DecodeVM(body)
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

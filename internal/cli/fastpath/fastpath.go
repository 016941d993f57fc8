// Package fastpath answers `lifeline status NAME` and `lifeline list`
// (with -o json, --utc, list's -q), what scripts loop over and people
// type, from lifeline, a program that links nothing else (internal/front;
// issue 12 item 19, BENCHMARKS.md "CLI start and round trip"): one GET
// over the daemon's unix socket written by hand over its system calls
// (Get), the answer printed by the verbs' own code (ShowStatus, ShowList:
// WriteJSON, the CLI's one JSON writer, and vmtext).
//
// It answers only the plain success. Any other command line, a daemon
// that is not there, any answer but a 200 with the VM or the list, any
// surprise in the exchange: it has written nothing, and the command tree
// runs the command from the start and says what it says (its hints,
// errors and exit codes), so nothing of the fast path is seen but its
// speed.
//
// It imports the standard library's small packages, api, vmtext and
// timefmt only: everything lifeline links is initialised, and paged in,
// before it runs (the root deps_test.go's TestFrontLinksOnlyTheFastPath).
package fastpath

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"github.com/lifeline-vm/lifeline/api"
)

// Args is a command line the fast path answers: `status NAME` or `list`
// (`ls`, `ps`), with -o json, --utc and list's -q as given.
type Args struct {
	List             bool // list, ls, ps; else status
	Name             string
	JSON, UTC, Quiet bool
}

// ParseArgs accepts `status NAME` and `list` (`ls`, `ps`) with -o/--output
// json or text anywhere after the verb, in any of the forms the command
// tree parses (`-o json`, `-ojson`, `-o=json`, `--output json`,
// `--output=json`), --utc, and for list -q/--quiet, each given at most
// once; anything else (another flag, another name, `--`) is the tree's.
func ParseArgs(args []string) (Args, bool) {
	if len(args) == 0 {
		return Args{}, false
	}
	var a Args
	switch args[0] {
	case "status":
	case "list", "ls", "ps":
		a.List = true
	default:
		return Args{}, false
	}
	outputs, utcs, quiets, names := 0, 0, 0, 0
	for i := 1; i < len(args); i++ {
		arg := args[i]
		var val string
		switch {
		case arg == "--utc":
			a.UTC = true
			utcs++
			continue
		case a.List && (arg == "-q" || arg == "--quiet"):
			a.Quiet = true
			quiets++
			continue
		case arg == "-o" || arg == "--output":
			if i+1 == len(args) {
				return Args{}, false
			}
			i++
			val = args[i]
		case strings.HasPrefix(arg, "--output="):
			val = arg[len("--output="):]
		case strings.HasPrefix(arg, "-o="):
			val = arg[len("-o="):]
		case strings.HasPrefix(arg, "-o"):
			val = arg[len("-o"):]
		case arg == "" || arg[0] == '-':
			return Args{}, false
		default:
			a.Name = arg
			names++
			continue
		}
		if val != "json" && val != "text" {
			return Args{}, false
		}
		a.JSON = val == "json"
		outputs++
	}
	wantNames := 1
	if a.List {
		wantNames = 0
	}
	if names != wantNames || outputs > 1 || utcs > 1 || quiets > 1 {
		return Args{}, false
	}
	return a, true
}

// decode decodes an answer into out as client.Client does: the first
// JSON value of the body.
func decode(body []byte, out any) bool {
	return json.NewDecoder(bytes.NewReader(body)).Decode(out) == nil
}

// WriteJSON is the CLI's -o json output: v indented by two spaces, then
// a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteJSONLine is v as one line of JSON, then a newline.
func WriteJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ErrorJSON is an error as -o json prints it on stderr: the message, the
// code a script branches on, and the VM and its state where known. The
// exit code is the same as without -o json.
type ErrorJSON struct {
	Error string    `json:"error"`
	Code  api.Code  `json:"code"`
	VM    string    `json:"vm,omitempty"`
	State api.State `json:"state,omitempty"`
	// Exit is the process's exit code.
	Exit int `json:"exit"`
}

// WantsJSON tells whether the command line asks for -o json, in one of
// the forms the command tree parses, read from the arguments themselves
// (before `--`), so that even an error in parsing them, or lifeline's own
// before the tree runs, is printed as JSON.
func WantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "-ojson", a == "--output=json", a == "-o=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

package replay_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOnlyCheckRunsTheEngine: DESIGN.md lets replay import the engine and
// the scripted driver for check only. The other verbs read states and
// store.
func TestOnlyCheckRunsTheEngine(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, only := range []string{"/engine", "/drivers"} {
				if strings.Contains(path, "lifeline-vm/lifeline"+only) && !strings.HasPrefix(f, "check") {
					t.Errorf("%s imports %s: only check*.go may", f, path)
				}
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("checked only %d files", checked)
	}
}

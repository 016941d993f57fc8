package replay_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestReplayReadsOnly: replay reads logs (states and store); re-driving a
// history through the engine is replay/recheck's, the only package
// allowed the engine and the scripted driver (deps_test.go at the root
// holds the whole rule). No file of replay imports the engine or a
// driver.
func TestReplayReadsOnly(t *testing.T) {
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
			for _, never := range []string{"/engine", "/drivers"} {
				if strings.HasPrefix(path, "github.com/lifeline-vm/lifeline"+never) {
					t.Errorf("%s imports %s: replay reads logs; re-driving them is replay/recheck's", f, path)
				}
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("checked only %d files", checked)
	}
}

package states

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"unicode"
)

// TestEventGoNamesMatchWireNames reads the Event constants from states.go
// and checks that each Go name is its wire name in CamelCase (the Event
// prefix taken off, which only EventNone and EventRunning carry, to keep
// clear of the state Running): the agent's "running" was once the event
// Run.
func TestEventGoNamesMatchWireNames(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "states.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for i, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if i == 0 {
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Event" {
					break // not the Event block
				}
			}
			for _, name := range vs.Names {
				ev := Event(i)
				want := camel(ev.String())
				if got := strings.TrimPrefix(name.Name, "Event"); got != want {
					t.Errorf("event %d: Go name %s, wire name %q (want %s or Event%s)", i, name.Name, ev, want, want)
				}
				seen++
			}
		}
	}
	if seen != len(AllEvents())+1 {
		t.Fatalf("read %d event constants, want %d", seen, len(AllEvents())+1)
	}
}

// camel turns "stop_timeout" into "StopTimeout".
func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		r := []rune(part)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

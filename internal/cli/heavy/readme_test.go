package heavy

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/internal/cli"
	"github.com/lifeline-vm/lifeline/states"
)

// TestReadmeDiagram keeps the README's diagram the one the table renders.
func TestReadmeDiagram(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := "```mermaid\n" + states.Mermaid() + "```"
	if !strings.Contains(string(readme), block) {
		t.Errorf("README.md's mermaid block differs from `lifeline graph`; paste:\n%s", block)
	}
}

func TestGraphCommand(t *testing.T) {
	for format, want := range map[string]string{"mermaid": states.Mermaid(), "dot": states.Graphviz()} {
		var out, errOut bytes.Buffer
		if code := cli.Run(context.Background(), Tree(), []string{"graph", "--format", format}, &out, &errOut); code != 0 {
			t.Fatalf("graph --format %s: exit %d: %s", format, code, errOut.String())
		}
		if out.String() != want {
			t.Errorf("graph --format %s printed %q", format, out.String())
		}
	}
	var errOut bytes.Buffer
	if code := cli.Run(context.Background(), Tree(), []string{"graph", "--format", "svg"}, &bytes.Buffer{}, &errOut); code != 2 {
		t.Errorf("graph --format svg: exit %d (%s); want usage (2)", code, errOut.String())
	}
}

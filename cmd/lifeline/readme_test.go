package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/states"
)

// TestReadmeDiagram keeps the README's diagram the one the table renders.
func TestReadmeDiagram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
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
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"graph", "--format", format})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("graph --format %s: %v", format, err)
		}
		if out.String() != want {
			t.Errorf("graph --format %s printed %q", format, out.String())
		}
	}
	cmd := newRootCommand()
	cmd.SetArgs([]string{"graph", "--format", "svg"})
	cmd.SetOut(&bytes.Buffer{})
	if err := cmd.Execute(); exitCode(err) != exitUsage {
		t.Errorf("graph --format svg: err %v, exit %d; want usage (2)", err, exitCode(err))
	}
}

package heavy

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/internal/cli"
	"github.com/lifeline-vm/lifeline/states"
)

type graphOptions struct {
	format string
}

func newGraphCommand() *cobra.Command {
	o := &graphOptions{}
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Print the lifecycle diagram, generated from the transition table",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "mermaid", "diagram format: mermaid or dot")
	return cmd
}

func (o *graphOptions) run(w io.Writer) error {
	switch o.format {
	case "mermaid":
		_, err := io.WriteString(w, states.Mermaid())
		return err
	case "dot":
		_, err := io.WriteString(w, states.Graphviz())
		return err
	}
	return cli.UsageError(fmt.Errorf("graph: unknown --format %q (want mermaid or dot)", o.format))
}

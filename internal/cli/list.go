package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/internal/cli/vmtext"
)

// printVMs is list's table: each VM's state with its age, what is pending
// (the next escalation step and when), its processes and the last reason.
// The processes' columns are named as status names them ("host agent:",
// "vm process:"): the VM process is Lima's QEMU, whose pid Lima calls the
// driver's, not the driver ("lima", "command") status shows.
func printVMs(w io.Writer, g *Globals, vms []api.VM, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tFOR\tPENDING\tHOST AGENT\tVM PROCESS\tREASON")
	for _, v := range vms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.State, age(v.Since, now), pending(v, now), pid(v.HostAgentPID), pid(v.VMProcessPID), v.Reason)
	}
	return tw.Flush()
}

// age is how long ago t was, to the second ("3m12s").
func age(t, now time.Time) string { return vmtext.Age(t, now) }

// pending is what comes at a VM's deadline, as a countdown: "SIGTERM in
// 22s", "SIGKILL in 3s", "give up in 9m50s"; "-" for none.
func pending(v api.VM, now time.Time) string {
	if v.Deadline.IsZero() {
		return "-"
	}
	left := max(v.Deadline.Sub(now).Round(time.Second), 0)
	switch v.State {
	case api.Stopping:
		return "SIGTERM in " + left.String()
	case api.ForceStopping:
		return "SIGKILL in " + left.String()
	case api.Starting:
		return "give up in " + left.String()
	case api.Broken:
		return "restart in " + left.String()
	}
	return "in " + left.String()
}

func pid(p int64) string { return vmtext.PID(p) }

func newListCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "ps"},
		Short:   "List VMs (-q: names only)",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			vms, err := g.client().List(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case g.json():
				if vms == nil {
					vms = []api.VM{}
				}
				return writeJSON(w, vms)
			case g.quiet:
				for _, v := range vms {
					fmt.Fprintln(w, v.Name)
				}
				return nil
			}
			return printVMs(w, g, vms, time.Now())
		},
	}
	cmd.Flags().BoolVarP(&g.quiet, "quiet", "q", false, "print the names only")
	return cmd
}

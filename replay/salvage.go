package replay

import (
	"bufio"
	"fmt"
	"io"

	"github.com/lifeline-vm/lifeline/store"
)

// Salvage copies every record of the damaged database src that verifies
// into a new database dst ([store.Salvage]: heads rebuilt from the
// records, seqs renumbered over the gaps) and prints to w what the new
// file holds, what was lost, and how to put it in place. src is only
// read; dst must not exist.
func Salvage(w io.Writer, src, dst string) (*store.SalvageReport, error) {
	rep, err := store.Salvage(src, dst)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "salvage %s -> %s: %s of %s, %s (the damaged file had records up to seq %d)\n",
		src, dst, plural(rep.Records, "record"), plural(rep.VMs, "VM"), plural(rep.Boots, "boot"), rep.LastSeq)
	if rep.Renumbered != 0 {
		fmt.Fprintf(bw, "renumbered: records from old seq %d on have new seqs, to close the gaps lost records left\n", rep.Renumbered)
	}
	if len(rep.Lost) == 0 {
		fmt.Fprintln(bw, "lost: nothing")
	} else {
		fmt.Fprintf(bw, "lost (%d):\n", len(rep.Lost))
		for _, l := range rep.Lost {
			fmt.Fprintf(bw, "  - %s\n", l)
		}
	}
	fmt.Fprintf(bw, "%s is untouched. To run the daemon on the copy, with the daemon stopped: mv %s %s.damaged && mv %s %s\n",
		src, src, src, dst, src)
	return rep, bw.Flush()
}

package replay

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/lifeline-vm/lifeline/store"
)

// Export writes every record, in global order, as one JSON object per line
// (JSON Lines), with the field names of store.Record's JSON tags: seq,
// vmSeq, vm, event, from, to, time, boot, hostAgent, driver, deadline,
// reason, specHash. Empty optional fields are left out. It streams.
func (d *DB) Export(w io.Writer, format string) error {
	if format != "" && format != "jsonl" {
		return fmt.Errorf("export: unknown format %q (want jsonl)", format)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	err := d.records(1, func(r store.Record) error { return enc.Encode(r) })
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

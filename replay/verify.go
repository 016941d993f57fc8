package replay

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/lifeline-vm/lifeline/store"
)

// VerifyResult sums up a [DB.Verify] run.
type VerifyResult struct {
	Records  uint64 // records read (corrupt ones included)
	VMs      int
	Boots    int
	Problems int
	Warnings int
	Elapsed  time.Duration
}

// RecordsPerSecond is the scan's throughput.
func (r VerifyResult) RecordsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Records) / r.Elapsed.Seconds()
}

// Verify checks the whole database with the store's verifier
// ([store.Store.Verify], which lists the rules) and prints every finding
// to w, one per line, as it is found, then a summary line. A finding
// prints as "severity: where: what".
//
// It returns a *ProblemsError when it found problems (warnings alone are
// not an error), and the result in any case.
func (d *DB) Verify(w io.Writer) (VerifyResult, error) {
	bw := bufio.NewWriter(w)
	start := time.Now()
	stats := d.st.Verify(store.VerifyOptions{Location: d.loc}, func(f store.Finding) {
		fmt.Fprintln(bw, f.String())
	})
	res := VerifyResult{Records: stats.Records, VMs: stats.VMs, Boots: stats.Boots, Problems: stats.Problems, Warnings: stats.Warnings,
		Elapsed: time.Since(start)}
	fmt.Fprintf(bw, "verify %s: %s, %s, %s, read in %s (%.0f records/s): %s, %s\n",
		d.path, plural(int(res.Records), "record"), plural(res.VMs, "VM"), plural(res.Boots, "boot"), dur(res.Elapsed),
		res.RecordsPerSecond(), plural(res.Problems, "problem"), plural(res.Warnings, "warning"))
	if err := bw.Flush(); err != nil {
		return res, err
	}
	if res.Problems > 0 {
		return res, &ProblemsError{Path: d.path, Problems: res.Problems, Warnings: res.Warnings}
	}
	return res, nil
}

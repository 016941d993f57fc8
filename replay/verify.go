package replay

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Severity says how bad a finding of [DB.Verify] is.
type Severity uint8

const (
	// Note is information: the last boot is still open.
	Note Severity = iota
	// Warning is something that happened, not damage: a daemon crash.
	Warning
	// Problem is damage or an impossible history: the file is not what
	// lifeline writes.
	Problem
)

func (s Severity) String() string {
	switch s {
	case Note:
		return "note"
	case Warning:
		return "warning"
	}
	return "problem"
}

// Finding is one thing [DB.Verify] found, with its position.
type Finding struct {
	Severity Severity
	Where    string // "record #12 (vm \"vm1\" vmseq 4)", "head of vm \"vm1\"", "boot 2"
	What     string
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Severity, f.Where, f.What) }

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

// Verify checks the whole database and prints every finding to w, one per
// line, as it is found, then a summary line:
//
//   - every record, head and boot decodes and matches its checksum (a
//     corrupt record is reported and the scan goes on after it);
//   - global sequences run from 1, strictly increasing, without gaps;
//   - each VM's sequences are contiguous from 1, without duplicates;
//   - each record's from is the VM's previous to (Absent first), and its to
//     is where the transition table leads ([states.Next]);
//   - each record's boot exists and boots do not go back, and its cause is
//     of a declared kind;
//   - each VM's head equals the fold of its records ([store.Head.Apply]),
//     and its spec matches the hash its records give;
//   - boots are numbered from 1 and every boot but the last was closed. A
//     boot never closed, followed by a later one, is a daemon crash: a
//     warning, not a problem.
//
// It returns a *ProblemsError when it found problems (warnings alone are
// not an error), and the result in any case.
func (d *DB) Verify(w io.Writer) (VerifyResult, error) {
	bw := bufio.NewWriter(w)
	v := &verifier{w: bw, vms: make(map[string]*store.Head), bootLast: make(map[uint64]uint64)}
	start := time.Now()
	v.run(d)
	v.res.Elapsed = time.Since(start)
	v.res.VMs = len(v.vms)
	fmt.Fprintf(bw, "verify %s: %s, %s, %s, read in %s (%.0f records/s): %s, %s\n",
		d.path, plural(int(v.res.Records), "record"), plural(v.res.VMs, "VM"), plural(v.res.Boots, "boot"), dur(v.res.Elapsed),
		v.res.RecordsPerSecond(), plural(v.res.Problems, "problem"), plural(v.res.Warnings, "warning"))
	if err := bw.Flush(); err != nil {
		return v.res, err
	}
	if v.res.Problems > 0 {
		return v.res, &ProblemsError{Path: d.path, Problems: v.res.Problems, Warnings: v.res.Warnings}
	}
	return v.res, nil
}

type verifier struct {
	w   *bufio.Writer
	res VerifyResult
	loc *time.Location

	boots    bootIndex
	bootsOK  bool
	vms      map[string]*store.Head // each VM's records, folded
	bootLast map[uint64]uint64      // each boot's last record
	lastSeq  uint64                 // the last seq read, corrupt or not
	lastBoot uint64                 // the boot of the last record
}

func (v *verifier) add(f Finding) {
	switch f.Severity {
	case Problem:
		v.res.Problems++
	case Warning:
		v.res.Warnings++
	}
	fmt.Fprintln(v.w, f)
}

func (v *verifier) problem(where, format string, args ...any) {
	v.add(Finding{Severity: Problem, Where: where, What: fmt.Sprintf(format, args...)})
}

func (v *verifier) run(d *DB) {
	v.loc = d.loc
	if dmg := d.st.Damage(); dmg != nil {
		// What only the open check sees: the bbolt file's own pages.
		for _, err := range dmg.Pages {
			v.problem("file", "%v", err)
		}
	}
	boots, err := d.boots()
	if err != nil {
		v.storeErr("boots", err)
	} else {
		v.boots, v.bootsOK = bootIndex(boots), true
		v.res.Boots = len(boots)
	}
	v.scan(d)
	v.checkHeads(d)
	if v.bootsOK {
		v.checkBoots()
	}
}

// scan reads every record, going on after a corrupt one.
func (v *verifier) scan(d *DB) {
	next := uint64(1)
	for {
		err := d.records(next, v.record)
		if err == nil {
			return
		}
		var ce *store.CorruptError
		if errors.As(err, &ce) && ce.Bucket == "records" && ce.Seq != 0 {
			v.res.Records++
			v.seq(ce.Seq, fmt.Sprintf("record #%d", ce.Seq))
			v.problem(fmt.Sprintf("record #%d", ce.Seq), "%s (the record is unreadable; its VM's sequence breaks here)", ce.Reason)
			if ce.Seq < next || ce.Seq == ^uint64(0) {
				v.problem(fmt.Sprintf("record #%d", ce.Seq), "read again after #%d: the records bucket's key order is damaged; the scan stops", next-1)
				return
			}
			next = ce.Seq + 1
			continue
		}
		v.storeErr("records", err)
		v.problem("records", "the scan stopped after record #%d: later records are not checked", v.lastSeq)
		return
	}
}

// storeErr reports an error of the store as a problem, at its position
// when it is a *store.CorruptError.
func (v *verifier) storeErr(where string, err error) {
	var ce *store.CorruptError
	if errors.As(err, &ce) {
		switch {
		case ce.Bucket == "records" && ce.Seq != 0:
			where = fmt.Sprintf("record #%d", ce.Seq)
		case ce.Bucket == "boots" && ce.Seq != 0:
			where = fmt.Sprintf("boot %d", ce.Seq)
		case ce.Bucket == "heads" && ce.VM != "":
			where = fmt.Sprintf("head of vm %q", ce.VM)
		case ce.Key != nil:
			where = fmt.Sprintf("%s key %s", ce.Bucket, shortKey(ce.Key))
		default:
			where = ce.Bucket
		}
		v.problem(where, "%s (corrupt)", ce.Reason)
		return
	}
	v.problem(where, "%v", err)
}

// seq checks the global sequence.
func (v *verifier) seq(seq uint64, at string) {
	switch {
	case seq <= v.lastSeq:
		v.problem(at, "global sequence goes back: it follows #%d", v.lastSeq)
	case seq == v.lastSeq+1:
	case seq == v.lastSeq+2:
		v.problem(fmt.Sprintf("record #%d", v.lastSeq+1), "missing (#%d follows #%d)", seq, v.lastSeq)
	default:
		v.problem(fmt.Sprintf("records #%d to #%d", v.lastSeq+1, seq-1), "missing (#%d follows #%d)", seq, v.lastSeq)
	}
	v.lastSeq = max(v.lastSeq, seq)
}

func (v *verifier) record(r store.Record) error {
	v.res.Records++
	at := ""
	where := func() string {
		if at == "" {
			at = fmt.Sprintf("record #%d (vm %q vmseq %d)", r.Seq, r.VM, r.VMSeq)
		}
		return at
	}
	if r.Seq != v.lastSeq+1 {
		v.seq(r.Seq, where()) // d.records ends the scan if it went back
	} else {
		v.lastSeq = r.Seq
	}
	h := v.vms[r.VM]
	if h == nil {
		h = &store.Head{}
		v.vms[r.VM] = h
	}
	contiguous := r.VMSeq == h.VMSeq+1
	switch {
	case contiguous:
	case r.VMSeq <= h.VMSeq:
		v.problem(where(), "duplicated sequence: vmseq %d again, after the VM's record #%d (vmseq %d)", r.VMSeq, h.Seq, h.VMSeq)
	case r.VMSeq == h.VMSeq+2:
		v.problem(where(), "the VM's record vmseq %d is missing (vmseq %d follows %d)", h.VMSeq+1, r.VMSeq, h.VMSeq)
	default:
		v.problem(where(), "the VM's records vmseq %d to %d are missing (vmseq %d follows %d)", h.VMSeq+1, r.VMSeq-1, r.VMSeq, h.VMSeq)
	}
	if contiguous && r.From != h.State {
		if h.Seq == 0 {
			v.problem(where(), "the VM's first record starts from %s, not Absent", r.From)
		} else {
			v.problem(where(), "from %s, but the VM's previous record #%d left it %s", r.From, h.Seq, h.State)
		}
	}
	if to, err := states.Next(r.From, r.Event); err != nil {
		v.problem(where(), "%s from %s: the transition table forbids it", r.Event, r.From)
	} else if to != r.To {
		v.problem(where(), "%s from %s leads to %s, not %s", r.Event, r.From, to, r.To)
	}
	if !r.Cause.Kind.Valid() {
		v.problem(where(), "undeclared cause kind %d (written by a newer build?)", uint8(r.Cause.Kind))
	}
	if v.bootsOK {
		if r.Boot == 0 || r.Boot > v.boots.last() {
			v.problem(where(), "written by boot %d, which does not exist (the last boot is %d)", r.Boot, v.boots.last())
		} else if r.Boot < v.lastBoot {
			v.problem(where(), "written by boot %d after a record of boot %d", r.Boot, v.lastBoot)
		}
	}
	v.lastBoot = max(v.lastBoot, r.Boot)
	v.bootLast[r.Boot] = r.Seq
	*h = h.Apply(r)
	return nil
}

func (v *verifier) checkHeads(d *DB) {
	names := slices.Sorted(maps.Keys(v.vms))
	heads, err := d.heads()
	if err != nil {
		// A head is unreadable: report it, then read the others one by one.
		v.storeErr("heads", err)
		var first string
		var ce *store.CorruptError
		if errors.As(err, &ce) {
			first = ce.VM
		}
		for _, name := range names {
			if name == first {
				continue
			}
			var h store.Head
			var ok bool
			err := guard(func() (err error) {
				h, ok, err = d.st.Head(name)
				return err
			})
			switch {
			case err != nil:
				v.storeErr(fmt.Sprintf("head of vm %q", name), err)
			case !ok:
				v.problem(fmt.Sprintf("vm %q", name), "has records but no head")
			default:
				v.compareHead(d, h)
			}
		}
		return
	}
	seen := make(map[string]bool, len(heads))
	for _, h := range heads {
		seen[h.VM] = true
		v.compareHead(d, h)
	}
	for _, name := range names {
		if !seen[name] {
			v.problem(fmt.Sprintf("vm %q", name), "has records but no head")
		}
	}
}

// compareHead checks one head against the fold of its records, and the
// VM's spec against the head's hash.
func (v *verifier) compareHead(d *DB, h store.Head) {
	where := fmt.Sprintf("head of vm %q", h.VM)
	fold, ok := v.vms[h.VM]
	if !ok {
		v.problem(where, "%s at #%d, but the VM has no records", h.State, h.Seq)
		return
	}
	if diff := headDiff(h, *fold); diff != "" {
		v.problem(where, "disagrees with its log: the head says %s (record #%d), the records fold to %s (record #%d); differing: %s",
			h.State, h.Seq, fold.State, fold.Seq, diff)
	}
	if h.SpecHash.IsZero() {
		return
	}
	var spec []byte
	err := guard(func() (err error) {
		spec, err = d.st.Spec(h.VM)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		v.problem(fmt.Sprintf("spec of vm %q", h.VM), "missing, although its records set one")
	case err != nil:
		v.problem(fmt.Sprintf("spec of vm %q", h.VM), "%v", err)
	case store.SpecHash(sha256.Sum256(spec)) != h.SpecHash:
		v.problem(fmt.Sprintf("spec of vm %q", h.VM), "does not match the hash its records give")
	}
}

// headDiff names the fields in which two heads differ, "" if none.
func headDiff(a, b store.Head) string {
	var diff []string
	add := func(differs bool, name string) {
		if differs {
			diff = append(diff, name)
		}
	}
	add(a.State != b.State, "state")
	add(a.Seq != b.Seq, "seq")
	add(a.VMSeq != b.VMSeq, "vmSeq")
	add(!a.Since.Equal(b.Since), "since")
	add(a.Event != b.Event, "event")
	add(a.Cause != b.Cause, "cause")
	add(a.Reason != b.Reason, "reason")
	add(a.Agent != b.Agent, "hostAgent")
	add(a.VMProcess != b.VMProcess, "driver")
	add(!a.Deadline.Equal(b.Deadline), "deadline")
	add(a.SpecHash != b.SpecHash, "specHash")
	return strings.Join(diff, ", ")
}

func (v *verifier) checkBoots() {
	var prev uint64
	for i, b := range v.boots {
		where := fmt.Sprintf("boot %d", b.Number)
		if b.Number != prev+1 {
			v.problem(where, "follows boot %d: boot numbers must run from 1 without gaps", prev)
		}
		prev = b.Number
		if !b.Closed.IsZero() && b.Closed.Before(b.Started) {
			v.problem(where, "closed at %s, before it started at %s", when(b.Closed, v.loc), when(b.Started, v.loc))
		}
		if !b.Closed.IsZero() {
			continue
		}
		after := "before writing any record"
		if last := v.bootLast[b.Number]; last != 0 {
			after = fmt.Sprintf("after record #%d", last)
		}
		if i < len(v.boots)-1 {
			next := v.boots[i+1]
			v.add(Finding{Severity: Warning, Where: where, What: fmt.Sprintf(
				"never closed: the daemon (pid %d, started %s) crashed %s; boot %d started %s",
				b.PID, when(b.Started, v.loc), after, next.Number, when(next.Started, v.loc))})
			continue
		}
		v.add(Finding{Severity: Note, Where: where, What: fmt.Sprintf(
			"still open: the daemon (pid %d, started %s) is running, or crashed %s", b.PID, when(b.Started, v.loc), after)})
	}
}

// shortKey prints a raw key in hex, cut short: a damaged page can claim a
// key of megabytes.
func shortKey(k []byte) string {
	const most = 16
	if len(k) <= most {
		return fmt.Sprintf("%x", k)
	}
	return fmt.Sprintf("%x… (%d bytes)", k[:most], len(k))
}

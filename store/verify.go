package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// Severity says how bad a [Finding] is.
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

// FindingCode says which rule a [Finding] is about, for callers that
// branch on it (never on the text).
type FindingCode uint8

const (
	// FindingPages: the bbolt file's own pages are damaged (what the open
	// check found on a file opened with AllowDamage).
	FindingPages FindingCode = iota + 1
	// FindingCorrupt: a value or a key does not decode or does not match
	// its checksum; a bucket or the schema is missing. Err is the
	// *CorruptError.
	FindingCorrupt
	// FindingScanStopped: the records could not be read to the end.
	FindingScanStopped
	// FindingSeqGap: global sequences are missing.
	FindingSeqGap
	// FindingSeqBack: the global sequence goes back (the records bucket's
	// key order is damaged).
	FindingSeqBack
	// FindingVMSeq: a VM's sequence is duplicated or has a gap.
	FindingVMSeq
	// FindingFrom: a record's from is not where the VM's previous record
	// left it (Absent for its first).
	FindingFrom
	// FindingLink: a record's link is not the VM's previous record.
	FindingLink
	// FindingTransition: the transition table forbids the record's event
	// from its from, or leads elsewhere than its to ([states.Next]).
	FindingTransition
	// FindingCause: the record's cause is of an undeclared kind.
	FindingCause
	// FindingRecordBoot: the record's boot does not exist, or comes
	// before the boot of an earlier record.
	FindingRecordBoot
	// FindingHead: a VM's head is missing, has no records, or differs
	// from the fold of its records ([Head.Apply]).
	FindingHead
	// FindingSpec: a VM's spec is missing, does not match the hash its
	// records give, or has no records.
	FindingSpec
	// FindingBootOrder: boots are not numbered from 1 without gaps, or
	// one closed before it started.
	FindingBootOrder
	// FindingBootCrashed (a warning): a boot never closed and a later one
	// followed: the daemon crashed.
	FindingBootCrashed
	// FindingBootOpen (a note): the last boot is still open.
	FindingBootOpen
)

var findingNames = [...]string{
	FindingPages: "pages", FindingCorrupt: "corrupt", FindingScanStopped: "scan-stopped",
	FindingSeqGap: "seq-gap", FindingSeqBack: "seq-back", FindingVMSeq: "vmseq",
	FindingFrom: "from", FindingLink: "link", FindingTransition: "transition", FindingCause: "cause",
	FindingRecordBoot: "record-boot", FindingHead: "head", FindingSpec: "spec",
	FindingBootOrder: "boot-order", FindingBootCrashed: "boot-crashed", FindingBootOpen: "boot-open",
}

func (c FindingCode) String() string {
	if int(c) < len(findingNames) && findingNames[c] != "" {
		return findingNames[c]
	}
	return fmt.Sprintf("FindingCode(%d)", uint8(c))
}

// Finding is one thing [Store.Verify] found: which rule (Code), how bad,
// where (the VM, record, boot it is about, and Where, the position in
// words) and what (Detail). Err, when set, is the store's error under it
// (a *CorruptError).
type Finding struct {
	Severity Severity
	Code     FindingCode
	VM       string // "" when the finding is not about one VM
	Seq      uint64 // the record (the first of a range), 0 if none
	VMSeq    uint64
	Boot     uint64 // the boot, 0 if none
	// Where is the position: "record #12 (vm \"vm1\" vmseq 4)", "head of
	// vm \"vm1\"", "boot 2", "file".
	Where  string
	Detail string
	Err    error
}

// String is the finding as `lifeline replay verify` prints it:
// "problem: record #12 (vm "vm1" vmseq 4): from Stopped, but ...".
func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Severity, f.Where, f.Detail) }

// Error is the finding without its severity: "where: detail".
func (f Finding) Error() string { return f.Where + ": " + f.Detail }

// Unwrap returns Err.
func (f Finding) Unwrap() error { return f.Err }

// VerifyOptions tune [Store.Verify].
type VerifyOptions struct {
	// Location is the zone times print in. Default time.Local.
	Location *time.Location
}

// VerifyStats sums up a [Store.Verify] run.
type VerifyStats struct {
	Records  uint64 // records read (corrupt ones included)
	VMs      int
	Boots    int // boots that decode
	Problems int
	Warnings int
}

// Verify checks the whole database and calls fn with every finding, in
// the order found; it is the one verifier ([Store.Check] and
// `lifeline replay verify` present what it finds). The rules:
//
//   - the bbolt file's pages are sound (what the open check found on a
//     file opened with AllowDamage), the schema and every bucket exist;
//   - every record, head and boot decodes and matches its checksum (a
//     corrupt record is reported and the scan goes on after it);
//   - global sequences run from 1, strictly increasing, without gaps;
//   - each VM's sequences are contiguous from 1, without duplicates;
//   - each record's from is the VM's previous to (Absent first), its link
//     is the VM's previous record, and its to is where the transition
//     table leads ([states.Next]);
//   - each record's boot exists and boots do not go back, and its cause is
//     of a declared kind;
//   - each VM's head equals the fold of its records ([Head.Apply]), its
//     spec matches the hash its head gives, and every spec has records;
//   - boots are numbered from 1 and every boot but the last was closed. A
//     boot never closed, followed by a later one, is a daemon crash: a
//     warning, not a problem. The last one still open is a note.
//
// It reads in chunks of short read transactions, streaming: memory grows
// with the number of VMs, not of records. A panic or memory fault of bbolt
// reading a damaged file is a finding, never a crash.
func (s *Store) Verify(o VerifyOptions, fn func(Finding)) VerifyStats {
	return s.verify(o, nil, fn)
}

// verify is Verify, not reporting the missing specs of specLost's VMs
// (a salvage reported them).
func (s *Store) verify(o VerifyOptions, specLost map[string]bool, fn func(Finding)) VerifyStats {
	if o.Location == nil {
		o.Location = time.Local
	}
	v := &verifier{s: s, fn: fn, loc: o.Location, specLost: specLost, vms: make(map[string]*Head), bootLast: make(map[uint64]uint64)}
	v.run()
	v.res.VMs = len(v.vms)
	return v.res
}

type verifier struct {
	s        *Store
	fn       func(Finding)
	loc      *time.Location
	specLost map[string]bool
	res      VerifyStats

	missing  map[string]bool // top buckets that are not there
	boots    []Boot
	bootsOK  bool
	vms      map[string]*Head  // each VM's records, folded
	bootLast map[uint64]uint64 // each boot's last record
	lastSeq  uint64            // the last seq read, corrupt or not
	lastBoot uint64            // the boot of the last record
}

func (v *verifier) add(f Finding) {
	switch f.Severity {
	case Problem:
		v.res.Problems++
	case Warning:
		v.res.Warnings++
	}
	v.fn(f)
}

func (v *verifier) problem(code FindingCode, where string, format string, args ...any) {
	v.add(Finding{Severity: Problem, Code: code, Where: where, Detail: fmt.Sprintf(format, args...)})
}

// recordProblem is a problem with record r.
func (v *verifier) recordProblem(code FindingCode, r *Record, format string, args ...any) {
	v.add(Finding{Severity: Problem, Code: code, VM: r.VM, Seq: r.Seq, VMSeq: r.VMSeq, Boot: r.Boot,
		Where: fmt.Sprintf("record #%d (vm %q vmseq %d)", r.Seq, r.VM, r.VMSeq), Detail: fmt.Sprintf(format, args...)})
}

// view runs fn in a read transaction, guarded: a panic or fault of bbolt
// is an error wrapping ErrCorrupt.
func (v *verifier) view(fn func(tx *bolt.Tx) error) error {
	return guard(v.s.path, func() error { return v.s.view(fn) })
}

func (v *verifier) run() {
	if dmg := v.s.Damage(); dmg != nil {
		// What only the open check sees: the bbolt file's own pages.
		for _, err := range dmg.Pages {
			v.add(Finding{Severity: Problem, Code: FindingPages, Where: "file", Detail: err.Error(), Err: err})
		}
	}
	v.missing = make(map[string]bool)
	err := v.view(func(tx *bolt.Tx) error {
		if _, _, err := readSchema(tx); err != nil {
			v.storeErr("meta", err)
		}
		for _, name := range topBuckets {
			if _, err := getBucket(tx, name); err != nil {
				v.missing[string(name)] = true
				v.storeErr(string(name), err)
			}
		}
		return nil
	})
	if err != nil {
		v.storeErr("file", err)
		return
	}
	v.readBoots()
	v.scan()
	v.checkHeads()
	if v.bootsOK {
		v.checkBoots()
	}
}

// storeErr reports an error of the store as a problem, at its position
// when it is a *CorruptError.
func (v *verifier) storeErr(where string, err error) {
	f := Finding{Severity: Problem, Code: FindingCorrupt, Where: where, Detail: err.Error(), Err: err}
	var ce *CorruptError
	if errors.As(err, &ce) {
		switch {
		case ce.Bucket == "records" && ce.Seq != 0:
			f.Where, f.Seq, f.VM = fmt.Sprintf("record #%d", ce.Seq), ce.Seq, ce.VM
		case ce.Bucket == "boots" && ce.Seq != 0:
			f.Where, f.Boot = fmt.Sprintf("boot %d", ce.Seq), ce.Seq
		case ce.Bucket == "heads" && ce.VM != "":
			f.Where, f.VM = fmt.Sprintf("head of vm %q", ce.VM), ce.VM
		case ce.Key != nil:
			f.Where = fmt.Sprintf("%s key %s", ce.Bucket, shortKey(ce.Key))
		default:
			f.Where = ce.Bucket
		}
		f.Detail = ce.Reason + " (corrupt)"
	}
	v.add(f)
}

// readBoots reads every boot; a corrupt one is reported, and the record
// and boot rules that need the boots are then left out.
func (v *verifier) readBoots() {
	if v.missing[string(bucketKeyBoots)] {
		return
	}
	v.bootsOK = true
	err := v.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeyBoots).ForEach(func(k, val []byte) error {
			n, ok := parseSeqKey(k)
			if !ok {
				v.bootsOK = false
				v.storeErr("boots", &CorruptError{Bucket: "boots", Key: keyPrefix(k), Reason: "key is not a boot number"})
				return nil
			}
			b, err := decodeBoot(val, n)
			if err != nil {
				v.bootsOK = false
				v.storeErr("boots", err)
				return nil
			}
			v.boots = append(v.boots, b)
			return nil
		})
	})
	if err != nil {
		v.bootsOK = false
		v.storeErr("boots", err)
	}
	v.res.Boots = len(v.boots)
}

// lastBootNumber is the number of the last boot, 0 if none.
func (v *verifier) lastBootNumber() uint64 {
	if len(v.boots) == 0 {
		return 0
	}
	return v.boots[len(v.boots)-1].Number
}

// scan reads every record, scanChunk at a time, going on after a corrupt
// one.
func (v *verifier) scan() {
	if v.missing[string(bucketKeyRecords)] {
		return
	}
	d := decoder{names: make(map[string]string)}
	var resume []byte // the last key read
	var lastKeySeq uint64
	for {
		done := false
		err := v.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketKeyRecords).Cursor()
			k, val := c.First()
			if resume != nil {
				if k, val = c.Seek(resume); k != nil && bytes.Equal(k, resume) {
					k, val = c.Next()
				}
			}
			for n := 0; ; k, val = c.Next() {
				if k == nil {
					done = true
					return nil
				}
				if n == scanChunk {
					return nil
				}
				n++
				resume = bytes.Clone(k)
				if seq, ok := parseSeqKey(k); ok {
					if seq <= lastKeySeq {
						v.problem(FindingSeqBack, fmt.Sprintf("record #%d", seq),
							"read again after #%d: the records bucket's key order is damaged; the scan stops", lastKeySeq)
						done = true
						return nil
					}
					lastKeySeq = seq
				}
				var r Record
				if err := decodeAt(&d, k, val, &r); err != nil {
					v.corruptRecord(err)
					continue
				}
				v.record(&r, d.prev)
			}
		})
		if err != nil {
			v.storeErr("records", err)
			v.problem(FindingScanStopped, "records", "the scan stopped after record #%d: later records are not checked", v.lastSeq)
			return
		}
		if done {
			return
		}
	}
}

// corruptRecord reports a record that does not decode.
func (v *verifier) corruptRecord(err error) {
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Seq == 0 {
		v.storeErr("records", err) // a key that is not a sequence number
		return
	}
	v.res.Records++
	where := fmt.Sprintf("record #%d", ce.Seq)
	v.seq(ce.Seq)
	v.add(Finding{Severity: Problem, Code: FindingCorrupt, Seq: ce.Seq, VM: ce.VM, Where: where, Err: err,
		Detail: ce.Reason + " (the record is unreadable; its VM's sequence breaks here)"})
}

// seq checks the global sequence.
func (v *verifier) seq(seq uint64) {
	switch {
	case seq <= v.lastSeq: // the key order check stops the scan first
	case seq == v.lastSeq+1:
	case seq == v.lastSeq+2:
		v.add(Finding{Severity: Problem, Code: FindingSeqGap, Seq: v.lastSeq + 1, Where: fmt.Sprintf("record #%d", v.lastSeq+1),
			Detail: fmt.Sprintf("missing (#%d follows #%d)", seq, v.lastSeq)})
	default:
		v.add(Finding{Severity: Problem, Code: FindingSeqGap, Seq: v.lastSeq + 1, Where: fmt.Sprintf("records #%d to #%d", v.lastSeq+1, seq-1),
			Detail: fmt.Sprintf("missing (#%d follows #%d)", seq, v.lastSeq)})
	}
	v.lastSeq = max(v.lastSeq, seq)
}

// record checks one record that decoded, linked to the VM's record prev.
func (v *verifier) record(r *Record, prev uint64) {
	v.res.Records++
	v.seq(r.Seq)
	h := v.vms[r.VM]
	if h == nil {
		h = &Head{}
		v.vms[r.VM] = h
	}
	contiguous := r.VMSeq == h.VMSeq+1
	switch {
	case contiguous:
	case r.VMSeq <= h.VMSeq:
		v.recordProblem(FindingVMSeq, r, "duplicated sequence: vmseq %d again, after the VM's record #%d (vmseq %d)", r.VMSeq, h.Seq, h.VMSeq)
	case r.VMSeq == h.VMSeq+2:
		v.recordProblem(FindingVMSeq, r, "the VM's record vmseq %d is missing (vmseq %d follows %d)", h.VMSeq+1, r.VMSeq, h.VMSeq)
	default:
		v.recordProblem(FindingVMSeq, r, "the VM's records vmseq %d to %d are missing (vmseq %d follows %d)", h.VMSeq+1, r.VMSeq-1, r.VMSeq, h.VMSeq)
	}
	if contiguous {
		// A gap or a duplicate breaks the chain already: these follow it.
		if r.From != h.State {
			if h.Seq == 0 {
				v.recordProblem(FindingFrom, r, "the VM's first record starts from %s, not Absent", r.From)
			} else {
				v.recordProblem(FindingFrom, r, "from %s, but the VM's previous record #%d left it %s", r.From, h.Seq, h.State)
			}
		}
		if prev != h.Seq {
			v.recordProblem(FindingLink, r, "links to record #%d, but the VM's previous record is #%d", prev, h.Seq)
		}
	}
	if why := transitionProblem(r); why != "" {
		v.recordProblem(FindingTransition, r, "%s", why)
	}
	if !r.Cause.Kind.Valid() {
		v.recordProblem(FindingCause, r, "undeclared cause kind %d (written by a newer build?)", uint8(r.Cause.Kind))
	}
	if v.bootsOK {
		if last := v.lastBootNumber(); r.Boot == 0 || r.Boot > last {
			v.recordProblem(FindingRecordBoot, r, "written by boot %d, which does not exist (the last boot is %d)", r.Boot, last)
		} else if r.Boot < v.lastBoot {
			v.recordProblem(FindingRecordBoot, r, "written by boot %d after a record of boot %d", r.Boot, v.lastBoot)
		}
	}
	v.lastBoot = max(v.lastBoot, r.Boot)
	v.bootLast[r.Boot] = r.Seq
	*h = h.Apply(*r)
}

// transitionProblem says what is wrong with r's transition, "" if
// nothing: the rule of [states.Next], which the open check applies too.
func transitionProblem(r *Record) string {
	to, err := states.Next(r.From, r.Event)
	switch {
	case err != nil:
		return fmt.Sprintf("%s from %s: the transition table forbids it", r.Event, r.From)
	case to != r.To:
		return fmt.Sprintf("%s from %s leads to %s, not %s", r.Event, r.From, to, r.To)
	}
	return ""
}

// specMatches tells whether spec has the hash its VM's head gives: the
// rule of Verify and of the open check.
func specMatches(spec []byte, h SpecHash) bool { return SpecHash(sha256.Sum256(spec)) == h }

// checkHeads checks every head against the fold of its VM's records, and
// its spec against the head's hash; then the VMs with records but no head,
// and the specs of no VM.
func (v *verifier) checkHeads() {
	if v.missing[string(bucketKeyHeads)] || v.missing[string(bucketKeySpecs)] {
		return
	}
	seen := make(map[string]bool)
	err := v.view(func(tx *bolt.Tx) error {
		specs := tx.Bucket(bucketKeySpecs)
		_ = tx.Bucket(bucketKeyHeads).ForEach(func(k, val []byte) error {
			name := string(k)
			seen[name] = true
			h, err := decodeHead(val, name)
			if err != nil {
				v.storeErr("heads", err)
				return nil
			}
			v.compareHead(h, specs.Get(k))
			return nil
		})
		for _, name := range slices.Sorted(maps.Keys(v.vms)) {
			if !seen[name] {
				v.add(Finding{Severity: Problem, Code: FindingHead, VM: name, Where: fmt.Sprintf("vm %q", name), Detail: "has records but no head"})
			}
		}
		_ = specs.ForEach(func(k, _ []byte) error {
			if _, ok := v.vms[string(k)]; !ok {
				v.add(Finding{Severity: Problem, Code: FindingSpec, VM: string(k), Where: fmt.Sprintf("spec of vm %q", k), Detail: "has a spec but no records"})
			}
			return nil
		})
		return nil
	})
	if err != nil {
		v.storeErr("heads", err)
	}
}

// compareHead checks one head against the fold of its records, and the
// VM's spec against the head's hash.
func (v *verifier) compareHead(h Head, spec []byte) {
	head := func(format string, args ...any) {
		v.add(Finding{Severity: Problem, Code: FindingHead, VM: h.VM, Seq: h.Seq, VMSeq: h.VMSeq,
			Where: fmt.Sprintf("head of vm %q", h.VM), Detail: fmt.Sprintf(format, args...)})
	}
	fold, ok := v.vms[h.VM]
	if !ok {
		head("%s at #%d, but the VM has no records", h.State, h.Seq)
		return
	}
	if diff := headDiff(h, *fold); diff != "" {
		head("disagrees with its log: the head says %s (record #%d), the records fold to %s (record #%d); differing: %s",
			h.State, h.Seq, fold.State, fold.Seq, diff)
	}
	if h.SpecHash.IsZero() {
		return
	}
	specProblem := func(detail string) {
		v.add(Finding{Severity: Problem, Code: FindingSpec, VM: h.VM, Seq: h.Seq, Where: fmt.Sprintf("spec of vm %q", h.VM), Detail: detail})
	}
	switch {
	case spec == nil && v.specLost[h.VM]: // the salvage reported it
	case spec == nil:
		specProblem("missing, although its records set one")
	case !specMatches(spec, h.SpecHash):
		specProblem("does not match the hash its records give")
	}
}

// headDiff names the fields in which two heads differ, "" if none.
func headDiff(a, b Head) string {
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

// checkBoots checks the boots' numbers and times, and tells a boot never
// closed: a crash when a later boot followed, else still open.
func (v *verifier) checkBoots() {
	var prev uint64
	for i, b := range v.boots {
		where := fmt.Sprintf("boot %d", b.Number)
		if b.Number != prev+1 {
			v.add(Finding{Severity: Problem, Code: FindingBootOrder, Boot: b.Number, Where: where,
				Detail: fmt.Sprintf("follows boot %d: boot numbers must run from 1 without gaps", prev)})
		}
		prev = b.Number
		if !b.Closed.IsZero() && b.Closed.Before(b.Started) {
			v.add(Finding{Severity: Problem, Code: FindingBootOrder, Boot: b.Number, Where: where,
				Detail: fmt.Sprintf("closed at %s, before it started at %s", v.when(b.Closed), v.when(b.Started))})
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
			v.add(Finding{Severity: Warning, Code: FindingBootCrashed, Boot: b.Number, Where: where, Detail: fmt.Sprintf(
				"never closed: the daemon (pid %d, started %s) crashed %s; boot %d started %s",
				b.PID, v.when(b.Started), after, next.Number, v.when(next.Started))})
			continue
		}
		v.add(Finding{Severity: Note, Code: FindingBootOpen, Boot: b.Number, Where: where, Detail: fmt.Sprintf(
			"still open: the daemon (pid %d, started %s) is running, or crashed %s", b.PID, v.when(b.Started), after)})
	}
}

// when prints t with its date and zone, as replay does.
func (v *verifier) when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(v.loc).Format("2006-01-02 15:04:05.000 MST")
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

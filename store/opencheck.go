package store

import (
	"encoding/binary"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// What Open and OpenReadOnly check before they use a file (opening is
// refused with a *DamagedError when any of it fails):
//
//   - both bbolt meta pages are valid and the file holds every page the
//     newer one counts (a cut-short file is caught here);
//   - bbolt's page structure, walked from the newer meta page with
//     ReadAt (never the memory map): every page in bounds, of its type,
//     referenced once, keys in order, the freelist sound, every page in
//     use or free;
//   - the checksum of every record, head and boot met on the way (the
//     walk reads every page anyway: checksumming them costs little);
//   - every head decodes, names the last record of its VM and agrees with
//     it; a live VM's last liveTail records chain back soundly; the newest
//     record is its VM's head; the spec of every VM not deleted matches
//     its hash (a missing one, which only a salvage leaves, is the
//     engine's to report for that VM); the newest boot decodes.
//
// It is linear in the file's size; store/bench_test.go measures it.
// Its rules are Verify's (verify.go), applied to what a start reads
// (specMatches is shared), but for the transition table's: a record this
// build's table does not allow is a finding of Verify (`replay verify`),
// never a refusal to start, so that a file an older build wrote, under an
// older table, always opens. Folding every VM's whole
// history (what Verify, and through it Check and `replay verify`, do) is
// left out: it is a full replay, too slow for every start.

// liveTail is how many of a live VM's last records the open check follows
// back along its chain.
const liveTail = 8

// maxOpenProblems bounds the problems a DamagedError lists.
const maxOpenProblems = 20

// problems collects what an open check finds.
type problems struct {
	list       []error
	more       int
	unreadable bool // a problem of the page structure
	pages      []error
}

// addPage adds a problem of the bbolt file itself.
func (p *problems) addPage(err error) {
	if len(p.pages) < maxOpenProblems {
		p.pages = append(p.pages, err)
	}
	p.add(err)
}

func (p *problems) add(err error) {
	if len(p.list) < maxOpenProblems {
		p.list = append(p.list, err)
	} else {
		p.more++
	}
}

func (p *problems) err(path string) error {
	if len(p.list) == 0 {
		return nil
	}
	return &DamagedError{Path: path, Problems: p.list, More: p.more, Unreadable: p.unreadable, Pages: p.pages}
}

// checkFile checks the bbolt structure of f, a non-empty file, and the
// checksums of the values in lifeline's buckets. It returns nil, an error
// wrapping ErrNotDatabase (no valid meta page at all), or a *DamagedError.
func checkFile(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	pf, m0, m1, err0, err1 := readMetas(f, fi.Size(), os.Getpagesize())
	if err0 != nil && err1 != nil {
		return fmt.Errorf("open %s: %w: no valid bbolt meta page (page 0: %v; page 1: %v): "+
			"not a bbolt file, or one whose both meta pages are damaged", path, ErrNotDatabase, err0, err1)
	}
	var p problems
	m := m0
	if err0 != nil {
		p.addPage(fmt.Errorf("bbolt meta page 0 is damaged (%v)", err0))
		m = m1
	}
	if err1 != nil {
		p.addPage(fmt.Errorf("bbolt meta page 1 is damaged (%v)", err1))
	} else if err0 == nil && m1.txid > m0.txid {
		m = m1
	}
	checkPages(pf, m, &p)
	return p.err(path)
}

// checkPages walks the tree of meta m and checks lifeline's values in it.
func checkPages(pf *pageFile, m boltMeta, p *problems) {
	structural := func(err error) { p.unreadable = true; p.addPage(err) }
	// Compared in pages, not bytes: a crafted meta page's hwm times the
	// page size can wrap past int64 (and the walk allocates a bitmap of
	// hwm bits).
	if m.hwm < 2 || m.hwm > pf.pages() {
		structural(fmt.Errorf("the file is %d bytes, but its bbolt meta page (txid %d) counts %d pages of %d bytes: it was cut short",
			pf.size, m.txid, m.hwm, pf.pageSize))
		return
	}
	if m.freelist != noFreelist && m.freelist >= m.hwm {
		structural(fmt.Errorf("the bbolt meta page (txid %d) puts the freelist at page %d, past the last page %d", m.txid, m.freelist, m.hwm-1))
		return
	}
	w := newWalker(pf, m.hwm)
	w.problem = structural
	var lastSeq uint64
	w.value = func(bucket string, k, v []byte) {
		var reason string
		var seq uint64
		switch bucket {
		case string(bucketKeyRecords):
			var ok bool
			if seq, ok = parseSeqKey(k); !ok {
				reason = fmt.Sprintf("key of %d bytes is not a sequence number", len(k))
			} else if reason = checksumReason(v, recordVersion); reason == "" {
				if n, _ := binary.Uvarint(v[1:]); n != seq {
					reason = fmt.Sprintf("value says seq %d", n)
				}
			}
			lastSeq = max(lastSeq, seq)
		case string(bucketKeyHeads):
			reason = checksumReason(v, headVersion)
		case string(bucketKeyBoots):
			if seq, _ = parseSeqKey(k); len(k) != 8 {
				reason = fmt.Sprintf("key of %d bytes is not a boot number", len(k))
			} else {
				reason = checksumReason(v, bootVersion)
			}
		default:
			return
		}
		if reason != "" {
			p.add(&CorruptError{Bucket: bucket, Key: keyPrefix(k), Seq: seq, VM: headName(bucket, k), Reason: reason})
		}
	}
	w.walkPage("(root)", "", m.root, nil, nil, 0)
	w.walkFreelist(m)
	if p.unreadable || m.freelist == noFreelist {
		return // pages a damaged tree hides would all be reported here
	}
	for id := uint64(2); id < m.hwm; id++ {
		if !w.marked(id) {
			p.addPage(fmt.Errorf("bbolt page %d is neither in use nor free", id))
		}
	}
}

func headName(bucket string, k []byte) string {
	if bucket == string(bucketKeyHeads) {
		return string(keyPrefix(k))
	}
	return ""
}

// checksumReason checks an encoded value's version byte (up to latest,
// its kind's newest) and checksum.
func checksumReason(v []byte, latest byte) string {
	var d decoder
	d.open(v, latest)
	return d.err
}

// checkHeads checks, in tx, what the daemon reads at start: every head,
// the last records of each VM (liveTail of a live one), specs, the newest
// record and boot. Run on a file whose pages checkFile passed.
func checkHeads(tx *bolt.Tx, p *problems) {
	var bs []*bolt.Bucket
	for _, name := range topBuckets {
		b, err := getBucket(tx, name)
		if err != nil {
			p.add(err)
			return
		}
		bs = append(bs, b)
	}
	records, heads, specs, boots := bs[1], bs[2], bs[3], bs[4]
	var d decoder
	var r Record
	var newest uint64
	_ = heads.ForEach(func(k, v []byte) error {
		name := string(k)
		h, err := decodeHead(v, name)
		if err != nil {
			p.add(err)
			return nil
		}
		newest = max(newest, h.Seq)
		n := 1
		if h.State != states.Stopped && h.State != states.Absent {
			n = liveTail
		}
		for i, seq, vmseq := 0, h.Seq, h.VMSeq; i < n && vmseq >= 1; i, seq, vmseq = i+1, d.prev, vmseq-1 {
			key := seqKey(seq)
			if err := decodeAt(&d, key, records.Get(key), &r); err != nil {
				p.add(fmt.Errorf("vm %q (%s): %w", name, h.State, err))
				return nil
			}
			if r.VM != name || r.VMSeq != vmseq || d.prev >= seq || (vmseq == 1) != (d.prev == 0) {
				p.add(fmt.Errorf("vm %q (%s): record seq %d is vm %q vmseq %d (previous seq %d) where the VM's vmseq %d should be",
					name, h.State, seq, r.VM, r.VMSeq, d.prev, vmseq))
				return nil
			}
			if i == 0 && (r.To != h.State || r.Event != h.Event || !r.Time.Equal(h.Since)) {
				p.add(fmt.Errorf("vm %q: head (%s by %s) differs from its last record seq %d (%s by %s)", name, h.State, h.Event, seq, r.To, r.Event))
				return nil
			}
		}
		// A spec that is there must match. One that is not (a salvage
		// could not find it) the engine reports for its VM alone.
		if spec := specs.Get(k); spec != nil && h.State != states.Absent && !h.SpecHash.IsZero() && !specMatches(spec, h.SpecHash) {
			p.add(fmt.Errorf("vm %q: spec does not match the hash of record seq %d", name, h.Seq))
		}
		return nil
	})
	var lastBoot uint64
	if k, v := boots.Cursor().Last(); k != nil {
		n, _ := parseSeqKey(k)
		if _, err := decodeBoot(v, n); err != nil {
			p.add(err)
		}
		lastBoot = n
	}
	k, v := records.Cursor().Last()
	if k == nil {
		if newest != 0 {
			p.add(fmt.Errorf("no records, but a head names seq %d", newest))
		}
		return
	}
	if err := decodeAt(&d, k, v, &r); err != nil {
		p.add(err)
		return
	}
	if r.Seq != newest {
		p.add(fmt.Errorf("the newest record is seq %d (vm %q), but the newest head names seq %d", r.Seq, r.VM, newest))
	}
	if r.Boot > lastBoot {
		p.add(fmt.Errorf("the newest record, seq %d, was written by boot %d, but the last boot is %d", r.Seq, r.Boot, lastBoot))
	}
}

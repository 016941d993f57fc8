package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// SalvageReport says what [Salvage] copied and what it lost.
type SalvageReport struct {
	Src, Dst string
	// Records, VMs and Boots are what the new file holds.
	Records, VMs, Boots int
	// LastSeq is the highest seq the damaged file was found to have
	// committed (its newest record or head, whichever is higher).
	LastSeq uint64
	// Renumbered is the first old seq given a new number (records after
	// a lost one move down to keep seqs gap-free), 0 if none moved.
	Renumbered uint64
	// Lost lists, in words, each thing the new file lacks: lost records
	// (by seq range), VMs whose history stops early and why, specs and
	// boots that did not survive, pages that did not read.
	Lost []string
}

// salvageRecord is a record found in the damaged file.
type salvageRecord struct {
	r    Record
	prev uint64
	raw  []byte
	tree bool // reached from a meta page (committed), not an unreferenced page
}

// Salvage copies every record of the damaged database src that verifies
// (checksum, and its place in its VM's chain) into a new database dst,
// with heads rebuilt from the records, specs whose hash matches, and
// boots. It reads src with ReadAt only and never writes it; dst must not
// exist. The new file passes [Store.Check]. Records that follow a lost
// one in the same VM's chain cannot be placed and are dropped; seqs are
// renumbered to close the gaps lost records leave. The report lists what
// was lost.
func Salvage(src, dst string) (*SalvageReport, error) {
	rep := &SalvageReport{Src: src, Dst: dst}
	if _, err := os.Lstat(dst); err == nil {
		return nil, fmt.Errorf("salvage: %s exists: salvage writes a new file; give a path where nothing is", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("salvage: %w", err)
	}
	f, err := openNoFollow(src, os.O_RDONLY, 0)
	if err != nil {
		if fi, lerr := os.Lstat(src); lerr == nil && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("salvage: %w", notRegular(src, fi.Mode()))
		}
		return nil, fmt.Errorf("salvage: %w", err)
	}
	defer f.Close()
	if err := lockFile(f, false, DefaultTimeout); err != nil {
		return nil, fmt.Errorf("salvage: %w", &LockedError{Path: src, PID: lockHolder(src)})
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("salvage: %w", err)
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("salvage %s: empty file: %w: nothing to salvage", src, ErrNotDatabase)
	}
	var found foundValues
	if err := guard(src, func() error { found = scanDamaged(f, fi.Size(), rep); return nil }); err != nil {
		return nil, fmt.Errorf("salvage: %w", err)
	}
	if len(found.records) == 0 && len(found.boots) == 0 {
		return nil, fmt.Errorf("salvage %s: no lifeline record or boot verifies in it: %w", src, ErrNotDatabase)
	}
	out := rebuild(&found, rep)
	if err := writeSalvaged(dst, out); err != nil {
		return nil, fmt.Errorf("salvage: write %s: %w", dst, err)
	}
	s, err := OpenReadOnly(dst, Options{})
	if err == nil {
		err = errors.Join(s.check(out.specLost), s.Close())
	}
	if err != nil {
		return nil, fmt.Errorf("salvage: the new file %s does not check (a bug; the damaged file is untouched): %w", dst, err)
	}
	return rep, nil
}

// foundValues are the values read from a damaged file.
type foundValues struct {
	records   map[uint64][]salvageRecord // by seq; distinct versions
	boots     map[uint64][]Boot
	specs     map[string][][]byte // by VM; every candidate
	treeBoots map[uint64]bool     // boots reached from a meta page
	headSeqs  map[string]Head     // heads reached from a meta page
	committed uint64              // highest seq reached from a meta page
}

// scanDamaged reads what it can: the tree of each valid meta page, newest
// first, then every page no tree reached.
func scanDamaged(f *os.File, size int64, rep *SalvageReport) foundValues {
	fv := foundValues{records: map[uint64][]salvageRecord{}, boots: map[uint64][]Boot{}, specs: map[string][][]byte{}, headSeqs: map[string]Head{}, treeBoots: map[uint64]bool{}}
	pf, m0, m1, err0, err1 := readMetas(f, size, os.Getpagesize())
	var metas []boltMeta
	for _, m := range []struct {
		m   boltMeta
		err error
		n   int
	}{{m0, err0, 0}, {m1, err1, 1}} {
		if m.err != nil {
			rep.Lost = append(rep.Lost, fmt.Sprintf("bbolt meta page %d is damaged (%v)", m.n, m.err))
		} else {
			metas = append(metas, m.m)
		}
	}
	slices.SortFunc(metas, func(a, b boltMeta) int { return -cmpU64(a.txid, b.txid) })
	filePages := pf.pages()
	var d decoder
	addValue := func(bucket string, k, v []byte, tree bool) {
		switch {
		case bucket == string(bucketKeyRecords) || bucket == "" && len(k) == 8:
			seq, ok := parseSeqKey(k)
			var r Record
			if !ok || d.record(v, &r) != "" || r.Seq != seq {
				if n, _ := parseSeqKey(k); bucket == "" && !fv.treeBoots[n] {
					fv.addBoot(k, v)
				}
				return
			}
			fv.addRecord(salvageRecord{r: r, prev: d.prev, raw: bytes.Clone(v), tree: tree})
			if tree {
				fv.committed = max(fv.committed, seq)
			}
		case bucket == string(bucketKeyBoots):
			if n := fv.addBoot(k, v); n != 0 {
				fv.treeBoots[n] = true
			}
		case bucket == string(bucketKeySpecs) || bucket == "":
			fv.specs[string(k)] = append(fv.specs[string(k)], bytes.Clone(v))
		case bucket == string(bucketKeyHeads) && tree:
			if h, err := decodeHead(v, string(k)); err == nil {
				if old, ok := fv.headSeqs[h.VM]; !ok || h.Seq > old.Seq {
					fv.headSeqs[h.VM] = h
				}
				fv.committed = max(fv.committed, h.Seq)
			}
		}
	}
	for _, m := range metas {
		w := newWalker(pf, min(m.hwm, filePages))
		unread := 0
		w.problem = func(error) { unread++ }
		w.value = func(bucket string, k, v []byte) { addValue(bucket, k, v, true) }
		w.walkPage("(root)", "", m.root, nil, nil, 0)
		if unread > 0 {
			rep.Lost = append(rep.Lost, fmt.Sprintf("the page tree of bbolt txid %d: %d parts did not read (damaged or cut off); every page was then searched one by one", m.txid, unread))
		}
	}
	// Then every page, one by one: old copies, freed pages, the children
	// of damaged branch pages, and what a damaged page still holds. Values
	// are classified by what they decode as; a record found here and in a
	// tree is the same one (same bytes).
	var buf []byte
	for id := uint64(2); id < filePages; id++ {
		b, err := pf.read(id, filePages, buf)
		buf = b
		if err != nil {
			continue
		}
		scanLeaf(b, func(k, v []byte) { addValue("", k, v, false) })
	}
	return fv
}

// scanLeaf calls fn with the values of a leaf page, and of the inline
// buckets in it, as far as they read.
func scanLeaf(b []byte, fn func(k, v []byte)) {
	count, leaf, err := pageElements(b)
	if err != nil || !leaf {
		return
	}
	for i := range count {
		flags, _, k, v, err := element(b, i, true)
		if err != nil {
			return
		}
		if flags&bucketLeafFlag == 0 {
			fn(k, v)
		} else if len(v) > bucketHeaderSize+pageHeaderSize && le.Uint64(v) == 0 {
			scanLeaf(v[bucketHeaderSize:], fn)
		}
	}
}

func (fv *foundValues) addRecord(sr salvageRecord) {
	list := fv.records[sr.r.Seq]
	for i, o := range list {
		if bytes.Equal(o.raw, sr.raw) {
			list[i].tree = o.tree || sr.tree
			return
		}
	}
	fv.records[sr.r.Seq] = append(list, sr)
}

// addBoot adds the boot k, v and returns its number, 0 if it does not
// decode.
func (fv *foundValues) addBoot(k, v []byte) uint64 {
	n, ok := parseSeqKey(k)
	if !ok {
		return 0
	}
	b, err := decodeBoot(v, n)
	if err != nil {
		return 0
	}
	for i, o := range fv.boots[n] {
		if o.Started.Equal(b.Started) && o.PID == b.PID {
			if o.Closed.IsZero() { // a later copy closed it
				fv.boots[n][i] = b
			}
			return n
		}
	}
	fv.boots[n] = append(fv.boots[n], b)
	return n
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// salvaged is the content of the new file.
type salvaged struct {
	records  []Record // renumbered, in order
	prevs    []uint64 // each record's chain link (new seqs)
	heads    map[string]Head
	specs    map[string][]byte
	specLost map[string]bool
	boots    []Boot
}

// rebuild picks, for each seq, the version to keep, places records in
// their VMs' chains, renumbers and rebuilds heads, specs and boots.
func rebuild(fv *foundValues, rep *SalvageReport) *salvaged {
	var lost []string
	last := fv.committed
	for seq := range fv.records {
		last = max(last, seq)
	}
	rep.LastSeq = last
	// One version of each seq: the committed one, else the only one. The
	// walk is over the seqs found, so a damaged seq far off costs nothing.
	var lostRanges [][2]uint64
	lose := func(from, to uint64) {
		if n := len(lostRanges); n > 0 && lostRanges[n-1][1]+1 == from {
			lostRanges[n-1][1] = to
		} else {
			lostRanges = append(lostRanges, [2]uint64{from, to})
		}
	}
	var uncommitted int
	chosen := make([]salvageRecord, 0, len(fv.records))
	var prev uint64
	for _, seq := range slices.Sorted(maps.Keys(fv.records)) {
		if seq > prev+1 {
			lose(prev+1, seq-1)
		}
		prev = seq
		list := fv.records[seq]
		var pick *salvageRecord
		for i := range list {
			if list[i].tree {
				pick = &list[i]
			}
		}
		switch {
		case pick != nil:
		case len(list) == 1 && (fv.committed == 0 || seq <= fv.committed):
			pick = &list[0]
		case len(list) == 1:
			uncommitted++
			continue
		}
		if pick == nil {
			lose(seq, seq)
			continue
		}
		chosen = append(chosen, *pick)
	}
	if last > prev {
		lose(prev+1, last)
	}
	for _, r := range lostRanges {
		what := fmt.Sprintf("seq %d", r[0])
		if r[1] > r[0] {
			what = fmt.Sprintf("seq %d–%d (%d)", r[0], r[1], r[1]-r[0]+1)
		}
		lost = append(lost, fmt.Sprintf("records %s: damaged or not found", what))
	}
	if uncommitted > 0 {
		lost = append(lost, fmt.Sprintf("%d records past seq %d found only in unreferenced pages: never committed, left out", uncommitted, fv.committed))
	}
	// Boots: one version each; placeholders keep the numbers gap-free.
	out := &salvaged{heads: map[string]Head{}, specs: map[string][]byte{}, specLost: map[string]bool{}}
	var maxBoot uint64
	for n := range fv.boots {
		maxBoot = max(maxBoot, n)
	}
	for _, sr := range chosen {
		maxBoot = max(maxBoot, sr.r.Boot)
	}
	var placeholders []uint64
	for n := uint64(1); n <= maxBoot; n++ {
		if list := fv.boots[n]; len(list) == 1 {
			out.boots = append(out.boots, list[0])
			continue
		}
		started := time.Time{}
		if len(out.boots) > 0 {
			started = out.boots[len(out.boots)-1].Started
		}
		for _, sr := range chosen {
			if sr.r.Boot == n {
				started = sr.r.Time
				break
			}
		}
		out.boots = append(out.boots, Boot{Number: n, Started: started})
		placeholders = append(placeholders, n)
	}
	for _, r := range rangesOf("boot", placeholders) {
		lost = append(lost, fmt.Sprintf("%s: damaged or not found; each replaced by a placeholder (pid 0, started at its first record, never closed)", r))
	}
	// Chains: a record is kept when it follows its VM's last kept one.
	type chain struct {
		head    Head
		oldSeq  uint64 // seq of the last kept record
		broken  bool
		dropped int
		at      string
	}
	chains := map[string]*chain{}
	var kept []salvageRecord
	for _, sr := range chosen {
		r := sr.r
		c := chains[r.VM]
		if c == nil {
			c = &chain{}
			chains[r.VM] = c
		}
		to, err := states.Next(r.From, r.Event)
		fits := err == nil && to == r.To && r.VMSeq == c.head.VMSeq+1 && sr.prev == c.oldSeq && r.From == c.head.State && r.Boot >= 1
		if c.broken || !fits {
			if !c.broken {
				c.broken = true
				c.at = fmt.Sprintf("vmseq %d (seq %d)", r.VMSeq, r.Seq)
				if r.VMSeq != c.head.VMSeq+1 || sr.prev != c.oldSeq {
					c.at = fmt.Sprintf("vmseq %d (the record after seq %d, lost)", c.head.VMSeq+1, c.oldSeq)
				}
			}
			c.dropped++
			continue
		}
		c.oldSeq = r.Seq
		c.head = c.head.Apply(r)
		kept = append(kept, sr)
	}
	// A VM whose chain was cut, or whose newest records were lost: its
	// stored head said more. A VM whose spec is lost keeps its history
	// without a spec (the engine reports it for that VM).
	leftOut := map[string]bool{}
	for _, vm := range slices.Sorted(maps.Keys(chains)) {
		c := chains[vm]
		stored, hasStored := fv.headSeqs[vm]
		switch {
		case c.broken:
			lost = append(lost, fmt.Sprintf("vm %q: history kept up to vmseq %d (%s); from %s on, %d records that verify could not be placed and were left out",
				vm, c.head.VMSeq, c.head.State, c.at, c.dropped))
		case hasStored && stored.VMSeq > c.head.VMSeq:
			lost = append(lost, fmt.Sprintf("vm %q: its head said vmseq %d (%s), but only its records up to vmseq %d (%s) survive",
				vm, stored.VMSeq, stored.State, c.head.VMSeq, c.head.State))
		}
		if c.head.VMSeq == 0 {
			lost = append(lost, fmt.Sprintf("vm %q: none of its records could be placed; left out", vm))
			leftOut[vm] = true
			continue
		}
		if c.head.SpecHash.IsZero() {
			continue
		}
		for _, spec := range fv.specs[vm] {
			if SpecHash(sha256.Sum256(spec)) == c.head.SpecHash {
				out.specs[vm] = spec
				break
			}
		}
		if _, ok := out.specs[vm]; !ok {
			lost = append(lost, fmt.Sprintf("vm %q: its spec (hash %s) was not found: its history is kept, but the daemon cannot start it: delete and create it again", vm, c.head.SpecHash))
			out.specLost[vm] = true
		}
	}
	var gone []string
	for vm, h := range fv.headSeqs {
		if _, ok := chains[vm]; !ok {
			gone = append(gone, fmt.Sprintf("vm %q: its head said vmseq %d (%s), but none of its records survive", vm, h.VMSeq, h.State))
		}
	}
	slices.Sort(gone)
	lost = append(lost, gone...)
	// Renumber what is kept, gap-free, links following.
	renum := map[uint64]uint64{}
	for _, sr := range kept {
		r := sr.r
		if leftOut[r.VM] {
			continue
		}
		newSeq := uint64(len(out.records) + 1)
		if newSeq != r.Seq && rep.Renumbered == 0 {
			rep.Renumbered = r.Seq
		}
		renum[r.Seq] = newSeq
		out.prevs = append(out.prevs, renum[sr.prev])
		r.Seq = newSeq
		out.heads[r.VM] = out.heads[r.VM].Apply(r)
		out.records = append(out.records, r)
	}
	rep.Lost = append(rep.Lost, lost...)
	rep.Records, rep.VMs, rep.Boots = len(out.records), len(out.heads), len(out.boots)
	return out
}

// rangesOf prints sorted numbers as ranges: "boot 3", "boot 5–9 (5)".
func rangesOf(noun string, ns []uint64) []string {
	var out []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if i == j {
			out = append(out, fmt.Sprintf("%s %d", noun, ns[i]))
		} else {
			out = append(out, fmt.Sprintf("%s %d–%d (%d)", noun, ns[i], ns[j], j-i+1))
		}
		i = j + 1
	}
	return out
}

// writeSalvaged writes out into a new file at dst, through a temporary
// file in the same directory renamed into place when complete.
func writeSalvaged(dst string, out *salvaged) (err error) {
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".salvage.tmp")
	f, created, err := openFile(tmp, false, DefaultTimeout)
	if err != nil {
		return err
	}
	if !created {
		f.Close()
		return fmt.Errorf("%s exists (a salvage killed midway?): remove it", tmp)
	}
	db, err := bolt.Open(tmp, fileMode, &bolt.Options{NoSync: true, OpenFile: func(string, int, os.FileMode) (*os.File, error) { return f, nil }})
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	defer func() {
		if err != nil {
			db.Close()
			os.Remove(tmp)
		}
	}()
	if err = db.Update(initSchema); err != nil {
		return err
	}
	for i := 0; i < len(out.records) || i == 0; i += 100_000 {
		err = db.Update(func(tx *bolt.Tx) error {
			records, _ := getRecordsBucket(tx)
			for j := i; j < min(i+100_000, len(out.records)); j++ {
				if err := records.Put(seqKey(out.records[j].Seq), appendRecord(nil, &out.records[j], out.prevs[j])); err != nil {
					return err
				}
			}
			if i > 0 {
				return nil
			}
			heads, _ := getHeadsBucket(tx)
			specs, _ := getSpecsBucket(tx)
			boots, _ := getBootsBucket(tx)
			for vm, h := range out.heads {
				if err := heads.Put([]byte(vm), appendHead(nil, &h)); err != nil {
					return err
				}
			}
			for vm, spec := range out.specs {
				if err := specs.Put([]byte(vm), spec); err != nil {
					return err
				}
			}
			for _, b := range out.boots {
				if err := boots.Put(seqKey(b.Number), appendBoot(nil, &b)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err = db.Sync(); err != nil {
		return err
	}
	if err = db.Close(); err != nil {
		return err
	}
	// Link, not rename: never replace a file that appeared at dst meanwhile.
	if err = os.Link(tmp, dst); err != nil {
		return err
	}
	return os.Remove(tmp)
}

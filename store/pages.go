package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
)

// This file reads a bbolt file's pages itself, with ReadAt, never through a
// memory map: a damaged file is then an error, never a fault or a panic in
// a goroutine nobody can recover (bbolt's own tx.Check runs in one). The
// layout is bbolt's (go.etcd.io/bbolt/internal/common), little-endian as on
// every platform lifeline builds for:
//
//	page header, 16 bytes: id u64, flags u16, count u16, overflow u32
//	meta (after the header): magic u32, version u32, page size u32,
//	  flags u32, root bucket {root pgid u64, sequence u64}, freelist pgid,
//	  high water mark pgid, txid, FNV-64a of the 56 bytes before it
//	branch element, 16 bytes: pos u32, ksize u32, pgid u64
//	leaf element, 16 bytes: flags u32, pos u32, ksize u32, vsize u32
//	freelist: count u16 in the header (0xFFFF: the count is the first
//	  u64), then the free pgids
//
// A key or value lies at its element's offset plus pos. A bucket is a leaf
// value with flag 1: {root pgid, sequence}, followed, when root is 0, by
// the bucket's one inline leaf page.

const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	elementSize      = 16
	bucketHeaderSize = 16
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	minPageSize      = 1024
	maxPageSize      = 1 << 24
	// maxTreeDepth bounds the walk's recursion: a sound file of any size
	// is a handful of levels deep.
	maxTreeDepth = 64
)

var le = binary.LittleEndian

// boltMeta is one of a bbolt file's two meta pages.
type boltMeta struct {
	pageSize uint32
	root     uint64 // the root bucket's page
	freelist uint64
	hwm      uint64 // pages [0, hwm) are in use or free
	txid     uint64
}

// parseMeta decodes the meta page whose bytes (header included) start b,
// and says what is wrong with it.
func parseMeta(b []byte) (boltMeta, error) {
	if len(b) < pageHeaderSize+64 {
		return boltMeta{}, errors.New("cut short")
	}
	m := b[pageHeaderSize:]
	switch {
	case le.Uint32(m[0:]) != boltMagic:
		return boltMeta{}, errors.New("no bbolt magic number")
	case le.Uint32(m[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("bbolt format version %d, want %d", le.Uint32(m[4:]), boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return boltMeta{}, errors.New("checksum mismatch")
	}
	bm := boltMeta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]), hwm: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if bm.pageSize < minPageSize || bm.pageSize > maxPageSize || bm.pageSize&(bm.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d", bm.pageSize)
	}
	return bm, nil
}

// pageFile is a bbolt file read page by page.
type pageFile struct {
	r        io.ReaderAt
	size     int64
	pageSize int
}

// readMetas reads both meta pages. The page size is meta 0's, else meta
// 1's found the way bbolt finds it (trying each size from 1 KiB), else
// fallback. err0 and err1 say what is wrong with each.
func readMetas(r io.ReaderAt, size int64, fallback int) (pf *pageFile, m0, m1 boltMeta, err0, err1 error) {
	buf := make([]byte, 4096)
	n, _ := r.ReadAt(buf, 0)
	m0, err0 = parseMeta(buf[:n])
	pageSize := fallback
	if err0 == nil {
		pageSize = int(m0.pageSize)
		if n, _ := r.ReadAt(buf, int64(pageSize)); true {
			m1, err1 = parseMeta(buf[:n])
		}
	} else {
		err1 = errors.New("not found")
		for ps := int64(minPageSize); ps <= maxPageSize && ps < size; ps *= 2 {
			n, _ := r.ReadAt(buf, ps)
			if m, err := parseMeta(buf[:n]); err == nil && int64(m.pageSize) == ps {
				m1, err1, pageSize = m, nil, int(ps)
				break
			}
		}
	}
	if err1 == nil && m1.pageSize != uint32(pageSize) {
		err1 = fmt.Errorf("page size %d, meta page 0 says %d", m1.pageSize, pageSize)
	}
	return &pageFile{r: r, size: size, pageSize: pageSize}, m0, m1, err0, err1
}

// pages returns the number of whole pages in the file.
func (pf *pageFile) pages() uint64 { return uint64(pf.size) / uint64(pf.pageSize) }

// read returns page id with its overflow pages, in buf when it has room.
// limit is the first page it may not reach (the high water mark).
func (pf *pageFile) read(id, limit uint64, buf []byte) ([]byte, error) {
	if id >= limit || id > uint64(pf.size)/uint64(pf.pageSize) {
		return nil, fmt.Errorf("page %d: beyond the last page (%d)", id, limit-1)
	}
	b := grow(buf, pf.pageSize)
	if n, err := pf.r.ReadAt(b, int64(id)*int64(pf.pageSize)); n != len(b) {
		return nil, fmt.Errorf("page %d: cut short by the end of the file (%v)", id, err)
	}
	if got := le.Uint64(b); got != id {
		return nil, fmt.Errorf("page %d: its header says page %d", id, got)
	}
	if ov := uint64(le.Uint32(b[12:])); ov > 0 {
		if id+ov >= limit {
			return nil, fmt.Errorf("page %d: %d overflow pages run past the last page (%d)", id, ov, limit-1)
		}
		b = grow(b, (int(ov)+1)*pf.pageSize)
		if n, err := pf.r.ReadAt(b[pf.pageSize:], int64(id+1)*int64(pf.pageSize)); n != len(b)-pf.pageSize {
			return nil, fmt.Errorf("page %d: overflow cut short by the end of the file (%v)", id, err)
		}
	}
	return b, nil
}

// grow returns b resized to n bytes, its content kept.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return append(b[:cap(b)], make([]byte, n-cap(b))...)
}

// element returns element i of a branch or leaf page b (count elements):
// its flags (leaf) or child (branch), key and value (leaf).
func element(b []byte, i int, leaf bool) (flags uint32, child uint64, key, value []byte, err error) {
	off := pageHeaderSize + i*elementSize
	e := b[off : off+elementSize]
	if leaf {
		flags = le.Uint32(e[0:])
		pos, ks, vs := uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
		start := uint64(off) + pos
		if start+ks+vs > uint64(len(b)) {
			return 0, 0, nil, nil, fmt.Errorf("element %d: key and value run past the page", i)
		}
		return flags, 0, b[start : start+ks], b[start+ks : start+ks+vs], nil
	}
	pos, ks := uint64(le.Uint32(e[0:])), uint64(le.Uint32(e[4:]))
	start := uint64(off) + pos
	if start+ks > uint64(len(b)) {
		return 0, 0, nil, nil, fmt.Errorf("element %d: key runs past the page", i)
	}
	return 0, le.Uint64(e[8:]), b[start : start+ks], nil, nil
}

// pageElements checks a page's type and that its elements fit in it, and
// returns their number.
func pageElements(b []byte) (count int, leaf bool, err error) {
	flags := le.Uint16(b[8:])
	count = int(le.Uint16(b[10:]))
	switch flags {
	case leafPageFlag:
		leaf = true
	case branchPageFlag:
		if count == 0 {
			return 0, false, errors.New("branch page with no elements")
		}
	default:
		return 0, false, fmt.Errorf("page type %#x where a branch or leaf page should be", flags)
	}
	if pageHeaderSize+count*elementSize > len(b) {
		return 0, false, fmt.Errorf("%d elements do not fit in the page", count)
	}
	return count, leaf, nil
}

// walker walks the bucket tree of one meta page, checking bbolt's page
// structure as it goes (what bbolt's tx.Check checks: every page in
// bounds, of the right type, referenced once, not free, keys in order).
type walker struct {
	pf      *pageFile
	hwm     uint64
	seen    []uint64 // bitmap of the pages reached
	bufs    [][]byte // page buffers, by depth
	problem func(error)
	// value is called with every key and value of a top-level bucket
	// (bucket is its name); bucket, with every top-level bucket.
	value  func(bucket string, k, v []byte)
	bucket func(name string)
}

func (w *walker) mark(id uint64) (again bool) {
	if id >= uint64(len(w.seen))*64 {
		return false
	}
	again = w.seen[id/64]&(1<<(id%64)) != 0
	w.seen[id/64] |= 1 << (id % 64)
	return again
}

func (w *walker) marked(id uint64) bool { return w.seen[id/64]&(1<<(id%64)) != 0 }

func newWalker(pf *pageFile, hwm uint64) *walker {
	return &walker{pf: pf, hwm: hwm, seen: make([]uint64, (hwm+63)/64), problem: func(error) {}, value: func(string, []byte, []byte) {}, bucket: func(string) {}}
}

// walkBucket walks a bucket whose value (header and inline page) is v.
// path names it in problems; top is the top-level bucket it is in ("" for
// the root).
func (w *walker) walkBucket(path, top string, v []byte, depth int) {
	if len(v) < bucketHeaderSize {
		w.problem(fmt.Errorf("bucket %s: value of %d bytes is not a bucket", path, len(v)))
		return
	}
	if root := le.Uint64(v); root != 0 {
		w.walkPage(path, top, root, nil, nil, depth)
		return
	}
	inline := v[bucketHeaderSize:]
	if len(inline) < pageHeaderSize {
		w.problem(fmt.Errorf("bucket %s: inline page cut short", path))
		return
	}
	w.walkElements(path, top, inline, "inline page", nil, nil, depth)
}

// walkPage walks page id and its children; lo and hi bound its keys (lo
// included, hi excluded; nil for none).
func (w *walker) walkPage(path, top string, id uint64, lo, hi []byte, depth int) {
	if depth > maxTreeDepth {
		w.problem(fmt.Errorf("bucket %s: page %d: the tree is deeper than %d levels", path, id, maxTreeDepth))
		return
	}
	if id < 2 {
		w.problem(fmt.Errorf("bucket %s: refers to meta page %d", path, id))
		return
	}
	// One buffer per depth: a branch page's stays valid while its
	// children (one level down) are read.
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, nil)
	}
	b, err := w.pf.read(id, w.hwm, w.bufs[depth])
	if err != nil {
		w.problem(fmt.Errorf("bucket %s: %w", path, err))
		return
	}
	w.bufs[depth] = b
	for i := uint64(0); i <= uint64(le.Uint32(b[12:])); i++ {
		if w.mark(id + i) {
			w.problem(fmt.Errorf("bucket %s: page %d is referenced twice", path, id+i))
			return
		}
	}
	w.walkElements(path, top, b, fmt.Sprintf("page %d", id), lo, hi, depth)
}

func (w *walker) walkElements(path, top string, b []byte, where string, lo, hi []byte, depth int) {
	count, leaf, err := pageElements(b)
	if err != nil {
		w.problem(fmt.Errorf("bucket %s: %s: %w", path, where, err))
		return
	}
	prev := lo
	var keys [][]byte // a branch page's
	var children []uint64
	for i := range count {
		flags, child, k, v, err := element(b, i, leaf)
		if err != nil {
			w.problem(fmt.Errorf("bucket %s: %s: %w", path, where, err))
			return
		}
		if prev != nil && (bytes.Compare(k, prev) < 0 || i > 0 && bytes.Equal(k, prev)) || hi != nil && bytes.Compare(k, hi) >= 0 {
			w.problem(fmt.Errorf("bucket %s: %s: key %d (%x) is out of order", path, where, i, keyPrefix(k)))
			return
		}
		prev = k
		if !leaf {
			keys, children = append(keys, k), append(children, child)
			continue
		}
		switch {
		case flags&bucketLeafFlag != 0:
			name := string(k)
			if top == "" {
				w.bucket(name)
			}
			sub, subTop := path+"/"+fmt.Sprintf("%q", k), top
			if top == "" {
				sub, subTop = fmt.Sprintf("%q", k), name
			}
			w.walkBucket(sub, subTop, v, depth+1)
		case top != "":
			w.value(top, k, v)
		}
	}
	for i, child := range children {
		var next []byte
		if i+1 < len(keys) {
			next = keys[i+1]
		} else {
			next = hi
		}
		w.walkPage(path, top, child, keys[i], next, depth+1)
	}
}

// walkFreelist marks the free pages of meta m and returns them (nil when
// the freelist is not stored).
func (w *walker) walkFreelist(m boltMeta) (free []uint64) {
	if m.freelist == noFreelist {
		return nil
	}
	b, err := w.pf.read(m.freelist, w.hwm, nil)
	if err != nil {
		w.problem(fmt.Errorf("freelist: %w", err))
		return nil
	}
	for i := uint64(0); i <= uint64(le.Uint32(b[12:])); i++ {
		w.mark(m.freelist + i)
	}
	if f := le.Uint16(b[8:]); f != freelistPageFlag {
		w.problem(fmt.Errorf("freelist: page %d has type %#x, not a freelist", m.freelist, f))
		return nil
	}
	idx, count := 0, uint64(le.Uint16(b[10:]))
	if count == 0xFFFF {
		idx, count = 1, le.Uint64(b[pageHeaderSize:])
	}
	if count > uint64(len(b)-pageHeaderSize)/8-uint64(idx) {
		w.problem(fmt.Errorf("freelist: page %d: %d free pages do not fit in it", m.freelist, count))
		return nil
	}
	for i := range count {
		id := le.Uint64(b[pageHeaderSize+8*(uint64(idx)+i):])
		switch {
		case id < 2 || id >= w.hwm:
			w.problem(fmt.Errorf("freelist: page %d: lists page %d, out of range [2, %d)", m.freelist, id, w.hwm))
			return nil
		case w.mark(id):
			w.problem(fmt.Errorf("freelist: page %d is both free and in use, or free twice", id))
			return nil
		}
		free = append(free, id)
	}
	return free
}

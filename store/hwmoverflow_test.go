package store_test

import (
	"encoding/binary"
	"hash/fnv"
	"testing"
)

// A meta page whose checksum is right but whose high water mark times the
// page size overflows int64 (a crafted file: a random flip breaks the
// checksum) is refused as cut short. Before, the product wrapped to 0, the
// size check passed, and the walk's page bitmap of 2^46 words panicked
// (makeslice) in Open and in replay verify.
func TestOpenCheckHighWaterMarkOverflow(t *testing.T) {
	path, _, data := fleet(t)
	le := binary.LittleEndian
	ps := int(le.Uint32(data[16+8:]))
	for page := range 2 {
		m := data[page*ps+16:]
		if le.Uint32(m) != 0xED0CDAED {
			t.Fatalf("page %d is no meta page", page)
		}
		le.PutUint64(m[40:], (1<<63)/uint64(ps)*2) // hwm*ps wraps to 0
		h := fnv.New64a()
		h.Write(m[:56])
		le.PutUint64(m[56:], h.Sum64())
	}
	writeFile(t, path, data)
	expectDamaged(t, path, false, "it was cut short")
}

package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/states"
)

// FuzzDecodeRecord feeds arbitrary bytes to the decoders: they must never
// panic, and a record that decodes must encode back to a value that decodes
// to the same record.
func FuzzDecodeRecord(f *testing.F) {
	for _, w := range goldenWrites() {
		checkWrite(&w)
		w.Record.Seq, w.Record.VMSeq, w.Record.Boot = 7, 3, 2
		v := appendRecord(nil, &w.Record, 5)
		f.Add(v)
		f.Add(v[:len(v)/2])
		h := Head{}.Apply(w.Record)
		f.Add(appendHead(nil, &h))
	}
	f.Add(appendBoot(nil, &Boot{Number: 1, Started: time.Unix(1, 0), PID: 1}))
	f.Add([]byte{})
	f.Add([]byte{encodingVersion, 0, 0, 0, 0})
	f.Add([]byte{encodingVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		var d decoder
		var h Head
		var b Boot
		_ = d.head(v, &h)
		_ = d.boot(v, &b)
		r, prev, reason := decodeRecord(v)
		if reason != "" {
			return
		}
		again, prev2, reason := decodeRecord(appendRecord(nil, &r, prev))
		if reason != "" || !reflect.DeepEqual(again, r) || prev2 != prev {
			t.Fatalf("re-encoding %+v (prev %d): %q, %+v (prev %d)", r, prev, reason, again, prev2)
		}
	})
}

// TestDecodeRejectsDamage flips every bit of an encoded record in turn: each
// flip must be caught.
func TestDecodeRejectsDamage(t *testing.T) {
	r := Record{Seq: 42, VMSeq: 3, VM: "vm", Event: states.Run, From: states.Starting, To: states.Running, Time: time.Unix(0, 1e18).UTC(), Cause: Cause{Kind: CauseUnknown, Detail: "why"}, Reason: "why"}
	v := appendRecord(nil, &r, 17)
	if got, prev, reason := decodeRecord(v); reason != "" || !reflect.DeepEqual(got, r) || prev != 17 {
		t.Fatalf("round trip: %+v, prev %d, %q", got, prev, reason)
	}
	for i := range len(v) * 8 {
		w := append([]byte(nil), v...)
		w[i/8] ^= 1 << (i % 8)
		if _, _, reason := decodeRecord(w); reason == "" {
			t.Fatalf("flipping bit %d went unnoticed", i)
		}
	}
	for n := range len(v) {
		if _, _, reason := decodeRecord(v[:n]); reason == "" {
			t.Fatalf("truncation to %d bytes went unnoticed", n)
		}
	}
}

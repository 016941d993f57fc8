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
	for _, w := range append(goldenWrites(), goldenV2Writes()...) {
		checkWrite(&w)
		w.Record.Seq, w.Record.VMSeq, w.Record.Boot = 7, 3, 2
		v := appendRecord(nil, &w.Record, 5)
		f.Add(v)
		f.Add(v[:len(v)/2])
		h := Head{}.Apply(w.Record)
		f.Add(appendHead(nil, &h))
		f.Add(appendRecordV1(nil, &w.Record, 5))
	}
	f.Add(appendBoot(nil, &Boot{Number: 1, Started: time.Unix(1, 0), PID: 1}))
	f.Add(appendBoot(nil, &Boot{Number: 2, Started: time.Unix(1, 0), PID: 1, Closed: time.Unix(2, 0), Detached: true,
		BootInfo: BootInfo{Version: "v1 (rev abc)", HostBootID: "6f1c2c1e", HostName: "h"}}))
	f.Add(appendBootV1(nil, &Boot{Number: 3, Started: time.Unix(1, 0), PID: 1, Closed: time.Unix(2, 0)}))
	f.Add([]byte{})
	f.Add([]byte{encodingVersion, 0, 0, 0, 0})
	f.Add([]byte{encodingVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		var d decoder
		var h Head
		var b Boot
		_ = d.head(v, &h)
		if d.boot(v, &b) == "" {
			// A boot of any version re-encodes as the newest and reads
			// back the same.
			var again Boot
			if reason := d.boot(appendBoot(nil, &b), &again); reason != "" || !reflect.DeepEqual(again, b) {
				t.Fatalf("re-encoding boot %+v: %q, %+v", b, reason, again)
			}
		}
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

// appendRecordV1 is appendRecord as builds before record version 2 wrote
// it: the reason as a string where the cause is now.
func appendRecordV1(b []byte, r *Record, prev uint64) []byte {
	v2 := appendRecord(nil, &Record{Seq: r.Seq, VMSeq: r.VMSeq, VM: r.VM, Event: r.Event, From: r.From, To: r.To,
		Time: r.Time, Boot: r.Boot, Agent: r.Agent, VMProcess: r.VMProcess, Deadline: r.Deadline}, prev)
	// Everything up to the cause (kind byte, empty mask) is the same.
	head := v2[1 : len(v2)-checksumLen-1-2] // less the zero hash (1 byte) and the empty cause (2)
	start := len(b)
	b = append(b, encodingVersion)
	b = append(b, head...)
	b = appendString(b, r.Reason)
	b = appendHash(b, r.SpecHash)
	return appendChecksum(b, start)
}

// TestDecodeVersion1Record: a record of version 1 reads back with its
// sentence and the cause parsed from it, and writes back (version 2) to
// the same record.
func TestDecodeVersion1Record(t *testing.T) {
	for _, w := range goldenWrites() {
		if err := checkWrite(&w); err != nil {
			t.Fatal(err)
		}
		w.Record.Seq, w.Record.VMSeq, w.Record.Boot = 7, 3, 2
		got, prev, reason := decodeRecord(appendRecordV1(nil, &w.Record, 5))
		if reason != "" || prev != 5 || !reflect.DeepEqual(got, w.Record) {
			t.Fatalf("version 1: %q, prev %d\n%+v\nwant\n%+v", reason, prev, got, w.Record)
		}
		again, _, reason := decodeRecord(appendRecord(nil, &got, prev))
		if reason != "" || !reflect.DeepEqual(again, got) {
			t.Fatalf("version 2 of it: %q\n%+v\nwant\n%+v", reason, again, got)
		}
	}
}

// TestDecodeRejectsDamage flips every bit of an encoded record in turn: each
// flip must be caught.
func TestDecodeRejectsDamage(t *testing.T) {
	r := Record{Seq: 42, VMSeq: 3, VM: "vm", Event: states.EventRunning, From: states.Starting, To: states.Running, Time: time.Unix(0, 1e18).UTC(), Cause: Cause{Kind: CauseUnknown, Detail: "why"}, Reason: "why"}
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

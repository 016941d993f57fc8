package fleet

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// checkEncodeRecord fails unless encodeRecord(r) is json.Marshal(r), byte
// for byte, and both decode to the same record (or both fail).
func checkEncodeRecord(t *testing.T, r api.Record) {
	t.Helper()
	want, werr := json.Marshal(r)
	got, gerr := encodeRecord(&r)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("record %#v: json.Marshal error %v, encodeRecord error %v", r, werr, gerr)
	}
	if werr != nil {
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("record %#v:\nencodeRecord %s\njson.Marshal %s", r, got, want)
	}
	var a, b api.Record
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("json.Unmarshal(encodeRecord) %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatalf("json.Unmarshal(json.Marshal) %s: %v", want, err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("decoded differ:\nfrom encodeRecord %#v\nfrom json.Marshal %#v", a, b)
	}
}

// randString returns strings with what JSON escapes: quotes, backslashes,
// control characters, HTML characters, U+2028/2029, other unicode and
// invalid UTF-8; often empty.
func randString(rng *rand.Rand) string {
	if rng.Intn(4) == 0 {
		return ""
	}
	parts := []string{"a", "vm-1", "\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x01", "\x1f", "\x7f", "<", ">", "&",
		"\u2028", "\u2029", "é", "ünïcode", "日本", "🙂", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\ufffd", " ", "/", "'", "%s"}
	var sb strings.Builder
	for range rng.Intn(8) + 1 {
		sb.WriteString(parts[rng.Intn(len(parts))])
	}
	return sb.String()
}

func randTime(rng *rand.Rand) time.Time {
	switch rng.Intn(6) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(rng.Int63n(4e9), rng.Int63n(1e9)).UTC()
	case 2:
		return time.Unix(rng.Int63n(4e9), 0).In(time.FixedZone("x", (rng.Intn(48)-24)*1800))
	case 3:
		return time.Unix(rng.Int63n(4e9), rng.Int63n(1e9)).In(time.Local)
	case 4:
		// Outside the years json.Marshal writes: both refuse.
		return time.Date(10000+rng.Intn(10), 1, 1, 0, 0, 0, 0, time.UTC)
	default:
		return time.Unix(0, 0).UTC()
	}
}

func randInt(rng *rand.Rand) int64 {
	switch rng.Intn(5) {
	case 0:
		return 0
	case 1:
		return -rng.Int63()
	case 2:
		return math.MaxInt64
	case 3:
		return math.MinInt64
	default:
		return rng.Int63n(100000)
	}
}

func randDuration(rng *rand.Rand) time.Duration {
	switch rng.Intn(7) {
	case 0, 1:
		return 0
	case 2:
		return time.Duration(rng.Int63n(1000)) // below a microsecond: the 'e' format
	case 3:
		return time.Duration(randInt(rng))
	case 4:
		return time.Duration(rng.Intn(1000)) * time.Millisecond
	case 5:
		return -time.Duration(rng.Int63n(1e12))
	default:
		return time.Duration(rng.Int63n(1e15))
	}
}

// randCauseKind is every store cause kind by name (and one past the
// last), or any string.
func randCauseKind(rng *rand.Rand) api.CauseKind {
	if rng.Intn(5) == 0 {
		return api.CauseKind(randString(rng))
	}
	for k := store.CauseKind(0); ; k++ {
		if !k.Valid() {
			return api.CauseKind(store.CauseKind(rng.Intn(int(k) + 1)).String())
		}
	}
}

func randRecord(rng *rand.Rand) api.Record {
	proc := func() api.Proc {
		if rng.Intn(3) == 0 {
			return api.Proc{}
		}
		return api.Proc{PID: randInt(rng), StartTime: rng.Uint64(), Group: randInt(rng), BootID: randString(rng)}
	}
	r := api.Record{
		Seq: rng.Uint64(), VMSeq: rng.Uint64() >> rng.Intn(64), VM: randString(rng),
		Event: api.Event(randString(rng)), From: api.State(randString(rng)), To: api.State(randString(rng)),
		Time: randTime(rng), Boot: rng.Uint64() >> rng.Intn(64),
		HostAgent: proc(), VMProcess: proc(), Deadline: randTime(rng),
		Reason: randString(rng), SpecHash: randString(rng),
	}
	if rng.Intn(3) != 0 {
		r.Cause = api.Cause{Kind: randCauseKind(rng), Code: int(randInt(rng)), Signal: rng.Intn(3) * rng.Intn(64), Exiting: rng.Intn(2) == 0,
			Deadline: randTime(rng), PID: randInt(rng), VMProcessPID: randInt(rng), Err: randString(rng), Detail: randString(rng),
			N: rng.Intn(3) * rng.Intn(10), Limit: int(randInt(rng)), Window: randDuration(rng), Backoff: randDuration(rng), Grace: randDuration(rng)}
		if rng.Intn(4) == 0 {
			r.Cause = api.Cause{Kind: r.Cause.Kind}
		}
	}
	if rng.Intn(10) == 0 {
		r.Time = time.Time{}.In(time.Local) // zero instant, not the zero value
	}
	return r
}

// TestEncodeRecordIsJSONMarshal: the publisher's hand-written encoder of
// a record writes what json.Marshal writes, byte for byte, for random
// records with every field, every cause kind, zero values, escapes,
// unicode and invalid UTF-8, so the stream's readers decode the same
// records they decoded before. Replay with FLEET_SEED.
func TestEncodeRecordIsJSONMarshal(t *testing.T) {
	rng := rand.New(rand.NewSource(seed(t)))
	checkEncodeRecord(t, api.Record{})
	checkEncodeRecord(t, api.Record{Cause: api.Cause{Kind: "requested"}})
	checkEncodeRecord(t, api.Record{Cause: api.Cause{Window: 1, Backoff: -1, Grace: math.MaxInt64}})
	for range 20000 {
		checkEncodeRecord(t, randRecord(rng))
	}
}

// TestEncodeRecordOfStoreRecords: records as the publisher gets them
// (server.RecordOf of the store's records), one of every cause kind.
func TestEncodeRecordOfStoreRecords(t *testing.T) {
	rng := rand.New(rand.NewSource(seed(t)))
	now := time.Now().UTC()
	for k := store.CauseKind(0); k.Valid(); k++ {
		for range 50 {
			r := store.Record{Seq: rng.Uint64(), VMSeq: uint64(rng.Intn(100)), VM: randString(rng), Time: now.Add(time.Duration(rng.Int63n(1e15))),
				Boot: uint64(rng.Intn(9)), Event: states.Event(rng.Intn(20)), From: states.State(rng.Intn(12)), To: states.State(rng.Intn(12)),
				Agent: store.Proc{PID: rng.Intn(3) * rng.Intn(1<<22), StartTime: rng.Uint64(), Group: rng.Intn(1 << 22), BootID: randString(rng)},
				Cause: store.Cause{Kind: k, Code: rng.Intn(3) - 1, Signal: rng.Intn(10), Detail: randString(rng), Err: randString(rng),
					N: rng.Intn(5), Limit: rng.Intn(5), Window: randDuration(rng), Backoff: randDuration(rng), Grace: randDuration(rng)},
				Reason: randString(rng)}
			if rng.Intn(2) == 0 {
				r.SpecHash = store.SpecHash(sha256.Sum256([]byte(randString(rng))))
			}
			checkEncodeRecord(t, server.RecordOf(r))
		}
	}
}

// FuzzEncodeRecord: any strings, numbers and times.
func FuzzEncodeRecord(f *testing.F) {
	f.Add(uint64(1), "vm-1", "created", "requested", "a \"b\"\n<c>", int64(1), int64(1e9), int64(0), int64(1500000))
	f.Add(uint64(0), "", "", "", "\xff\u2028", int64(-1), int64(-1), int64(1), int64(-3))
	f.Fuzz(func(t *testing.T, seq uint64, vm, event, kind, text string, pid, ns, offset, window int64) {
		tm := time.Unix(0, ns).In(time.FixedZone("z", int(offset%86400)))
		r := api.Record{Seq: seq, VMSeq: seq / 3, VM: vm, Event: api.Event(event), From: api.State(kind), To: api.State(text),
			Time: tm, Boot: uint64(pid), HostAgent: api.Proc{PID: pid, StartTime: seq, Group: -pid, BootID: text}, Deadline: tm,
			Cause: api.Cause{Kind: api.CauseKind(kind), Code: int(pid), Deadline: tm, PID: pid, Err: text, Detail: vm,
				Window: time.Duration(window), Backoff: time.Duration(ns), Grace: time.Duration(-window)},
			Reason: text, SpecHash: event}
		checkEncodeRecord(t, r)
	})
}

// BenchmarkEncodeRecord: a create's record, as the publisher encodes
// it, with encodeRecord and with json.Marshal.
func BenchmarkEncodeRecord(b *testing.B) {
	now := time.Now().UTC()
	r := api.Record{Seq: 123456, VMSeq: 3, VM: "vm-12345", Event: "create", From: "Absent", To: "Stopped", Time: now, Boot: 2,
		Cause: api.Cause{Kind: "requested"}, Reason: "created by request", SpecHash: strings.Repeat("ab", 32)}
	b.Run("encodeRecord", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := encodeRecord(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

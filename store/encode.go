package store

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/lifeline-vm/lifeline/states"
)

// The version byte that starts every encoded value, per kind of value:
// each kind's layout changes on its own. Bump one (and keep decoding the
// old layouts) to change a layout below.
const (
	// recordVersion 2 holds the record's cause as data where version 1
	// held its reason as a sentence.
	recordVersion = 2
	// headVersion 2: as recordVersion.
	headVersion = 2
	// bootVersion 2 adds the daemon's version, the host's boot id and
	// name, and the detach mark.
	bootVersion = 2
)

// encodingVersion is the first layout of every kind of value: what
// version-1 files hold.
const encodingVersion = 1

// checksumLen is the length of the CRC-32C that ends every encoding.
const checksumLen = 4

// castagnoli is the CRC-32C table, made at the first record encoded or
// decoded rather than at init: every lifeline command links the store, and
// most never touch a record (a table at init cost each of them ~0.3 ms).
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// Record, version 2:
//
//	version byte, seq uvarint, vmseq uvarint, prev uvarint, vm string,
//	event byte, from byte, to byte, time varint, boot uvarint,
//	agent proc, driver proc, deadline varint, cause,
//	spec hash: 0, or 1 and 32 bytes,
//	crc32c uint32 big-endian over all of the above
//
// where prev is the seq of the VM's previous record (0 for its first), a
// string is a uvarint length and its bytes, a time is its Unix
// nanoseconds (0 for the zero time), a proc is pid varint, start time
// uvarint, group varint, boot id string, and a cause is its kind byte, a
// uvarint mask of the facts that follow (bit i set: fact i is not zero),
// then those facts in this order: 0 code varint, 1 signal varint,
// 2 exiting (no bytes: the bit is the fact), 3 deadline varint, 4 pid
// varint, 5 driver pid varint, 6 err string, 7 detail string, 8 n
// uvarint, 9 limit uvarint, 10 window varint, 11 backoff varint, 12 grace
// varint (a stop's own grace period). A fact this build does not know is
// refused as damage: a new fact comes with a new schema.
//
// Version 1 was the same with a reason string where the cause is; it
// reads back with the reason as written and the cause [ParseReason] finds
// in it.
func appendRecord(b []byte, r *Record, prev uint64) []byte {
	start := len(b)
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendUvarint(b, r.VMSeq)
	b = binary.AppendUvarint(b, prev)
	b = appendString(b, r.VM)
	b = append(b, byte(r.Event), byte(r.From), byte(r.To))
	b = binary.AppendVarint(b, unixNano(r.Time))
	b = binary.AppendUvarint(b, r.Boot)
	b = appendProc(b, r.Agent)
	b = appendProc(b, r.VMProcess)
	b = binary.AppendVarint(b, unixNano(r.Deadline))
	b = appendCause(b, &r.Cause)
	b = appendHash(b, r.SpecHash)
	return appendChecksum(b, start)
}

// Head, version 2: version byte, vm string, state byte, seq uvarint,
// vmseq uvarint, since varint, event byte, cause, agent proc, driver
// proc, deadline varint, spec hash, crc32c. Version 1 had a reason string
// where the cause is.
func appendHead(b []byte, h *Head) []byte {
	start := len(b)
	b = append(b, headVersion)
	b = appendString(b, h.VM)
	b = append(b, byte(h.State))
	b = binary.AppendUvarint(b, h.Seq)
	b = binary.AppendUvarint(b, h.VMSeq)
	b = binary.AppendVarint(b, unixNano(h.Since))
	b = append(b, byte(h.Event))
	b = appendCause(b, &h.Cause)
	b = appendProc(b, h.Agent)
	b = appendProc(b, h.VMProcess)
	b = binary.AppendVarint(b, unixNano(h.Deadline))
	b = appendHash(b, h.SpecHash)
	return appendChecksum(b, start)
}

// Boot, version 1: version byte, number uvarint, started varint, pid
// varint, closed varint, crc32c.
//
// Boot, version 2: version byte, number uvarint, started varint, pid
// varint, closed varint, flags byte (bit 0: detached; the others 0),
// daemon version string, host boot id string, host name string, crc32c.
func appendBoot(b []byte, bt *Boot) []byte {
	start := len(b)
	b = append(b, bootVersion)
	b = binary.AppendUvarint(b, bt.Number)
	b = binary.AppendVarint(b, unixNano(bt.Started))
	b = binary.AppendVarint(b, int64(bt.PID))
	b = binary.AppendVarint(b, unixNano(bt.Closed))
	var flags byte
	if bt.Detached {
		flags |= bootDetached
	}
	b = append(b, flags)
	b = appendString(b, bt.Version)
	b = appendString(b, bt.HostBootID)
	b = appendString(b, bt.HostName)
	return appendChecksum(b, start)
}

// The flags of a version 2 boot.
const bootDetached = 1 << 0

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// The facts of a cause, as bits of its mask (see appendRecord).
const (
	factCode = 1 << iota
	factSignal
	factExiting
	factDeadline
	factPID
	factDriverPID
	factErr
	factDetail
	factN
	factLimit
	factWindow
	factBackoff
	factGrace
	factAll = 1<<iota - 1
)

func appendCause(b []byte, c *Cause) []byte {
	var mask uint64
	set := func(bit uint64, on bool) {
		if on {
			mask |= bit
		}
	}
	set(factCode, c.Code != 0)
	set(factSignal, c.Signal != 0)
	set(factExiting, c.Exiting)
	set(factDeadline, !c.Deadline.IsZero())
	set(factPID, c.PID != 0)
	set(factDriverPID, c.VMProcessPID != 0)
	set(factErr, c.Err != "")
	set(factDetail, c.Detail != "")
	set(factN, c.N != 0)
	set(factLimit, c.Limit != 0)
	set(factWindow, c.Window != 0)
	set(factBackoff, c.Backoff != 0)
	set(factGrace, c.Grace != 0)
	b = append(b, byte(c.Kind))
	b = binary.AppendUvarint(b, mask)
	if mask&factCode != 0 {
		b = binary.AppendVarint(b, int64(c.Code))
	}
	if mask&factSignal != 0 {
		b = binary.AppendVarint(b, int64(c.Signal))
	}
	if mask&factDeadline != 0 {
		b = binary.AppendVarint(b, unixNano(c.Deadline))
	}
	if mask&factPID != 0 {
		b = binary.AppendVarint(b, c.PID)
	}
	if mask&factDriverPID != 0 {
		b = binary.AppendVarint(b, c.VMProcessPID)
	}
	if mask&factErr != 0 {
		b = appendString(b, c.Err)
	}
	if mask&factDetail != 0 {
		b = appendString(b, c.Detail)
	}
	if mask&factN != 0 {
		b = binary.AppendUvarint(b, uint64(c.N))
	}
	if mask&factLimit != 0 {
		b = binary.AppendUvarint(b, uint64(c.Limit))
	}
	if mask&factWindow != 0 {
		b = binary.AppendVarint(b, int64(c.Window))
	}
	if mask&factBackoff != 0 {
		b = binary.AppendVarint(b, int64(c.Backoff))
	}
	if mask&factGrace != 0 {
		b = binary.AppendVarint(b, int64(c.Grace))
	}
	return b
}

func appendProc(b []byte, p Proc) []byte {
	b = binary.AppendVarint(b, int64(p.PID))
	b = binary.AppendUvarint(b, p.StartTime)
	b = binary.AppendVarint(b, int64(p.Group))
	return appendString(b, p.BootID)
}

func appendHash(b []byte, h SpecHash) []byte {
	if h.IsZero() {
		return append(b, 0)
	}
	return append(append(b, 1), h[:]...)
}

func appendChecksum(b []byte, start int) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli()))
}

// unixNano is t's encoding: 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// The times an encoding can hold: those of an int64 of Unix nanoseconds.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// normTime returns t as it reads back from the file: UTC, no monotonic
// reading. ok is false for a non-zero time the encoding cannot hold.
func normTime(t time.Time) (_ time.Time, ok bool) {
	if t.IsZero() {
		return time.Time{}, true
	}
	if t.Before(minTime) || t.After(maxTime) {
		return t, false
	}
	return fromUnixNano(t.UnixNano()), true
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// decoder reads one encoding. The first failure is kept in err and every
// read after it returns zero values, so callers check once at the end.
type decoder struct {
	b    []byte
	err  string
	prev uint64 // the chain link of the last record decoded
	// names, when non-nil, interns VM names and boot ids across many
	// decodes (a scan), so a repeated name costs no allocation.
	names map[string]string
}

// maxInterned bounds a decoder's names table.
const maxInterned = 4096

// open checks the version byte and the checksum of v and leaves the fields
// to read. latest is the latest encoding version of v's kind; every one
// from 1 up to it is read. It returns v's version.
func (d *decoder) open(v []byte, latest byte) byte {
	d.err = ""
	switch {
	case len(v) < 1+checksumLen:
		d.fail("too short (" + strconv.Itoa(len(v)) + " bytes)")
		return 0
	case v[0] < encodingVersion || v[0] > latest:
		d.fail("unknown encoding version " + strconv.Itoa(int(v[0])) + " (this build reads 1 to " + strconv.Itoa(int(latest)) + "; a newer lifeline wrote it?)")
	case crc32.Checksum(v[:len(v)-checksumLen], castagnoli()) != binary.BigEndian.Uint32(v[len(v)-checksumLen:]):
		d.fail("checksum mismatch")
	default:
		d.b = v[1 : len(v)-checksumLen]
		return v[0]
	}
	return 0
}

// close reports the first failure, or trailing bytes.
func (d *decoder) close() string {
	if d.err == "" && len(d.b) != 0 {
		d.fail(strconv.Itoa(len(d.b)) + " trailing bytes")
	}
	return d.err
}

func (d *decoder) fail(reason string) {
	if d.err == "" {
		d.err = reason
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string overruns the value")
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string { return string(d.bytes()) }

// name reads a string that repeats across values (a VM name, a boot id).
func (d *decoder) name() string {
	b := d.bytes()
	if d.names == nil || len(b) == 0 {
		return string(b)
	}
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.names) < maxInterned {
		d.names[s] = s
	}
	return s
}

func (d *decoder) time() time.Time { return fromUnixNano(d.varint()) }

func (d *decoder) proc() Proc {
	return Proc{PID: d.pid(), StartTime: d.uvarint(), Group: d.pid(), BootID: d.name()}
}

// pid reads a varint that must fit an int (a pid, a group; every int64
// on 64-bit platforms, as when Proc held int64s): on a 32-bit platform a
// larger one is damage, not a pid to wrap around.
func (d *decoder) pid() int {
	v := d.varint()
	if int64(int(v)) != v {
		d.fail("pid out of int range")
		return 0
	}
	return int(v)
}

// cause reads a cause of record or head version 2.
func (d *decoder) cause(c *Cause) {
	*c = Cause{Kind: CauseKind(d.byte())}
	mask := d.uvarint()
	if mask&^factAll != 0 {
		d.fail("unknown cause facts")
		return
	}
	if mask&factCode != 0 {
		c.Code = d.int()
	}
	if mask&factSignal != 0 {
		c.Signal = d.int()
	}
	c.Exiting = mask&factExiting != 0
	if mask&factDeadline != 0 {
		c.Deadline = d.time()
	}
	if mask&factPID != 0 {
		c.PID = d.varint()
	}
	if mask&factDriverPID != 0 {
		c.VMProcessPID = d.varint()
	}
	if mask&factErr != 0 {
		c.Err = d.string()
	}
	if mask&factDetail != 0 {
		c.Detail = d.string()
	}
	if mask&factN != 0 {
		c.N = d.count()
	}
	if mask&factLimit != 0 {
		c.Limit = d.count()
	}
	if mask&factWindow != 0 {
		c.Window = time.Duration(d.varint())
	}
	if mask&factBackoff != 0 {
		c.Backoff = time.Duration(d.varint())
	}
	if mask&factGrace != 0 {
		c.Grace = time.Duration(d.varint())
	}
}

// int reads a varint that must fit an int32 (an exit code, a signal).
func (d *decoder) int() int {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("integer out of range")
		return 0
	}
	return int(v)
}

// count reads a uvarint that must fit an int32 (a restart count).
func (d *decoder) count() int {
	v := d.uvarint()
	if v > math.MaxInt32 {
		d.fail("count out of range")
		return 0
	}
	return int(v)
}

// reason reads what a record or head of version ver says of its cause:
// version 1 a sentence, from which ParseReason finds the cause; version 2
// the cause, from which Render makes the sentence.
func (d *decoder) reason(ver byte, ev states.Event, c *Cause, reason *string) {
	if ver == encodingVersion {
		*reason = d.string()
		*c = ParseReason(ev, *reason)
		return
	}
	d.cause(c)
	*reason = c.Render(ev)
}

func (d *decoder) hash() (h SpecHash) {
	switch d.byte() {
	case 0:
	case 1:
		if len(d.b) < len(h) {
			d.fail("truncated spec hash")
			return h
		}
		copy(h[:], d.b)
		d.b = d.b[len(h):]
	default:
		d.fail("bad spec hash flag")
	}
	return h
}

// record decodes v into r, and the chain link into d.prev, and returns ""
// or what is wrong with v. It never panics, whatever v holds. States and events are returned as stored, even
// undeclared ones: [Store.Check] judges them.
func (d *decoder) record(v []byte, r *Record) string {
	ver := d.open(v, recordVersion)
	r.Seq = d.uvarint()
	r.VMSeq = d.uvarint()
	d.prev = d.uvarint()
	r.VM = d.name()
	r.Event = states.Event(d.byte())
	r.From = states.State(d.byte())
	r.To = states.State(d.byte())
	r.Time = d.time()
	r.Boot = d.uvarint()
	r.Agent = d.proc()
	r.VMProcess = d.proc()
	r.Deadline = d.time()
	d.reason(ver, r.Event, &r.Cause, &r.Reason)
	r.SpecHash = d.hash()
	return d.close()
}

func (d *decoder) head(v []byte, h *Head) string {
	ver := d.open(v, headVersion)
	h.VM = d.name()
	h.State = states.State(d.byte())
	h.Seq = d.uvarint()
	h.VMSeq = d.uvarint()
	h.Since = d.time()
	h.Event = states.Event(d.byte())
	d.reason(ver, h.Event, &h.Cause, &h.Reason)
	h.Agent = d.proc()
	h.VMProcess = d.proc()
	h.Deadline = d.time()
	h.SpecHash = d.hash()
	return d.close()
}

// boot decodes a boot of any version; one of version 1 has no flags and
// an empty BootInfo.
func (d *decoder) boot(v []byte, b *Boot) string {
	version := d.open(v, bootVersion)
	b.Number = d.uvarint()
	b.Started = d.time()
	pid := d.varint()
	b.Closed = d.time()
	if version >= 2 {
		flags := d.byte()
		if flags&^bootDetached != 0 {
			d.fail("unknown boot flags " + strconv.Itoa(int(flags)))
		}
		b.Detached = flags&bootDetached != 0
		b.Version = d.string()
		b.HostBootID = d.string()
		b.HostName = d.string()
	}
	if pid < math.MinInt32 || pid > math.MaxInt32 {
		d.fail("pid out of range")
	}
	b.PID = int(pid)
	return d.close()
}

// decodeRecord decodes one record value and its chain link.
func decodeRecord(v []byte) (r Record, prev uint64, reason string) {
	var d decoder
	reason = d.record(v, &r)
	return r, d.prev, reason
}

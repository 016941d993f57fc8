package store

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"strconv"
	"time"

	"github.com/lifeline-vm/lifeline/states"
)

// encodingVersion is the first byte of every encoded record and head.
// Bump it (and keep decoding the old one) to change a layout below.
const encodingVersion = 1

// bootEncodingVersion is the first byte of every boot this build writes.
// Each kind of value has its own version, checked by [decoder.open];
// boots of every version from 1 up stay readable.
const bootEncodingVersion = 2

// checksumLen is the length of the CRC-32C that ends every encoding.
const checksumLen = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record, version 1:
//
//	version byte, seq uvarint, vmseq uvarint, prev uvarint, vm string,
//	event byte, from byte, to byte, time varint, boot uvarint,
//	agent proc, driver proc, deadline varint, reason string,
//	spec hash: 0, or 1 and 32 bytes,
//	crc32c uint32 big-endian over all of the above
//
// where prev is the seq of the VM's previous record (0 for its first), a
// string is a uvarint length and its bytes, a time is its Unix
// nanoseconds (0 for the zero time), and a proc is pid varint, start time
// uvarint, group varint, boot id string.
func appendRecord(b []byte, r *Record, prev uint64) []byte {
	start := len(b)
	b = append(b, encodingVersion)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendUvarint(b, r.VMSeq)
	b = binary.AppendUvarint(b, prev)
	b = appendString(b, r.VM)
	b = append(b, byte(r.Event), byte(r.From), byte(r.To))
	b = binary.AppendVarint(b, unixNano(r.Time))
	b = binary.AppendUvarint(b, r.Boot)
	b = appendProc(b, r.Agent)
	b = appendProc(b, r.Driver)
	b = binary.AppendVarint(b, unixNano(r.Deadline))
	b = appendString(b, r.Reason)
	b = appendHash(b, r.SpecHash)
	return appendChecksum(b, start)
}

// Head, version 1: version byte, vm string, state byte, seq uvarint,
// vmseq uvarint, since varint, event byte, reason string, agent proc,
// driver proc, deadline varint, spec hash, crc32c.
func appendHead(b []byte, h *Head) []byte {
	start := len(b)
	b = append(b, encodingVersion)
	b = appendString(b, h.VM)
	b = append(b, byte(h.State))
	b = binary.AppendUvarint(b, h.Seq)
	b = binary.AppendUvarint(b, h.VMSeq)
	b = binary.AppendVarint(b, unixNano(h.Since))
	b = append(b, byte(h.Event))
	b = appendString(b, h.Reason)
	b = appendProc(b, h.Agent)
	b = appendProc(b, h.Driver)
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
	b = append(b, bootEncodingVersion)
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

func appendProc(b []byte, p Proc) []byte {
	b = binary.AppendVarint(b, p.PID)
	b = binary.AppendUvarint(b, p.StartTime)
	b = binary.AppendVarint(b, p.Group)
	return appendString(b, p.BootID)
}

func appendHash(b []byte, h SpecHash) []byte {
	if h.IsZero() {
		return append(b, 0)
	}
	return append(append(b, 1), h[:]...)
}

func appendChecksum(b []byte, start int) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
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
// to read. newest is the newest encoding version of v's kind; every one
// from 1 up to it is read. It returns v's version.
func (d *decoder) open(v []byte, newest byte) byte {
	d.err = ""
	switch {
	case len(v) < 1+checksumLen:
		d.fail("too short (" + strconv.Itoa(len(v)) + " bytes)")
		return 0
	case v[0] < 1 || v[0] > newest:
		d.fail("unknown encoding version " + strconv.Itoa(int(v[0])) + " (this build reads 1 to " + strconv.Itoa(int(newest)) + "; a newer lifeline wrote it?)")
	case crc32.Checksum(v[:len(v)-checksumLen], castagnoli) != binary.BigEndian.Uint32(v[len(v)-checksumLen:]):
		d.fail("checksum mismatch")
	default:
		d.b = v[1 : len(v)-checksumLen]
	}
	return v[0]
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
	return Proc{PID: d.varint(), StartTime: d.uvarint(), Group: d.varint(), BootID: d.name()}
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
	d.open(v, encodingVersion)
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
	r.Driver = d.proc()
	r.Deadline = d.time()
	r.Reason = d.string()
	r.SpecHash = d.hash()
	return d.close()
}

func (d *decoder) head(v []byte, h *Head) string {
	d.open(v, encodingVersion)
	h.VM = d.name()
	h.State = states.State(d.byte())
	h.Seq = d.uvarint()
	h.VMSeq = d.uvarint()
	h.Since = d.time()
	h.Event = states.Event(d.byte())
	h.Reason = d.string()
	h.Agent = d.proc()
	h.Driver = d.proc()
	h.Deadline = d.time()
	h.SpecHash = d.hash()
	return d.close()
}

// boot decodes a boot of any version; one of version 1 has no flags and
// an empty BootInfo.
func (d *decoder) boot(v []byte, b *Boot) string {
	version := d.open(v, bootEncodingVersion)
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

package fleet

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/lifeline-vm/lifeline/api"
)

// encodeRecord returns the JSON of r, byte for byte what json.Marshal
// writes (the same keys in the same order, the same omissions, strings
// escaped as encoding/json escapes them, HTML characters included, times
// as time.Time.MarshalJSON, the cause's durations as api.Cause.MarshalJSON
// writes them): a catch-up publishes every record of the log, and
// json.Marshal's reflection was the largest part of the publisher's own
// CPU. The readers of the stream (fleet.History, replay --fleet, fleet
// events) still decode it with json.Unmarshal. What the hand-written
// encoder cannot write the same (a time outside the years 0–9999) goes
// to json.Marshal, with its error. TestEncodeRecordIsJSONMarshal and
// FuzzEncodeRecord hold the two equal.
func encodeRecord(r *api.Record) ([]byte, error) {
	if b, ok := appendRecord(make([]byte, 0, 256+len(r.Reason)+len(r.Cause.Detail)+len(r.Cause.Err)), r); ok {
		return b, nil
	}
	return json.Marshal(r)
}

// appendRecord appends r's JSON to b (the publisher's one buffer, reused
// a record); false when it cannot (a time json.Marshal refuses), and the
// caller then uses json.Marshal, as encodeRecord does.
func appendRecord(b []byte, r *api.Record) ([]byte, bool) {
	ok := true
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"vmSeq":`...)
	b = strconv.AppendUint(b, r.VMSeq, 10)
	b = append(b, `,"vm":`...)
	b = appendJSONString(b, r.VM)
	b = append(b, `,"event":`...)
	b = appendJSONString(b, string(r.Event))
	b = append(b, `,"from":`...)
	b = appendJSONString(b, string(r.From))
	b = append(b, `,"to":`...)
	b = appendJSONString(b, string(r.To))
	b = append(b, `,"time":`...)
	b, ok = appendJSONTime(b, r.Time)
	if !ok {
		return b, false
	}
	b = append(b, `,"boot":`...)
	b = strconv.AppendUint(b, r.Boot, 10)
	if !r.HostAgent.IsZero() { // omitzero: Proc.IsZero
		b = append(b, `,"hostAgent":`...)
		b = appendProc(b, &r.HostAgent)
	}
	if !r.VMProcess.IsZero() {
		b = append(b, `,"driver":`...)
		b = appendProc(b, &r.VMProcess)
	}
	if !r.Deadline.IsZero() { // omitzero: Time.IsZero
		b = append(b, `,"deadline":`...)
		if b, ok = appendJSONTime(b, r.Deadline); !ok {
			return b, false
		}
	}
	if r.Cause != (api.Cause{}) { // omitzero: Cause has no IsZero, so its zero value
		b = append(b, `,"cause":`...)
		if b, ok = appendCause(b, &r.Cause); !ok {
			return b, false
		}
	}
	if r.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, r.Reason)
	}
	if r.SpecHash != "" {
		b = append(b, `,"specHash":`...)
		b = appendJSONString(b, r.SpecHash)
	}
	return append(b, '}'), true
}

func appendProc(b []byte, p *api.Proc) []byte {
	b = append(b, `{"pid":`...)
	b = strconv.AppendInt(b, p.PID, 10)
	b = append(b, `,"startTime":`...)
	b = strconv.AppendUint(b, p.StartTime, 10)
	b = append(b, `,"group":`...)
	b = strconv.AppendInt(b, p.Group, 10)
	if p.BootID != "" {
		b = append(b, `,"bootID":`...)
		b = appendJSONString(b, p.BootID)
	}
	return append(b, '}')
}

// appendCause writes what api.Cause.MarshalJSON does: its fields in
// order, then its durations in milliseconds.
func appendCause(b []byte, c *api.Cause) ([]byte, bool) {
	b = append(b, `{"kind":`...)
	b = appendJSONString(b, string(c.Kind))
	if c.Code != 0 {
		b = append(b, `,"exitCode":`...)
		b = strconv.AppendInt(b, int64(c.Code), 10)
	}
	if c.Signal != 0 {
		b = append(b, `,"signal":`...)
		b = strconv.AppendInt(b, int64(c.Signal), 10)
	}
	if c.Exiting {
		b = append(b, `,"exiting":true`...)
	}
	if !c.Deadline.IsZero() {
		b = append(b, `,"deadline":`...)
		var ok bool
		if b, ok = appendJSONTime(b, c.Deadline); !ok {
			return b, false
		}
	}
	if c.PID != 0 {
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, c.PID, 10)
	}
	if c.VMProcessPID != 0 {
		b = append(b, `,"driverPID":`...)
		b = strconv.AppendInt(b, c.VMProcessPID, 10)
	}
	if c.Err != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, c.Err)
	}
	if c.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, c.Detail)
	}
	if c.N != 0 {
		b = append(b, `,"n":`...)
		b = strconv.AppendInt(b, int64(c.N), 10)
	}
	if c.Limit != 0 {
		b = append(b, `,"limit":`...)
		b = strconv.AppendInt(b, int64(c.Limit), 10)
	}
	for _, d := range [...]struct {
		key string
		d   time.Duration
	}{{`,"windowMs":`, c.Window}, {`,"backoffMs":`, c.Backoff}, {`,"graceMs":`, c.Grace}} {
		if ms := float64(d.d) / float64(time.Millisecond); ms != 0 { // omitempty
			b = append(b, d.key...)
			b = appendJSONFloat(b, ms)
		}
	}
	return append(b, '}'), true
}

// appendJSONTime writes t as time.Time.MarshalJSON does; false where it
// returns an error.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	b = append(b, '"')
	b, err := t.AppendText(b)
	if err != nil {
		return b, false
	}
	return append(b, '"'), true
}

// appendJSONFloat writes a finite float64 as encoding/json does.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// "e-09" becomes "e-9", as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as encoding/json does by default: quoted,
// with '"', '\\' and the control characters escaped, '<', '>' and '&'
// as \u003c, \u003e and \u0026, invalid UTF-8 as \ufffd, and U+2028 and
// U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

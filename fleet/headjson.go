package fleet

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/lifeline-vm/lifeline/api"
)

// decodeHead decodes a head (an api.VM as JSON) into *vm, which must be
// zero, exactly as json.Unmarshal does: the fleet view decodes 10,000 of
// them, and json.Unmarshal's reflection was most of its CPU. The fast
// path reads the JSON the publisher writes (json.Marshal of an api.VM) in
// one pass; anything it does not expect (a key it does not know or spelt
// in another case, a null, a number with a
// fraction or exponent, trailing bytes) gives the whole value to
// json.Unmarshal, so the result and the errors are json.Unmarshal's
// (FuzzDecodeHead compares them).
func decodeHead(data []byte, vm *api.VM) error {
	if fastHead(data, vm) {
		return nil
	}
	*vm = api.VM{}
	return json.Unmarshal(data, vm)
}

// fastHead decodes data into vm when it is one JSON object of api.VM's
// own keys with plain values; false leaves vm partly set.
func fastHead(data []byte, vm *api.VM) bool {
	s := scanner{b: data}
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return s.end()
	}
	for {
		key, ok := s.str()
		if !ok || !s.byte(':') {
			return false
		}
		var v string
		switch key {
		case "name":
			vm.Name, ok = s.str()
		case "state":
			v, ok = s.str()
			vm.State = api.State(v)
		case "seq":
			vm.Seq, ok = s.uint()
		case "vmSeq":
			vm.VMSeq, ok = s.uint()
		case "since":
			ok = s.time(&vm.Since)
		case "event":
			v, ok = s.str()
			vm.Event = api.Event(v)
		case "cause":
			ok = s.object(&vm.Cause)
		case "reason":
			vm.Reason, ok = s.str()
		case "hostAgentPID":
			vm.HostAgentPID, ok = s.int()
		case "driverPID":
			vm.VMProcessPID, ok = s.int()
		case "deadline":
			ok = s.time(&vm.Deadline)
		case "ready":
			vm.Ready, ok = s.str()
		case "driver":
			vm.Driver, ok = s.str()
		case "env":
			vm.Env, ok = s.strs()
		case "autostart":
			vm.Autostart, ok = s.bool()
		case "unrecorded":
			vm.Unrecorded, ok = s.str()
		case "degraded":
			vm.Degraded, ok = s.bool()
		case "agentError":
			vm.AgentError, ok = s.str()
		case "agentErrorAt":
			ok = s.time(&vm.AgentErrorAt)
		case "instanceDir":
			vm.InstanceDir, ok = s.str()
		case "agentLogs":
			vm.AgentLogs, ok = s.strs()
		default:
			return false
		}
		if !ok {
			return false
		}
		if s.byte(',') {
			continue
		}
		return s.byte('}') && s.end()
	}
}

// scanner reads the JSON values fastHead knows; each method says false
// for anything else.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c after white space.
func (s *scanner) byte(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end: nothing but white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// rawStr returns a string token with its quotes, and whether it must be
// unquoted by json.Unmarshal (an escape, or bytes that are not UTF-8,
// which it replaces); false for a control character, which JSON refuses.
func (s *scanner) rawStr() (tok []byte, unquote, ok bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, false
	}
	ascii := true
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			tok = s.b[s.i : j+1]
			s.i = j + 1
			return tok, unquote || (!ascii && !utf8.Valid(tok)), true
		case c == '\\':
			unquote = true
			j++
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false, false
}

func (s *scanner) str() (string, bool) {
	tok, unquote, ok := s.rawStr()
	if !ok {
		return "", false
	}
	if unquote {
		var v string
		return v, json.Unmarshal(tok, &v) == nil
	}
	return string(tok[1 : len(tok)-1]), true
}

// digits returns a JSON integer token (no fraction, no exponent).
func (s *scanner) digits() (string, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	d := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == d || (s.i-d > 1 && s.b[d] == '0') {
		return "", false // no digit, or a leading zero: not JSON
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return "", false
		}
	}
	return string(s.b[start:s.i]), true
}

func (s *scanner) uint() (uint64, bool) {
	tok, ok := s.digits()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(tok, 10, 64)
	return n, err == nil
}

func (s *scanner) int() (int64, bool) {
	tok, ok := s.digits()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(tok, 10, 64)
	return n, err == nil
}

func (s *scanner) bool() (bool, bool) {
	s.ws()
	switch {
	case len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		s.i += 4
		return true, true
	case len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		s.i += 5
		return false, true
	}
	return false, false
}

// time decodes a string as time.Time's UnmarshalJSON does.
func (s *scanner) time(t *time.Time) bool {
	tok, _, ok := s.rawStr()
	return ok && t.UnmarshalJSON(tok) == nil
}

// strs decodes an array of strings: a new slice, empty and not nil for
// [], as json.Unmarshal makes into a nil slice.
func (s *scanner) strs() ([]string, bool) {
	if !s.byte('[') {
		return nil, false
	}
	out := []string{}
	if s.byte(']') {
		return out, true
	}
	for {
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if s.byte(',') {
			continue
		}
		return out, s.byte(']')
	}
}

// object hands an object value (up to its matching brace, strings
// skipped) to json.Unmarshal into v.
func (s *scanner) object(v any) bool {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	depth, inStr := 0, false
	for j := s.i; j < len(s.b); j++ {
		c := s.b[j]
		if inStr {
			switch c {
			case '\\':
				j++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				if c != '}' || json.Unmarshal(s.b[s.i:j+1], v) != nil {
					return false
				}
				s.i = j + 1
				return true
			}
		}
	}
	return false
}

// encodeHead returns the JSON of a head, byte for byte what json.Marshal
// writes of an api.VM (the same keys in the same order, the same
// omissions, strings, times and the cause as encoding/json writes them):
// the host writes a head for every VM that changed, and json.Marshal's
// reflection was most of that write's CPU. The fleet view reads it with
// decodeHead (its fast path), anything else with json.Unmarshal. What
// the hand-written encoder cannot write the same (a time outside the
// years 0–9999) goes to json.Marshal, with its error.
// TestEncodeHeadIsJSONMarshal and FuzzEncodeHead hold the two equal.
func encodeHead(v *api.VM) ([]byte, error) {
	if b, ok := appendHead(make([]byte, 0, 256+len(v.Reason)+len(v.Cause.Err)+len(v.Cause.Detail)), v); ok {
		return b, nil
	}
	return json.Marshal(v)
}

// appendHead appends v's JSON to b (the heads writer's one buffer, reused
// a head); false when it cannot (a time json.Marshal refuses), and the
// caller then uses json.Marshal, as encodeHead does.
func appendHead(b []byte, v *api.VM) ([]byte, bool) {
	ok := true
	b = append(b, `{"name":`...)
	b = appendJSONString(b, v.Name)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, string(v.State))
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, v.Seq, 10)
	b = append(b, `,"vmSeq":`...)
	b = strconv.AppendUint(b, v.VMSeq, 10)
	b = append(b, `,"since":`...)
	if b, ok = appendJSONTime(b, v.Since); !ok {
		return b, false
	}
	b = append(b, `,"event":`...)
	b = appendJSONString(b, string(v.Event))
	if v.Cause != (api.Cause{}) { // omitzero: Cause has no IsZero, so its zero value
		b = append(b, `,"cause":`...)
		if b, ok = appendCause(b, &v.Cause); !ok {
			return b, false
		}
	}
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, v.Reason)
	b = append(b, `,"hostAgentPID":`...)
	b = strconv.AppendInt(b, v.HostAgentPID, 10)
	b = append(b, `,"driverPID":`...)
	b = strconv.AppendInt(b, v.VMProcessPID, 10)
	if !v.Deadline.IsZero() { // omitzero: Time.IsZero
		b = append(b, `,"deadline":`...)
		if b, ok = appendJSONTime(b, v.Deadline); !ok {
			return b, false
		}
	}
	b = appendOptString(b, `,"ready":`, v.Ready)
	b = appendOptString(b, `,"driver":`, v.Driver)
	b = appendOptStrings(b, `,"env":`, v.Env)
	if v.Autostart {
		b = append(b, `,"autostart":true`...)
	}
	b = appendOptString(b, `,"unrecorded":`, v.Unrecorded)
	if v.Degraded {
		b = append(b, `,"degraded":true`...)
	}
	b = appendOptString(b, `,"agentError":`, v.AgentError)
	if !v.AgentErrorAt.IsZero() {
		b = append(b, `,"agentErrorAt":`...)
		if b, ok = appendJSONTime(b, v.AgentErrorAt); !ok {
			return b, false
		}
	}
	b = appendOptString(b, `,"instanceDir":`, v.InstanceDir)
	b = appendOptStrings(b, `,"agentLogs":`, v.AgentLogs)
	return append(b, '}'), true
}

// appendOptString writes key and s unless s is empty (omitempty).
func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

// appendOptStrings writes key and ss as a JSON array unless ss is empty
// (omitempty: nil and [] alike).
func appendOptStrings(b []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, key...)
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

package fleet

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// headSamples are heads as the publisher writes them, and values
// json.Unmarshal treats in ways the fast path must leave to it.
func headSamples() []string {
	since := time.Date(2026, 12, 1, 4, 5, 6, 789, time.UTC)
	vms := []api.VM{
		{},
		{Name: "runner-001", State: "Running", Seq: 12, VMSeq: 4, Since: since, Event: "running", HostAgentPID: 20001, Driver: "lima"},
		{Name: "web.1", State: "Failed", Seq: 1 << 60, VMSeq: 9, Since: since.In(time.FixedZone("x", 3600)), Event: "exited",
			Cause:  api.Cause{Kind: "agent-exit", Code: -1, Signal: 9, Exiting: true, PID: 7, VMProcessPID: 8, Err: "killed \"hard\"\n", Deadline: since},
			Reason: "the agent exited: ünïcode \u2028 <tag> & more", VMProcessPID: 33, Deadline: since.Add(time.Minute), Ready: "ssh",
			Env: []string{"A=1", "B=x\"y"}, Autostart: true, Unrecorded: "disk full",
			Degraded: true, AgentError: "port forwarding: <failed>", AgentErrorAt: since, InstanceDir: "/var/lib/lifeline/lima/web.1", AgentLogs: []string{"ha.stderr.log", "serial.log"}},
		{Name: "e", Env: []string{}},
	}
	var out []string
	for _, v := range vms {
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	return append(out,
		`{"name":"a","name":"b"}`,
		`{"Name":"case"}`,
		`{"name":null}`,
		`{"seq":1.0}`, `{"seq":1e3}`, `{"seq":-1}`, `{"seq":01}`, `{"seq":18446744073709551616}`,
		`{"hostAgentPID":-0}`, `{"hostAgentPID":-}`,
		`{"since":"not a time"}`, `{"since":"2026-12-01T04:05:06Z"}`, `{"since":null}`,
		`{"env":["a",1]}`, `{"env":null}`, `{"env":[ "a" , "b" ]}`,
		`{"autostart":tru}`, `{"autostart":false}`, `{"degraded":false,"agentLogs":[],"agentErrorAt":"2026-12-01T04:05:06+01:00"}`, `{"agentLogs":null}`,
		`{"cause":{"kind":"x","error":"}{\"}"},"name":"after"}`, `{"cause":{"kind":"a"},"cause":{"exitCode":3}}`, `{"cause":{]}`, `{"cause":[]}`,
		`{"name":"esc\u0041ped"}`, "{\"name\":\"bad\xff\"}", "{\"name\":\"ctl\x01\"}",
		` { "name" : "ws" , "seq" : 3 } `, `{"name":"x"} trailing`, `{"name":"x",}`, `{}`, `{`, ``, `[]`, `null`, `{"unknown":1}`,
	)
}

// TestDecodeHeadAsJSON: the fleet view's fast head decoder gives what
// json.Unmarshal gives (the value, or an error where it errs) for the
// publisher's heads and for values it must hand over.
func TestDecodeHeadAsJSON(t *testing.T) {
	for _, in := range headSamples() {
		sameAsJSON(t, []byte(in))
	}
	// The publisher's own heads take the fast path, escapes included.
	for _, in := range headSamples()[:4] {
		var vm api.VM
		if !fastHead([]byte(in), &vm) {
			t.Errorf("%s: not decoded by the fast path", in)
		}
	}
}

func sameAsJSON(t *testing.T, in []byte) {
	t.Helper()
	var want, got api.VM
	werr := json.Unmarshal(in, &want)
	gerr := decodeHead(in, &got)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("%q: error %v, json.Unmarshal's %v", in, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decoded\n %#v\njson.Unmarshal\n %#v", in, got, want)
	}
}

// FuzzDecodeHead: any input decodes as json.Unmarshal decodes it.
func FuzzDecodeHead(f *testing.F) {
	for _, in := range headSamples() {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) { sameAsJSON(t, in) })
}

// BenchmarkDecodeHead: one head as the publisher writes it, by decodeHead
// and by json.Unmarshal.
func BenchmarkDecodeHead(b *testing.B) {
	now := time.Now().UTC()
	in, _ := json.Marshal(api.VM{Name: "runner-042", State: "Running", Seq: 168, VMSeq: 4, Since: now, Event: "running", HostAgentPID: 20042, Driver: "lima"})
	b.Run("decodeHead", func(b *testing.B) {
		for range b.N {
			var vm api.VM
			if err := decodeHead(in, &vm); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		for range b.N {
			var vm api.VM
			if err := json.Unmarshal(in, &vm); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// checkEncodeHead fails unless encodeHead(v) is json.Marshal(v), byte for
// byte (or both fail), and unless what it wrote decodes, by the fleet
// view's decodeHead and by json.Unmarshal, to what json.Marshal's bytes
// decode to by json.Unmarshal.
func checkEncodeHead(t *testing.T, v api.VM) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := encodeHead(&v)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("head %#v: json.Marshal error %v, encodeHead error %v", v, werr, gerr)
	}
	if werr != nil {
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("head %#v:\nencodeHead   %s\njson.Marshal %s", v, got, want)
	}
	var a, b, c api.VM
	if err := json.Unmarshal(want, &a); err != nil {
		t.Fatalf("json.Unmarshal(json.Marshal) %s: %v", want, err)
	}
	if err := decodeHead(got, &b); err != nil {
		t.Fatalf("decodeHead(encodeHead) %s: %v", got, err)
	}
	if err := json.Unmarshal(got, &c); err != nil {
		t.Fatalf("json.Unmarshal(encodeHead) %s: %v", got, err)
	}
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) {
		t.Fatalf("decoded differ:\njson.Marshal+Unmarshal %#v\ndecodeHead(encodeHead)  %#v\nUnmarshal(encodeHead)   %#v", a, b, c)
	}
}

func randStrings(rng *rand.Rand) []string {
	switch rng.Intn(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	out := make([]string, rng.Intn(4)+1)
	for i := range out {
		out[i] = randString(rng)
	}
	return out
}

func randHead(rng *rand.Rand) api.VM {
	v := api.VM{
		Name: randString(rng), State: api.State(randString(rng)), Seq: rng.Uint64() >> rng.Intn(64), VMSeq: rng.Uint64() >> rng.Intn(64),
		Since: randTime(rng), Event: api.Event(randString(rng)), Reason: randString(rng),
		HostAgentPID: randInt(rng), VMProcessPID: randInt(rng), Deadline: randTime(rng),
		Ready: randString(rng), Driver: randString(rng), Env: randStrings(rng), Autostart: rng.Intn(2) == 0,
		Unrecorded: randString(rng), Degraded: rng.Intn(3) == 0, AgentError: randString(rng), AgentErrorAt: randTime(rng),
		InstanceDir: randString(rng), AgentLogs: randStrings(rng),
	}
	if rng.Intn(3) != 0 {
		v.Cause = api.Cause{Kind: randCauseKind(rng), Code: int(randInt(rng)), Signal: rng.Intn(3) * rng.Intn(64), Exiting: rng.Intn(2) == 0,
			Deadline: randTime(rng), PID: randInt(rng), VMProcessPID: randInt(rng), Err: randString(rng), Detail: randString(rng),
			N: rng.Intn(3) * rng.Intn(10), Limit: int(randInt(rng)), Window: randDuration(rng), Backoff: randDuration(rng), Grace: randDuration(rng)}
		if rng.Intn(4) == 0 {
			v.Cause = api.Cause{Kind: v.Cause.Kind}
		}
	}
	if rng.Intn(10) == 0 {
		v.Since = time.Time{}.In(time.Local) // zero instant, not the zero value
	}
	return v
}

// TestEncodeHeadIsJSONMarshal: the heads writer's hand-written encoder of
// an api.VM writes what json.Marshal writes, byte for byte, for random
// heads with every field, zero values, escapes, unicode and invalid UTF-8,
// and what it writes decodes (by the fleet view's decodeHead and by
// json.Unmarshal) to what the json.Marshal+Unmarshal round trip gives.
// Replay with FLEET_SEED.
func TestEncodeHeadIsJSONMarshal(t *testing.T) {
	rng := rand.New(rand.NewSource(seed(t)))
	checkEncodeHead(t, api.VM{})
	checkEncodeHead(t, api.VM{Env: []string{}, AgentLogs: []string{}})
	checkEncodeHead(t, api.VM{Cause: api.Cause{Kind: "requested"}, Degraded: true, AgentErrorAt: time.Unix(1, 2).UTC()})
	for range 20000 {
		checkEncodeHead(t, randHead(rng))
	}
}

// TestEncodeHeadOfEngineVMs: heads as the host writes them
// (server.VMOf of the engine's VMs), one of every cause kind; each takes
// the fleet view's fast path.
func TestEncodeHeadOfEngineVMs(t *testing.T) {
	rng := rand.New(rand.NewSource(seed(t)))
	now := time.Now()
	for k := store.CauseKind(0); k.Valid(); k++ {
		for range 50 {
			var v engine.VM
			v.Name, v.State, v.Seq, v.VMSeq = randString(rng), states.State(rng.Intn(12)), rng.Uint64(), uint64(rng.Intn(100))
			v.Since, v.Event, v.Reason = now.Add(time.Duration(rng.Int63n(1e15))), states.Event(rng.Intn(20)), randString(rng)
			v.Cause = store.Cause{Kind: k, Code: rng.Intn(3) - 1, Signal: rng.Intn(10), Detail: randString(rng), Err: randString(rng),
				N: rng.Intn(5), Limit: rng.Intn(5), Window: randDuration(rng), Backoff: randDuration(rng), Grace: randDuration(rng)}
			v.Agent.PID = rng.Intn(3) * rng.Intn(1<<22)
			v.Spec.Driver, v.Spec.Ready, v.Spec.Autostart = randString(rng), randString(rng), rng.Intn(2) == 0
			if rng.Intn(2) == 0 {
				v.Spec.Env = map[string]string{randString(rng): randString(rng), "B": randString(rng)}
			}
			head := server.VMOf(v)
			checkEncodeHead(t, head)
			b, err := encodeHead(&head)
			if err != nil {
				t.Fatal(err)
			}
			var got api.VM
			if !fastHead(b, &got) {
				t.Fatalf("%s: not decoded by the fleet view's fast path", b)
			}
		}
	}
}

// FuzzEncodeHead: any strings, numbers and times.
func FuzzEncodeHead(f *testing.F) {
	f.Add(uint64(1), "vm-1", "Running", "requested", "a \"b\"\n<c>", int64(1), int64(1e9), int64(0), true)
	f.Add(uint64(0), "", "", "", "\xff\u2028", int64(-1), int64(-1), int64(1), false)
	f.Fuzz(func(t *testing.T, seq uint64, name, state, kind, text string, pid, ns, offset int64, flag bool) {
		tm := time.Unix(0, ns).In(time.FixedZone("z", int(offset%86400)))
		v := api.VM{Name: name, State: api.State(state), Seq: seq, VMSeq: seq / 3, Since: tm, Event: api.Event(kind),
			Cause:  api.Cause{Kind: api.CauseKind(kind), Code: int(pid), Deadline: tm, PID: pid, Err: text, Detail: name, Window: time.Duration(ns)},
			Reason: text, HostAgentPID: pid, VMProcessPID: -pid, Deadline: tm, Ready: text, Driver: kind, Env: []string{text, name},
			Autostart: flag, Unrecorded: text, Degraded: !flag, AgentError: text, AgentErrorAt: tm, InstanceDir: name, AgentLogs: []string{state}}
		if flag {
			v.Cause, v.Env, v.AgentLogs = api.Cause{}, nil, []string{}
		}
		checkEncodeHead(t, v)
	})
}

// BenchmarkEncodeHead: a running VM's head, as the host writes it, with
// encodeHead and with json.Marshal.
func BenchmarkEncodeHead(b *testing.B) {
	v := api.VM{Name: "runner-042", State: "Running", Seq: 168, VMSeq: 4, Since: time.Now().UTC(), Event: "running",
		Cause: api.Cause{Kind: "requested"}, HostAgentPID: 20042, Driver: "lima"}
	b.Run("encodeHead", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := encodeHead(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := json.Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

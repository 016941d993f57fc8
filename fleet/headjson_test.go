package fleet

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
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
			Env: []string{"A=1", "B=x\"y"}, Autostart: true, Unrecorded: "disk full"},
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
		`{"autostart":tru}`, `{"autostart":false}`,
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

package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// keys returns the JSON object keys v marshals to, sorted.
func keys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// filled returns v with every field set to a non-zero value, so that no
// omitempty hides a key.
func filled[T any](t *testing.T) T {
	t.Helper()
	var v T
	fill(t, reflect.ValueOf(&v).Elem())
	return v
}

func fill(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint64:
		v.SetUint(1)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("x"))
		} else {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			fill(t, v.Index(0))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem())
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf("v"))
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1, 0).UTC()))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i))
		}
	default:
		t.Fatalf("fill: %s", v.Type())
	}
}

// The wire's field names are what clients of earlier versions decode
// (internal/api's JSON): a rename breaks them, so each type's keys are
// listed here, and only additions are allowed.
func TestWireFieldNamesUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []string
		old  []string // what earlier versions sent; the new keys must include them
		new  []string // keys added since
	}{
		{"VM", keys(t, filled[VM](t)), []string{"deadline", "driver", "driverPID", "env", "event", "hostAgentPID", "name", "ready", "reason", "seq", "since", "state", "unrecorded", "vmSeq"}, []string{"agentError", "agentErrorAt", "agentLogs", "autostart", "cause", "degraded", "instanceDir"}},
		{"Record", keys(t, filled[Record](t)), []string{"boot", "deadline", "driver", "event", "from", "hostAgent", "reason", "seq", "specHash", "time", "to", "vm", "vmSeq"}, []string{"cause"}},
		{"Proc", keys(t, filled[Proc](t)), []string{"bootID", "group", "pid", "startTime"}, nil},
		{"ErrorBody", keys(t, filled[ErrorBody](t)), []string{"code", "message", "state", "vm"}, []string{"command"}},
		{"StreamError", keys(t, filled[StreamError](t)), []string{"code", "error", "resumeSeq"}, nil},
		{"Result", keys(t, filled[Result](t)), []string{"name", "seq", "state"}, nil},
		{"Info", keys(t, filled[Info](t)), []string{"boot", "dataDir", "db", "pid", "version"}, nil},
		{"CreateRequest", keys(t, filled[CreateRequest](t)), []string{"name", "spec"}, nil},
		{"UpdateRequest", keys(t, filled[UpdateRequest](t)), []string{"spec"}, nil},
		{"StopRequest", keys(t, filled[StopRequest](t)), []string{"force"}, []string{"grace"}},
		{"Spec", keys(t, filled[Spec](t)), []string{"command", "driver", "env", "ready", "restart", "template"}, []string{"autostart", "gracefulTimeout"}},
		{"ImportRequest", keys(t, filled[ImportRequest](t)), nil, []string{"all", "names", "spec"}},
		{"ImportResult", keys(t, filled[ImportResult](t)), nil, []string{"error", "name", "seq", "state"}},
		{"AgentEvent", keys(t, filled[AgentEvent](t)), nil, []string{"status", "time"}},
		{"AgentEventStatus", keys(t, filled[AgentEventStatus](t)), nil, []string{"degraded", "errors", "exiting", "running", "sshLocalPort"}},
	} {
		want := slices.Sorted(slices.Values(append(slices.Clone(tc.old), tc.new...)))
		if !slices.Equal(tc.got, want) {
			t.Errorf("%s marshals the keys %q, want %q (earlier versions' %q plus %q)", tc.name, tc.got, want, tc.old, tc.new)
		}
	}
}

// The codes are the strings earlier versions sent; clients switch on them.
func TestCodesUnchanged(t *testing.T) {
	for code, want := range map[Code]string{
		CodeInvalid: "invalid", CodeNotFound: "not_found", CodeExists: "exists",
		CodeRejected: "rejected", CodeStillAlive: "still_alive", CodeShuttingDown: "shutting_down",
		CodeTimeout: "timeout", CodeTooSlow: "too_slow", CodeInternal: "internal",
		CodeNoLog: "no_log",
	} {
		if string(code) != want {
			t.Errorf("code %q, earlier versions sent %q", code, want)
		}
	}
}

// A record line with a field this version does not know (the typed cause
// a later daemon adds) still decodes.
func TestRecordDecodesUnknownFields(t *testing.T) {
	line := `{"seq":7,"vmSeq":3,"vm":"vm1","event":"crashed","from":"Running","to":"Broken","time":"2026-01-02T03:04:05Z","boot":2,"hostAgent":{"pid":42,"startTime":9,"group":42},"reason":"agent exited unasked: exit status 1","cause":{"kind":"agent_exit","code":1}}`
	var r Record
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	if r.Seq != 7 || r.Event != EventCrashed || r.From != Running || r.To != Broken || r.HostAgent.PID != 42 || r.Boot != 2 {
		t.Errorf("decoded %+v", r)
	}
}

// TestCauseDurationsNameTheirUnit: a cause's durations are milliseconds in
// JSON, under names that say so; the nanoseconds earlier versions sent
// under bare names still decode (issue 12 item 9).
func TestCauseDurationsNameTheirUnit(t *testing.T) {
	c := Cause{Kind: "restart_policy", N: 1, Limit: 5, Window: 10 * time.Minute, Backoff: 1500 * time.Microsecond, Grace: 5 * time.Second}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"kind":"restart_policy","n":1,"limit":5,"windowMs":600000,"backoffMs":1.5,"graceMs":5000}`; string(b) != want {
		t.Errorf("marshals %s, want %s", b, want)
	}
	var back Cause
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Errorf("reads back %+v, %v; want %+v", back, err, c)
	}
	old := `{"kind":"restart_policy","n":1,"limit":5,"window":600000000000,"backoff":1500000,"grace":5000000000}`
	back = Cause{Detail: "stale"}
	if err := json.Unmarshal([]byte(old), &back); err != nil || back != c {
		t.Errorf("an earlier version's cause reads %+v, %v; want %+v", back, err, c)
	}
}

package server

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// api's names of the states and events are the table's, in its order, and
// api's InFlight is the table's: package api may not import states.
func TestWireNamesMatchTheTable(t *testing.T) {
	var want []api.State
	for _, s := range states.AllStates() {
		want = append(want, api.State(s.String()))
		if got := api.State(s.String()).InFlight(); got != s.InFlight() {
			t.Errorf("api.State(%s).InFlight() = %v, the table says %v", s, got, s.InFlight())
		}
	}
	if got := api.States(); !slices.Equal(got, want) {
		t.Errorf("api.States() = %q, the table's states are %q", got, want)
	}
	var events []api.Event
	for _, e := range states.AllEvents() {
		events = append(events, api.Event(e.String()))
	}
	if got := api.Events(); !slices.Equal(got, events) {
		t.Errorf("api.Events() = %q, the table's events are %q", got, events)
	}
}

// nonZero fails the test when a field of v (recursively, for structs that
// are not times) is zero: a field the test left out would hide a field the
// conversion drops.
func nonZero(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	if v.Kind() == reflect.Struct && v.Type() != reflect.TypeFor[time.Time]() {
		for i := range v.NumField() {
			nonZero(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
		return
	}
	if v.IsZero() {
		t.Fatalf("%s is zero: fill it in, so that the test sees whether the wire carries it", path)
	}
}

func jsonMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The events stream sends api.Record, no longer the store's record: every
// field the log keeps must reach the wire with the JSON the store gives
// it. A field added to store.Record (a typed cause) fails here until
// api.Record and RecordOf carry it.
func TestRecordOfCarriesEveryField(t *testing.T) {
	rec := store.Record{
		Seq: 12, VMSeq: 4, VM: "vm1", Event: states.StopTimeout, From: states.Stopping, To: states.ForceStopping,
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Boot: 3,
		Agent:     store.Proc{PID: 100, StartTime: 7, Group: 100, BootID: "b"},
		VMProcess: store.Proc{PID: 101, StartTime: 8, Group: 101, BootID: "b"},
		Deadline:  time.Date(2026, 1, 2, 3, 4, 35, 0, time.UTC),
		Cause: store.Cause{Kind: store.CauseGracefulDeadline, Code: 1, Signal: 2, Exiting: true, Deadline: time.Date(2026, 1, 2, 3, 4, 35, 0, time.UTC),
			PID: 100, VMProcessPID: 101, Err: "e", Detail: "d", N: 1, Limit: 5, Window: time.Minute, Backoff: time.Second, Grace: 5 * time.Second},
		Reason: "graceful deadline passed", SpecHash: store.SpecHash{1, 2, 3},
	}
	nonZero(t, "store.Record", reflect.ValueOf(rec))
	want, got := jsonMap(t, rec), jsonMap(t, RecordOf(rec))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the wire's record differs from the log's:\n got %v\nwant %v", got, want)
	}
}

// A spec crosses the wire whole: api.Spec has the JSON of drivers.Spec,
// field for field, so that a create or update loses nothing.
func TestSpecCrossesWhole(t *testing.T) {
	want := api.Spec{Driver: "command", Template: []byte("vmType: qemu\n"), Command: []string{"sleep", "600"}, Env: map[string]string{"A": "1"}, Ready: api.ReadyAgent, Restart: api.RestartOnFailure, GracefulTimeout: 2 * time.Minute, Autostart: true}
	nonZero(t, "api.Spec", reflect.ValueOf(want))
	d := driverSpec(want)
	nonZero(t, "drivers.Spec", reflect.ValueOf(d))
	if got, w := jsonMap(t, d), jsonMap(t, want); !reflect.DeepEqual(got, w) {
		t.Errorf("drivers.Spec %v, api.Spec %v: the two specs differ", got, w)
	}
	// Both types have the same fields: a field added to drivers.Spec must
	// be added to api.Spec.
	if n, m := reflect.TypeFor[drivers.Spec]().NumField(), reflect.TypeFor[api.Spec]().NumField(); n != m {
		t.Errorf("drivers.Spec has %d fields, api.Spec %d: add the new field to api.Spec and driverSpec", n, m)
	}
}

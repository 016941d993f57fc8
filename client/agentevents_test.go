package client_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lima-vm/lima/pkg/hostagent/events"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// limaLine is one event as Lima's host agent writes it (its own type).
func limaLine(t *testing.T, st events.Status, at time.Time) string {
	t.Helper()
	b, err := json.Marshal(events.Event{Time: at, Status: st})
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// TestAgentEventReaderSkipsWhatIsNotAnEvent: Lima's own event lines are
// read as api.AgentEvent, field for field; a garbage line, a JSON line
// without a status, a line longer than MaxAgentEventLine and a partial
// line at the end are skipped and counted, never fatal, whatever the
// chunks the stream arrives in (a seed from LIFELINE_CHUNK_SEED replays
// one).
func TestAgentEventReaderSkipsWhatIsNotAnEvent(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LIFELINE_CHUNK_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("LIFELINE_CHUNK_SEED=%q: %v", s, err)
		}
	}
	t.Logf("chunk seed %d (LIFELINE_CHUNK_SEED=%d replays it)", seed, seed)
	rnd := rand.New(rand.NewPCG(seed, seed))

	at := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	stream := limaLine(t, events.Status{SSHLocalPort: 60022}, at) +
		"not json at all\n" +
		`{"level":"info","msg":"a log line, no status"}` + "\n" +
		"\n" + // an empty line is nothing, not a skipped event
		`{"status":` + strings.Repeat(" ", client.MaxAgentEventLine+10) + `{"running":true}}` + "\n" +
		limaLine(t, events.Status{Running: true, Degraded: true, Errors: []string{"port forwarding failed"}, SSHLocalPort: 60022}, at.Add(time.Second)) +
		limaLine(t, events.Status{Exiting: true}, at.Add(2*time.Second)) +
		`{"time":"2026-12-01T04:00:03Z","status":{"runn` // the agent died mid-line
	want := []api.AgentEvent{
		{Time: at, Status: api.AgentEventStatus{SSHLocalPort: 60022}},
		{Time: at.Add(time.Second), Status: api.AgentEventStatus{Running: true, Degraded: true, Errors: []string{"port forwarding failed"}, SSHLocalPort: 60022}},
		{Time: at.Add(2 * time.Second), Status: api.AgentEventStatus{Exiting: true}},
	}
	for round := range 20 {
		var got []api.AgentEvent
		r := &client.AgentEventReader{Fn: func(ev api.AgentEvent) { got = append(got, ev) }}
		for rest := stream; rest != ""; {
			n := min(len(rest), 1+rnd.IntN(4096))
			if round == 0 {
				n = len(rest) // one write
			}
			if w, err := r.Write([]byte(rest[:n])); w != n || err != nil {
				t.Fatalf("Write = %d, %v; want %d, nil", w, err, n)
			}
			rest = rest[n:]
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: events\n%#v\nwant\n%#v", round, got, want)
		}
		if r.Skipped() != 3 || !r.Partial() || r.Lines() != 7 {
			t.Fatalf("round %d: skipped %d, partial %v, lines %d; want 3 (garbage, no status, too long), true, 7", round, r.Skipped(), r.Partial(), r.Lines())
		}
	}

	// The next answer passes over what the last one read, and reads the
	// line that was partial once it is whole.
	var got []api.AgentEvent
	r := &client.AgentEventReader{Skip: 7, Fn: func(ev api.AgentEvent) { got = append(got, ev) }}
	fmt.Fprint(r, stream+`ning":false}}`+"\n")
	if len(got) != 1 || !got[0].Time.Equal(at.Add(3*time.Second)) || r.Skipped() != 0 || r.Partial() {
		t.Errorf("after Skip 7: %+v, skipped %d, partial %v; want the one finished event", got, r.Skipped(), r.Partial())
	}
}

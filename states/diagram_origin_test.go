package states

import "testing"

// Every event is drawn as what it is: an event added to the table without
// an origin would fall through to none and be drawn as a mixed self-loop.
func TestEveryEventHasAnOrigin(t *testing.T) {
	for _, ev := range AllEvents() {
		if o := ev.Origin(); o != Command && o != Observation && o != Decision {
			t.Errorf("event %s has no origin (%v): give it one in Event.Origin", ev, o)
		}
	}
	if Release.Origin() != Command {
		t.Errorf("release is what a user asks: origin %v, want command", Release.Origin())
	}
}

package cli

import (
	"testing"

	"github.com/lifeline-vm/lifeline/api"
)

// TestAgentEventText: each kind of Lima status event says what it
// reports, as limactl start does.
func TestAgentEventText(t *testing.T) {
	for _, c := range []struct {
		st   api.AgentEventStatus
		want string
	}{
		{api.AgentEventStatus{SSHLocalPort: 60022}, "starting; ssh on 127.0.0.1:60022"},
		{api.AgentEventStatus{Running: true, SSHLocalPort: 60022}, "running; ssh on 127.0.0.1:60022"},
		{api.AgentEventStatus{Running: true, Degraded: true, Errors: []string{"a", "b"}, SSHLocalPort: 60022}, "degraded: a; b"},
		{api.AgentEventStatus{Errors: []string{"failed to start"}}, "error: failed to start"},
		{api.AgentEventStatus{Exiting: true, SSHLocalPort: 60022}, "exiting"},
		{api.AgentEventStatus{}, "starting"},
	} {
		if got := agentEventText(c.st); got != c.want {
			t.Errorf("%+v: %q, want %q", c.st, got, c.want)
		}
	}
}

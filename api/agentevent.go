package api

import "time"

// AgentEvent is one status event of a VM's agent, as the agent writes it
// (GET /v1/vms/{name}/logs?events=1, one a line): the shape of Lima's host
// agent events (Lima's pkg/hostagent/events.Event, in ha.stdout.log), which
// `limactl start` prints as its progress. A VM whose driver has no such
// events (command) has none.
type AgentEvent struct {
	Time   time.Time        `json:"time,omitzero"`
	Status AgentEventStatus `json:"status"`
}

// AgentEventStatus is what an [AgentEvent] reports.
type AgentEventStatus struct {
	// Running: the guest is up (with Degraded, only partly).
	Running bool `json:"running,omitempty"`
	// Degraded: the guest runs, but file sharing or port forwarding may
	// not work; Errors say why.
	Degraded bool `json:"degraded,omitempty"`
	// Exiting: the agent is on its way out.
	Exiting bool `json:"exiting,omitempty"`
	// Errors are the agent's error messages.
	Errors []string `json:"errors,omitempty"`
	// SSHLocalPort is the host port the guest's ssh is forwarded to.
	SSHLocalPort int `json:"sshLocalPort,omitempty"`
}

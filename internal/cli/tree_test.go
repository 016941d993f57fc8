package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestLifelinedVerbs: the command lines lifeline runs in lifelined are
// the ones naming a verb that lives there (with flags before it, after
// `help`, in a completion request) and any but daemon's with --fleet or
// --host; every other one runs in lifeline.
func TestLifelinedVerbs(t *testing.T) {
	for _, tc := range []struct {
		args string
		verb string
		in   bool
	}{
		{"replay verify --db x", "replay", true},
		{"--data-dir /x -o json replay at --seq 3", "replay", true},
		{"replay verfy", "replay", true},
		{"help replay timeline", "replay", true},
		{"__complete replay ", "replay", true},
		{"__completeNoDesc fleet l", "fleet", true},
		{"fleet list", "fleet", true},
		{"graph --format dot", "graph", true},
		{"demo --keep", "demo", true},
		{"agent-sim --pidfile p --socket s vm1", "agent-sim", false},
		{"demo-daemon --data-dir d", "demo-daemon", true},
		{"status vm1 --host h1", "status", true},
		{"--fleet=nats://x:4222 --host h1 stop vm1", "stop", true},
		{"status vm1", "status", false},
		{"-o json status vm1", "status", false},
		{"ls -q", "list", false},
		{"help status", "", false},
		{"__complete st", "", false},
		{"__complete status ", "status", false},
		{"daemon --fleet nats://x:4222 --fleet-host h1", "daemon", false},
		{"create vm1 -- /bin/echo --host", "create", false},
		{"--fleet-creds c status vm1", "status", false},
		{"repaly", "", false},
		{"--version", "", false},
		{"", "", false},
	} {
		args := strings.Fields(tc.args)
		if strings.HasSuffix(tc.args, " ") {
			args = append(args, "")
		}
		verb, in := lifelinedVerb(newRootCommand(thinTree(args)), args)
		if in != tc.in || (tc.verb != "" && verb != tc.verb) {
			t.Errorf("lifeline %s: verb %q, in lifelined %v; want %q, %v", tc.args, verb, in, tc.verb, tc.in)
		}
	}
}

// TestCompletionRequestCompletesFlagValues: the flag values' completions,
// registered only for a completion request, are there when one comes.
func TestCompletionRequestCompletesFlagValues(t *testing.T) {
	for args, want := range map[string]string{
		"__complete list -o ":              "json",
		"__completeNoDesc wait vm1 --for ": "state=Running",
		"__complete create vm1 --ready ":   "agent",
		"__complete --log-format ":         "console",
	} {
		a := append(strings.Fields(args), "")
		var out, errOut bytes.Buffer
		if code := run(context.Background(), a, &out, &errOut); code != 0 {
			t.Errorf("lifeline %s: exit %d: %s", args, code, errOut.String())
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("lifeline %s completes\n%s\nwithout %q", args, out.String(), want)
		}
	}
}

package agentsim

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
)

// testRoleEnv switches the test binary into agent-sim: set to "agent", the
// binary is what `lifeline agent-sim` is, minus cobra.
const testRoleEnv = "AGENTSIM_TEST_ROLE"

func TestMain(m *testing.M) {
	if os.Getenv(testRoleEnv) == "agent" {
		os.Exit(agentMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// agentMain mirrors lifeline-cli's agent-sim command (internal/cli): the same calls, the
// same exit statuses (2 for usage, 1 for errors).
func agentMain(args []string) int {
	cfg, err := ConfigFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent-sim:", err)
		return 2
	}
	if len(args) > 0 && args[0] == "--driver-child" {
		if err := RunDriver(context.Background(), cfg, os.Stdout); err != nil {
			return 1
		}
		return 0
	}
	fs := flag.NewFlagSet("agent-sim", flag.ContinueOnError)
	pidfile := fs.String("pidfile", "", "")
	socket := fs.String("socket", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "agent-sim: usage: --pidfile P --socket S NAME")
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent-sim:", err)
		return 1
	}
	err = Run(context.Background(), Options{
		Name:       fs.Arg(0),
		PIDFile:    *pidfile,
		Socket:     *socket,
		DriverArgv: []string{exe, "--driver-child", fs.Arg(0)},
		Config:     cfg,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent-sim:", err)
		return 1
	}
	return 0
}

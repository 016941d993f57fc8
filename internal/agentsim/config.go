package agentsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The environment variables that set an agent's behaviour.
const (
	EnvStartDelay            = "LIFELINE_SIM_START_DELAY"
	EnvNeverRunning          = "LIFELINE_SIM_NEVER_RUNNING"
	EnvIgnoreSIGINT          = "LIFELINE_SIM_IGNORE_SIGINT"
	EnvIgnoreSIGTERM         = "LIFELINE_SIM_IGNORE_SIGTERM"
	EnvCrashAfter            = "LIFELINE_SIM_CRASH_AFTER"
	EnvOrphanDriver          = "LIFELINE_SIM_ORPHAN_DRIVER"
	EnvExitZeroLeavingDriver = "LIFELINE_SIM_EXIT_ZERO_LEAVING_DRIVER"
	EnvFailStart             = "LIFELINE_SIM_FAIL_START"
	EnvDegraded              = "LIFELINE_SIM_DEGRADED"
)

// Knob documents one environment variable.
type Knob struct {
	Name    string // the variable, e.g. LIFELINE_SIM_START_DELAY
	Example string // a value, e.g. 2s
	Help    string // what it does
}

// Knobs lists every environment variable [ConfigFromEnv] reads, in the
// order the help shows them.
var Knobs = []Knob{
	{EnvStartDelay, "2s", `wait this long before reporting "running": true`},
	{EnvNeverRunning, "1", `never report running (the socket still answers)`},
	{EnvIgnoreSIGINT, "1", `ignore SIGINT (the driver child too)`},
	{EnvIgnoreSIGTERM, "1", `ignore SIGTERM (the driver child too)`},
	{EnvCrashAfter, "5s", `exit 1 that long after "running", killing its driver child (no "exiting"; ha.pid, ha.sock, qemu.pid stay)`},
	{EnvOrphanDriver, "1", `when the agent dies or exits, its driver child stays alive`},
	{EnvExitZeroLeavingDriver, "1", `at start, remove qemu.pid and exit 0 while the driver child lives on (Lima's trap)`},
	{EnvFailStart, "1", `print an error event and exit 1 at start`},
	{EnvDegraded, "'port forwarding failed'", `report "running" degraded, with this error (Lima's "degraded": true)`},
}

// KnobsHelp renders [Knobs] for a command's help, one per line.
func KnobsHelp() string {
	var b strings.Builder
	for _, k := range Knobs {
		fmt.Fprintf(&b, "  %s=%s\n      %s\n", k.Name, k.Example, k.Help)
	}
	return b.String()
}

// Config is an agent's behaviour, read from the environment by
// [ConfigFromEnv]. The zero Config is a well-behaved agent that reports
// running at once.
type Config struct {
	StartDelay            time.Duration // before "running": true
	NeverRunning          bool          // never report running
	IgnoreSIGINT          bool          // agent and driver child ignore SIGINT
	IgnoreSIGTERM         bool          // agent and driver child ignore SIGTERM
	CrashAfter            time.Duration // exit 1 this long after running; 0: never
	OrphanDriver          bool          // leave the driver child alive on any exit
	ExitZeroLeavingDriver bool          // Lima's trap: exit 0 at start, driver left alive
	FailStart             bool          // error event and exit 1 at start
	Degraded              string        // "running" is degraded, with this error; "": not
}

// ConfigFromEnv reads the LIFELINE_SIM_* variables through getenv (pass
// os.Getenv). An unset or empty variable takes its default; a value that does
// not parse gives a [*KnobError] naming the variable. Durations use
// time.ParseDuration ("2s", "150ms") and may not be negative; booleans use
// strconv.ParseBool ("1", "true", "0", "false").
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	p := knobParser{getenv: getenv}
	c.StartDelay = p.duration(EnvStartDelay)
	c.NeverRunning = p.bool(EnvNeverRunning)
	c.IgnoreSIGINT = p.bool(EnvIgnoreSIGINT)
	c.IgnoreSIGTERM = p.bool(EnvIgnoreSIGTERM)
	c.CrashAfter = p.duration(EnvCrashAfter)
	c.OrphanDriver = p.bool(EnvOrphanDriver)
	c.ExitZeroLeavingDriver = p.bool(EnvExitZeroLeavingDriver)
	c.FailStart = p.bool(EnvFailStart)
	c.Degraded = getenv(EnvDegraded)
	if p.err != nil {
		return Config{}, p.err
	}
	return c, nil
}

// knobParser keeps the first error, so ConfigFromEnv reads like a list.
type knobParser struct {
	getenv func(string) string
	err    error
}

func (p *knobParser) bool(name string) bool {
	v := p.getenv(name)
	if v == "" || p.err != nil {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.err = &KnobError{Name: name, Value: v, Want: "a boolean such as 1 or 0"}
	}
	return b
}

func (p *knobParser) duration(name string) time.Duration {
	v := p.getenv(name)
	if v == "" || p.err != nil {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		p.err = &KnobError{Name: name, Value: v, Want: `a non-negative duration such as "2s"`}
		return 0
	}
	return d
}

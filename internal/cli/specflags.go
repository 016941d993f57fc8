package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/lifeline-vm/lifeline/api"
	"github.com/spf13/cobra"
)

// specFlags are the flags that make a spec (create, update).
type specFlags struct {
	driver    string
	command   []string // after "--"
	template  string
	ready     string
	restart   string
	env       []string
	graceful  time.Duration
	autostart bool
}

func (f *specFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.driver, "driver", "", `the VM's driver: lima (Lima's host agent; the default) or command (the program after "--"); implied by a command`)
	cmd.Flags().StringVar(&f.template, "template", "", "Lima template (YAML file), lima driver only; default: a minimal template with a blank local disk")
	cmd.Flags().StringVar(&f.ready, "ready", "", "when a lima VM counts as Running: guest (Lima's \"running\" event: the guest booted, its guest agent answered; the default with --template) or agent (the host agent answers on its socket; the default without --template, whose blank disk boots no guest)")
	cmd.Flags().StringArrayVar(&f.env, "env", nil, "KEY=VALUE added to the host agent's environment (repeatable)")
	cmd.Flags().StringVar(&f.restart, "restart", "no", "restart policy: no, or on-failure (after a crash, with backoff and a limit)")
	cmd.Flags().BoolVar(&f.autostart, "autostart", false, "start the VM whenever the daemon starts (at login or boot with contrib's units), if it is Stopped then")
	cmd.Flags().DurationVar(&f.graceful, "graceful-timeout", 0, "how long a stop waits for this VM's guest to power off before forcing it, 1s to 1h (default: the daemon's --graceful-timeout, "+limaDefaultGrace.String()+" with Lima's host agent)")
}

// setCommand takes the arguments after "--" (cobra's ArgsLenAtDash) as the
// command's argv, as `docker run IMAGE CMD...` does; nothing may come
// between NAME and "--".
func (f *specFlags) setCommand(cmd *cobra.Command, args []string) ([]string, error) {
	dash := cmd.ArgsLenAtDash()
	if dash < 0 {
		return args, nil
	}
	if dash != 1 {
		return nil, usageError{fmt.Errorf("%s: want NAME, then the command after \"--\"", cmd.Name())}
	}
	f.command = args[dash:]
	if len(f.command) == 0 {
		return nil, usageError{fmt.Errorf("%s: nothing after \"--\": give the program and its arguments", cmd.Name())}
	}
	return args[:dash], nil
}

// driverOf checks --driver against the command and the template: a command
// is the command driver's section, a template Lima's.
func (f *specFlags) driverOf() (string, error) {
	d := f.driver
	if d == "" && len(f.command) > 0 {
		d = "command"
	}
	switch d {
	case "", "lima":
		if len(f.command) > 0 {
			return "", usageError{fmt.Errorf(`--driver lima runs Lima's host agent: no command after "--" (use --driver command)`)}
		}
	case "command":
		if len(f.command) == 0 {
			return "", usageError{fmt.Errorf(`--driver command: give the program after "--", e.g. -- /usr/bin/python3 -m http.server 8080`)}
		}
		if f.template != "" {
			return "", usageError{fmt.Errorf("--template is for the lima driver, not --driver command")}
		}
	}
	// Another name goes to the daemon, which knows its drivers and refuses
	// one it has not, naming the VM and the field.
	return d, nil
}

func (f *specFlags) spec() (api.Spec, error) {
	var s api.Spec
	d, err := f.driverOf()
	if err != nil {
		return s, err
	}
	s.Driver, s.Command = d, f.command
	switch f.ready {
	case "", "guest", "agent":
		s.Ready = f.ready
	default:
		return s, usageError{fmt.Errorf("--ready %q: want guest or agent", f.ready)}
	}
	switch f.restart {
	case "", "no":
	case api.RestartOnFailure:
		s.Restart = f.restart
	default:
		return s, usageError{fmt.Errorf("--restart %q: want no or on-failure", f.restart)}
	}
	s.GracefulTimeout = f.graceful
	s.Autostart = f.autostart
	for _, kv := range f.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return s, usageError{fmt.Errorf("--env %q: want KEY=VALUE", kv)}
		}
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		s.Env[k] = v
	}
	if f.template != "" {
		b, err := os.ReadFile(f.template)
		if err != nil {
			return s, usageError{fmt.Errorf("--template: %w", err)}
		}
		if err := checkYAML(b); err != nil {
			return s, usageError{fmt.Errorf("--template %s: not a YAML document: %w", f.template, err)}
		}
		s.Template = b
	}
	return s, nil
}

func checkYAML(b []byte) error {
	var v any
	return yaml.Unmarshal(b, &v)
}

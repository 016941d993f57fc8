package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/lima"
)

// printResult prints what a command did.
func printResult(w io.Writer, g *globals, r api.Result, verb string) error {
	if g.json() {
		return writeJSON(w, r)
	}
	_, err := fmt.Fprintf(w, "%s: %s (%s, seq %d)\n", r.Name, verb, r.State, r.Seq)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// specFlags are the flags that make a spec (create, update).
type specFlags struct {
	driver   string
	command  []string // after "--"
	template string
	ready    string
	restart  string
	env      []string
	graceful time.Duration
}

func (f *specFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.driver, "driver", "", `the VM's driver: lima (Lima's host agent; the default) or command (the program after "--"); implied by a command`)
	cmd.Flags().StringVar(&f.template, "template", "", "Lima template (YAML file), lima driver only; default: a minimal template with a blank local disk")
	cmd.Flags().StringVar(&f.ready, "ready", "", "when a lima VM counts as Running: guest (Lima's \"running\" event: the guest booted, its guest agent answered; the default with --template) or agent (the host agent answers on its socket; the default without --template, whose blank disk boots no guest)")
	cmd.Flags().StringArrayVar(&f.env, "env", nil, "KEY=VALUE added to the host agent's environment (repeatable)")
	cmd.Flags().StringVar(&f.restart, "restart", "no", "restart policy: no, or on-failure (after a crash, with backoff and a limit)")
	cmd.Flags().DurationVar(&f.graceful, "graceful-timeout", 0, "how long a stop waits for this VM's guest to power off before forcing it, 1s to 1h (default: the daemon's --graceful-timeout, "+lima.DefaultGracefulTimeout.String()+" with Lima's host agent)")
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

func newCreateCommand(g *globals) *cobra.Command {
	f := &specFlags{}
	cmd := &cobra.Command{
		Use:   "create NAME [--driver command] [-- PROGRAM ARGS...]",
		Short: "Define a VM (it starts Stopped): a Lima VM, or any command to supervise",
		Example: `  lifeline create vm1 --template vm1.yaml
  lifeline create web --driver command -- /usr/bin/python3 -m http.server 8080`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := f.setCommand(cmd, args)
			if err != nil {
				return err
			}
			if err := exactArgs(1)(cmd, args); err != nil {
				return err
			}
			spec, err := f.spec()
			if err != nil {
				return err
			}
			r, err := g.client().Create(cmd.Context(), args[0], spec)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), g, r, "created")
		},
	}
	f.add(cmd)
	return cmd
}

func newUpdateCommand(g *globals) *cobra.Command {
	f := &specFlags{}
	cmd := &cobra.Command{
		Use:   "update NAME (--template FILE | -- PROGRAM ARGS...)",
		Short: "Give a VM a new spec (a Running VM restarts to apply it; its driver stays)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := f.setCommand(cmd, args)
			if err != nil {
				return err
			}
			if err := exactArgs(1)(cmd, args); err != nil {
				return err
			}
			if f.template == "" && len(f.command) == 0 {
				return usageError{fmt.Errorf(`update: --template (a lima VM) or a command after "--" (a command VM) is required`)}
			}
			spec, err := f.spec()
			if err != nil {
				return err
			}
			r, err := g.client().Update(cmd.Context(), args[0], spec)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), g, r, "updated")
		},
	}
	f.add(cmd)
	return cmd
}

// waitFlags are --wait and --timeout.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (f *waitFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until the VM settles (Running, Stopped or Broken)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", DefaultWaitTimeout, "bound of --wait")
}

// settle waits, from the record at seq on, until the VM is no longer in
// flight, and fails unless it ends in want.
func settle(ctx context.Context, c *client.Client, name string, seq uint64, want api.State, timeout time.Duration) (api.State, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var state api.State
	errSettled := fmt.Errorf("settled")
	err := c.Events(ctx, client.EventsOptions{VM: name, Since: seq + 1, Follow: true}, func(r api.Record) error {
		state = r.To
		if state.InFlight() {
			return nil
		}
		if state != want {
			return fmt.Errorf("vm %q: ended %s, not %s: %s %s", name, state, want, r.Event, r.Reason)
		}
		return errSettled
	})
	switch {
	case err == errSettled:
		return state, nil
	case ctx.Err() != nil:
		return state, timeoutError{fmt.Errorf("vm %q: still %s after %v", name, state, timeout)}
	case err == nil:
		return state, fmt.Errorf("vm %q: the daemon ended the event stream while the vm was %s", name, state)
	}
	return state, err
}

func newStartCommand(g *globals) *cobra.Command {
	f := &waitFlags{}
	cmd := &cobra.Command{
		Use:   "start NAME",
		Short: "Start a Stopped VM",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.client().Start(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.wait {
				st, err := settle(cmd.Context(), g.client(), args[0], r.Seq, api.Running, f.timeout)
				if err != nil {
					return err
				}
				r.State = st
			}
			return printResult(cmd.OutOrStdout(), g, r, "started")
		},
	}
	f.add(cmd)
	return cmd
}

func newStopCommand(g *globals) *cobra.Command {
	f := &waitFlags{}
	var force bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a VM: interrupt, then force at the graceful deadline",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if force && grace != 0 {
				return usageError{fmt.Errorf("stop: --grace and --force exclude each other: --force kills at once, --grace waits")}
			}
			r, err := g.client().StopWith(cmd.Context(), args[0], api.StopRequest{Force: force, Grace: grace})
			if err != nil {
				return err
			}
			if f.wait {
				st, err := settle(cmd.Context(), g.client(), args[0], r.Seq, api.Stopped, f.timeout)
				if err != nil {
					return err
				}
				r.State = st
			}
			return printResult(cmd.OutOrStdout(), g, r, "stopped")
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "kill the process tree at once")
	cmd.Flags().DurationVar(&grace, "grace", 0, "for this stop only, how long the guest has to power off before it is forced, 1s to 1h (default: the VM's --graceful-timeout, else the daemon's)")
	f.add(cmd)
	return cmd
}

func simpleCommand(g *globals, use, short, verb string, call func(c *client.Client, ctx context.Context, name string) (api.Result, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := call(g.client(), cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), g, r, verb)
		},
	}
}

func newResetCommand(g *globals) *cobra.Command {
	return simpleCommand(g, "reset NAME", "Clear a Broken VM back to Stopped (nothing of it may still run)", "reset", (*client.Client).Reset)
}

func newDeleteCommand(g *globals) *cobra.Command {
	return simpleCommand(g, "delete NAME", "Delete a Stopped or Broken VM (its log stays)", "deleted", (*client.Client).Delete)
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

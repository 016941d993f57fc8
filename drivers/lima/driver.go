package lima

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/lima-vm/lima/pkg/identifiers"
	"github.com/lima-vm/lima/pkg/store/filenames"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/internal/atomicfile"
)

// Every default time bound of the package, named once.
const (
	// PollInterval is the longest pause of the event tail: between two
	// reads of ha.stdout.log that found nothing new, the watch waits
	// firstPoll, doubling up to PollInterval, and goes back to firstPoll
	// when a line arrives. An exit of the agent ends the pause at once.
	PollInterval = 200 * time.Millisecond
	// InfoTimeout bounds one GET /v1/info on ha.sock.
	InfoTimeout = 2 * time.Second
	// OutsideStopWait bounds how long a watch whose agent exited looks
	// for the evidence of a stop from outside that comes after the exit
	// (outside.go): the files `limactl stop -f` removes just after its
	// kills, a killed QEMU's end.
	OutsideStopWait = 2 * time.Second
	// firstPoll is the first pause of the tail.
	firstPoll = 5 * time.Millisecond
)

// Environment variables the driver sets for the host agent.
const (
	// EnvLimaHome is Lima's own variable for its home directory.
	EnvLimaHome = "LIMA_HOME"
)

// Ready modes of a spec (drivers.Spec.Ready).
const (
	// ReadyGuest: Running on the host agent's `"running": true` event
	// (the guest booted and Lima's requirements passed). The default.
	ReadyGuest = "guest"
	// ReadyAgent: Running once the host agent answers GET /v1/info on
	// ha.sock and its VM driver process runs: what `limactl list` calls
	// Running. For guests without SSH (a blank disk, an appliance).
	ReadyAgent = "agent"
)

// The instance files the driver reads and writes besides Lima's own
// (pkg/store/filenames).
const (
	// RememberedDriverFile holds the identity (pid, start time, boot id;
	// see process.WritePIDFile) of the VM driver process the driver saw
	// for the instance. It outlives qemu.pid, which a host agent removes
	// when its own QEMU fails (the measured trap), so a live QEMU is still
	// known. It ends in ".pid": Cleanup, and `limactl stop -f`, remove it
	// with the other stale files.
	RememberedDriverFile = "lifeline-driver.pid"
)

// driverPIDFiles are the pid files a Lima VM driver process may have, one
// per vmType (filenames.PIDFile): QEMU writes qemu.pid, the vz driver
// vz.pid, WSL2 wsl2.pid. The driver does not parse lima.yaml, so it looks
// at each.
var driverPIDFiles = []string{filenames.PIDFile("qemu"), filenames.PIDFile("vz"), filenames.PIDFile("wsl2")}

// PrepareFunc does, before each spawn of a real host agent, what Lima's
// instance.Prepare does in `limactl start`: base disk, diff disk, guest
// agent. It returns extra arguments for the host agent (for example
// "--guestagent", PATH), placed before the instance name. Its error ends
// the start: the engine records it as the start_failed reason.
type PrepareFunc func(ctx context.Context, inst Instance) ([]string, error)

// Instance is what a [PrepareFunc] is told about the instance to prepare.
type Instance struct {
	Name         string   // the VM, Lima's instance name
	Dir          string   // the instance directory, <LimaHome>/<Name>
	LimaHome     string   // the driver's LIMA_HOME
	HostAgentCmd []string // the host agent command, e.g. [limactl hostagent]
	Env          []string // the host agent's environment
}

// Options configure a [Driver]. The zero Options drive `limactl hostagent`
// in Lima's default home.
type Options struct {
	// LimaHome is the directory of Lima instances. Empty means Lima's
	// default: $LIMA_HOME, or ~/.lima.
	LimaHome string
	// HostAgentCmd is the host agent's program and its first arguments;
	// the driver appends Lima's (--pidfile, --socket, [--debug], NAME).
	// Empty means {"limactl", "hostagent"}; `lifeline agent-sim` is
	// {"/path/to/lifeline", "agent-sim"}.
	HostAgentCmd []string
	// Env is the host agent's base environment; nil means the daemon's.
	// LIMA_HOME and the spec's variables are set on top.
	Env []string
	// Prepare runs before each spawn (see [PrepareFunc]); nil prepares
	// nothing, which is right for agent-sim and for an instance whose
	// disks exist. Real Lima needs package limaprep's Prepare.
	Prepare PrepareFunc
	// Debug passes --debug to the host agent (Lima's `limactl --debug`):
	// set it when the daemon logs at debug level.
	Debug bool
	// Logger receives the driver's own events. Default: zerolog.Nop().
	Logger zerolog.Logger
	// ValidateTemplate, if set, checks a template against Lima's schema in
	// ValidateSpec (package limaprep's ValidateTemplate).
	ValidateTemplate TemplateValidator
	// GracefulTimeout is the graceful timeout of a VM whose spec sets
	// none (the driver's [drivers.GraceDefaulter] answer). Zero means
	// [DefaultGracefulTimeout] when the host agent is limactl's, and the
	// engine's default for any other (agent-sim stops at once).
	GracefulTimeout time.Duration
}

// Driver is the [drivers.Driver] for Lima instances; see the package doc.
type Driver struct {
	home    string
	cmd     []string
	env     []string
	prepare PrepareFunc
	debug   bool
	log     zerolog.Logger

	validateTemplate TemplateValidator
	grace            time.Duration

	mu       sync.Mutex
	children map[string]*process.Process // agents this Driver spawned, by VM
}

var (
	_ drivers.Driver         = (*Driver)(nil)
	_ drivers.GraceDefaulter = (*Driver)(nil)
)

// New returns a Driver with o's settings.
func New(o Options) (*Driver, error) {
	home := o.LimaHome
	if home == "" {
		var err error
		if home, err = DefaultLimaHome(); err != nil {
			return nil, fmt.Errorf("lima: %w", err)
		}
	}
	home, err := filepath.Abs(home)
	if err != nil {
		return nil, fmt.Errorf("lima: home %q: %w", o.LimaHome, err)
	}
	cmd := o.HostAgentCmd
	if len(cmd) == 0 {
		cmd = []string{"limactl", "hostagent"}
	}
	grace := o.GracefulTimeout
	if grace == 0 && filepath.Base(cmd[0]) == "limactl" {
		grace = DefaultGracefulTimeout
	}
	return &Driver{
		grace:    grace,
		home:     home,
		cmd:      append([]string(nil), cmd...),
		env:      o.Env,
		prepare:  o.Prepare,
		debug:    o.Debug,
		log:      o.Logger,
		children: map[string]*process.Process{},

		validateTemplate: o.ValidateTemplate,
	}, nil
}

// DefaultLimaHome is Lima's home directory as limactl finds it: $LIMA_HOME,
// else ~/.lima (Lima's pkg/store/dirnames, without resolving symlinks).
func DefaultLimaHome() (string, error) {
	if dir := os.Getenv(EnvLimaHome); dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".lima"), nil
}

// LimaHome returns the driver's LIMA_HOME.
func (d *Driver) LimaHome() string { return d.home }

// InstanceDir returns vm's instance directory, <LimaHome>/<vm>. The name
// must be a Lima instance name (pkg/identifiers, no .yaml suffix), which is
// always a single safe path component.
func (d *Driver) InstanceDir(vm string) (string, error) {
	if err := identifiers.Validate(vm); err != nil {
		return "", fmt.Errorf("vm %q: not a Lima instance name: %w", vm, err)
	}
	if l := strings.ToLower(vm); strings.HasSuffix(l, ".yaml") || strings.HasSuffix(l, ".yml") {
		return "", fmt.Errorf("vm %q: not a Lima instance name: ends in .yaml or .yml", vm)
	}
	return filepath.Join(d.home, vm), nil
}

// Define creates or rewrites vm's instance directory the way `limactl
// create` does (pkg/instance/create.go): the directory (mode 0700), lima.yaml
// from spec.Template, and lima-version. It does not validate the template
// against Lima's schema (that needs pkg/limayaml, see package limaprep) and
// writes no cloud-config.yaml; the host agent makes its cidata itself.
// lima.yaml is replaced atomically (and left alone when it already holds
// the template), so a concurrent reader never sees half of it, and every file and directory it writes is synced (atomicfile)
// before it returns: a define that returned survives a power cut.
func (d *Driver) Define(_ context.Context, vm string, spec drivers.Spec) error {
	dir, err := d.InstanceDir(vm)
	if err != nil {
		return err
	}
	if err := checkSpec(spec); err != nil {
		return fmt.Errorf("vm %q: define: %w", vm, err)
	}
	if err := d.checkPaths(vm); err != nil {
		return fmt.Errorf("vm %q: define: %w", vm, err)
	}
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("vm %q: define: %w", vm, err)
	}
	// The same definition is not written again: an imported instance's
	// lima.yaml stays the file limactl wrote.
	yamlPath := filepath.Join(dir, filenames.LimaYAML)
	if cur, err := os.ReadFile(yamlPath); err != nil || !bytes.Equal(cur, spec.Template) {
		if err := writeFileAtomic(yamlPath, spec.Template, 0o644); err != nil {
			return fmt.Errorf("vm %q: define: %w", vm, err)
		}
	}
	versionFile := filepath.Join(dir, filenames.LimaVersion)
	if _, err := os.Stat(versionFile); errors.Is(err, os.ErrNotExist) {
		if err := writeFileAtomic(versionFile, []byte(limaVersion()), 0o444); err != nil {
			return fmt.Errorf("vm %q: define: %w", vm, err)
		}
	}
	return nil
}

// checkSpec refuses what no host agent can run.
func checkSpec(spec drivers.Spec) error {
	if len(strings.TrimSpace(string(spec.Template))) == 0 {
		return fmt.Errorf("template: %w: empty (see DefaultTemplate)", ErrBadSpec)
	}
	switch spec.Ready {
	case "", ReadyGuest, ReadyAgent:
	default:
		return fmt.Errorf("ready: %w: %q: want %q or %q", ErrBadSpec, spec.Ready, ReadyGuest, ReadyAgent)
	}
	return nil
}

// LimaModuleVersion is the version of github.com/lima-vm/lima in go.mod,
// for builds without module information (test binaries); a test keeps it
// equal to go.mod's.
const LimaModuleVersion = "v1.2.3"

// limaVersion is the version of the Lima module this program was built
// with ("v1.2.3"), which `limactl create` writes to lima-version.
func limaVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/lima-vm/lima" {
				if m.Replace != nil && m.Replace.Version != "" {
					return m.Replace.Version
				}
				return m.Version
			}
		}
	}
	return LimaModuleVersion
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	return atomicfile.WriteBytes(path, b, mode)
}

// Remove deletes vm's instance the way `limactl delete` does
// (pkg/instance/delete.go): it refuses a protected instance, and then
// removes the whole directory. Unlike Lima it kills nothing: the engine calls
// Remove after the delete record cleared every recorded identity, so a
// process still named by the instance's pid files is one lifeline cannot
// prove is the instance's; Remove refuses (ErrAgentAlive, ErrDriverAlive)
// rather than delete the files of a live VM.
func (d *Driver) Remove(_ context.Context, vm string) error {
	dir, err := d.InstanceDir(vm)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Lstat(filepath.Join(dir, filenames.Protected)); err == nil {
		return fmt.Errorf("vm %q: remove: %w (limactl unprotect %s)", vm, ErrProtected, vm)
	}
	if err := d.checkNothingRuns(vm, dir); err != nil {
		return fmt.Errorf("vm %q: remove: %w", vm, err)
	}
	d.forget(vm)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("vm %q: remove: %w", vm, err)
	}
	return nil
}

// child returns the agent this Driver spawned for vm, if it has identity p.
func (d *Driver) child(vm string, p drivers.Proc) *process.Process {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.children[vm]
	if c == nil || c.Proc != p {
		return nil
	}
	return c
}

// spawned returns the last agent this Driver spawned for vm, if any.
func (d *Driver) spawned(vm string) *process.Process {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.children[vm]
}

// forget drops the spawned agent of vm, if any.
func (d *Driver) forget(vm string) {
	d.mu.Lock()
	delete(d.children, vm)
	d.mu.Unlock()
}

var _ drivers.Locator = (*Driver)(nil)

// Locate names vm's instance directory under the driver's LIMA_HOME and
// the host agent's logs in it: ha.stderr.log (its log), ha.stdout.log
// (its events).
func (d *Driver) Locate(vm string) (drivers.Location, error) {
	dir, err := d.InstanceDir(vm)
	if err != nil {
		return drivers.Location{}, err
	}
	return drivers.Location{Dir: dir, AgentLogs: []string{
		filepath.Join(dir, filenames.HostAgentStderrLog),
		filepath.Join(dir, filenames.HostAgentStdoutLog),
	}}, nil
}

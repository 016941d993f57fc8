//go:build linux

package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/internal/daemon"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// The storm's knobs, read from the environment.
const (
	envStormSeed     = "LIFELINE_STORM_SEED"     // replay a run's choices
	envStormDuration = "LIFELINE_STORM_DURATION" // e.g. 10m
	envStormClients  = "LIFELINE_STORM_CLIENTS"
	envStormVMs      = "LIFELINE_STORM_VMS"
	envStormKills    = "LIFELINE_STORM_KILLS" // daemon SIGKILLs; default one per stormKillEvery
	envStormKeep     = "LIFELINE_STORM_KEEP"  // keep the database and logs here (always, not only on failure)
	// envStormAgentDelay (e.g. 15ms) starts each host agent through a
	// shell script that sleeps that long and then execs agent-sim: slower
	// agent starts, as when the agent runs through another exec. Unset:
	// agent-sim is started directly.
	envStormAgentDelay = "LIFELINE_STORM_AGENT_DELAY"
)

// Defaults and bounds, named once.
const (
	stormDuration      = 60 * time.Second // go test ./... (CI runs the storm this long)
	stormShortDuration = 15 * time.Second // go test -short
	stormClients       = 8
	stormVMs           = 10
	stormKillEvery     = 8 * time.Second
	// stormKillPhase is the part of the run in which the daemon is
	// killed; the rest runs on one daemon, so that its goroutines and
	// file descriptors compare between two quiet moments of one process.
	stormKillPhase = 0.6
	// stormSampleEvery is how often the sampler compares /proc with the
	// daemon's status.
	stormSampleEvery = 500 * time.Millisecond
	// stormUnnamedFor is how long a process may run unnamed by the log
	// (or for a VM that holds no process) before it counts as leaked: a
	// process exists a moment before its spawned record, and a killed
	// one a moment after the record that ended it.
	stormUnnamedFor = 3 * time.Second
	// The daemon's timeouts in the storm: short, so that stops escalate
	// and restarts happen within the run.
	stormGraceful     = time.Second
	stormStartTimeout = 4 * time.Second
	stormBackoff      = 200 * time.Millisecond
	stormBackoffMax   = 2 * time.Second
	// stormRestartWindow is short, so that the restart limit (5) does
	// not end the restarts of a VM that crashes again and again.
	stormRestartWindow = 10 * time.Second
	// stormSettle bounds stop-all: graceful + terminate grace (5s) +
	// margin, several rounds.
	stormSettle = 90 * time.Second
	// stormExitWait bounds a daemon's exit after SIGKILL or SIGINT.
	stormExitWait = 60 * time.Second
	// Growth allowed between the two quiet moments.
	stormGoroutineSlack = 10
	stormFDSlack        = 4
	// stormReplayWait bounds each `lifeline replay` run.
	stormReplayWait = 5 * time.Minute
)

type stormConfig struct {
	seed     uint64
	duration time.Duration
	clients  int
	vms      int
	kills    int
	// agentDelay, when not zero, delays each host agent's start.
	agentDelay time.Duration
}

func stormConfigFromEnv(t *testing.T) stormConfig {
	t.Helper()
	c := stormConfig{seed: uint64(time.Now().UnixNano()), duration: stormDuration, clients: stormClients, vms: stormVMs}
	if testing.Short() {
		c.duration = stormShortDuration
	}
	if v := os.Getenv(envStormSeed); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer (the seed a storm printed)", envStormSeed, v)
		}
		c.seed = s
	}
	if v := os.Getenv(envStormDuration); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Second {
			t.Fatalf("%s=%q: want a duration of at least 5s, such as 10m", envStormDuration, v)
		}
		c.duration = d
	}
	if v := os.Getenv(envStormAgentDelay); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Second {
			t.Fatalf("%s=%q: want a duration between 0 and 1s, such as 15ms", envStormAgentDelay, v)
		}
		c.agentDelay = d
	}
	c.kills = int(float64(c.duration) * stormKillPhase / float64(stormKillEvery))
	for _, k := range []struct {
		env string
		p   *int
		min int
	}{{envStormClients, &c.clients, 1}, {envStormVMs, &c.vms, 1}, {envStormKills, &c.kills, 0}} {
		if v := os.Getenv(k.env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < k.min {
				t.Fatalf("%s=%q: want an integer of at least %d", k.env, v, k.min)
			}
			*k.p = n
		}
	}
	return c
}

// stormAck is an acknowledged command: the record the daemon said it
// wrote.
type stormAck struct {
	seq    uint64
	vm     string
	op     stormOp
	to     string
	client int
	at     time.Time
}

// stormLeak is a process that ran unnamed by the log past stormUnnamedFor,
// or that outlived stop-all.
type stormLeak struct {
	proc        stormProc
	first, last time.Time // first and last sample that saw it unnamed
	samples     int
	status      string // the VM's status at the last such sample
	why         string
	stayed      bool // alive after stop-all
}

// storm is one run: a daemon that is SIGKILLed and restarted, clients, a
// sampler, and what they saw.
type storm struct {
	t        *testing.T
	cfg      stormConfig
	home     string
	limaHome string
	agentCmd string // the daemon's --hostagent-cmd
	metrics  string // the current daemon's metrics address (under mu)
	names    []string
	c        *stormHTTP
	// templates holds each VM's template as the daemon makes it at a
	// create without one: a blank disk at <data dir>/disks/NAME.raw
	// (internal/cli's defaultSpec); updates send it.
	templates map[string][]byte

	mu  sync.Mutex
	d   *stormDaemon // the current daemon; nil between a kill and its restart
	gen int          // bumped at each kill and each restart

	ackMu sync.Mutex
	acks  []stormAck

	issued, acked, rejected, downs, failures atomic.Int64
	perOp                                    [stormOps]atomic.Int64
	internalMsgs                             sync.Map // distinct 500 answers → count (*atomic.Int64)
	otherMsgs                                sync.Map // other unexpected errors

	leakMu  sync.Mutex
	leaks   map[string]*stormLeak // by stormProc.key, once flagged
	samples atomic.Int64
	kills   int

	found     int          // acknowledged commands found in the log
	base, end stormFigures // the daemon at the two quiet moments
}

type stormDaemon struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

func (d *stormDaemon) alive() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// TestStorm is the adversary that stays (issue 9): clients issue random
// commands on VMs whose agents misbehave in every way agent-sim can, the
// daemon is SIGKILLed at random moments and restarted at once, and a
// sampler compares the processes alive with what the log names. After
// stop-all it fails on: an acknowledged command missing from the log;
// `lifeline replay verify` or `replay check` finding a problem; a process
// of a VM that stayed unnamed by the log across samples; any process left
// after stop-all; the daemon's goroutines or file descriptors growing
// between two quiet moments. LIFELINE_STORM_SEED replays a run's choices
// (not its timing); LIFELINE_STORM_DURATION runs it longer.
func TestStorm(t *testing.T) {
	cfg := stormConfigFromEnv(t)
	t.Logf("storm: seed %d (replay with %s=%d), %v, %d clients, %d VMs, %d daemon kills, agent start delay %v",
		cfg.seed, envStormSeed, cfg.seed, cfg.duration, cfg.clients, cfg.vms, cfg.kills, cfg.agentDelay)
	home := shortTemp(t)
	s := &storm{t: t, cfg: cfg, home: home, limaHome: filepath.Join(home, "lima"), leaks: map[string]*stormLeak{}}
	s.agentCmd = lifelineBin + " agent-sim"
	if cfg.agentDelay > 0 {
		s.agentCmd = stormDelayedAgent(t, home, cfg.agentDelay)
	}
	s.c = newStormHTTP(filepath.Join(home, api.SocketName))
	s.templates = map[string][]byte{}
	for i := range cfg.vms {
		name := fmt.Sprintf("s%d", i)
		tmpl, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: filepath.Join(home, "disks", name+".raw")})
		if err != nil {
			t.Fatal(err)
		}
		s.names = append(s.names, name)
		s.templates[name] = tmpl
	}
	// Runs before shortTemp's removal (cleanups run last-in first-out):
	// keep the evidence of a failed run, then make sure nothing the storm
	// started outlives it.
	t.Cleanup(func() {
		s.mu.Lock()
		d := s.d
		s.mu.Unlock()
		if d != nil && d.alive() {
			_ = d.cmd.Process.Kill()
			select {
			case <-d.exited:
			case <-time.After(stormExitWait):
				t.Errorf("daemon pid %d did not exit within %v of SIGKILL", d.cmd.Process.Pid, stormExitWait)
			}
		}
		if left := killStormProcs(s.limaHome, 10*time.Second); len(left) > 0 {
			t.Errorf("processes survived SIGKILL at cleanup: %v", left)
		}
		if t.Failed() || os.Getenv(envStormKeep) != "" {
			s.keep()
		}
	})
	defer func() {
		if t.Failed() {
			t.Logf("storm failed: seed %d (replay with %s=%d)", cfg.seed, envStormSeed, cfg.seed)
		}
	}()

	defer s.figures()
	s.restart()
	start := time.Now()
	sampleCtx, stopSampler := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() { defer close(sampled); s.sampler(sampleCtx) }()
	defer func() { stopSampler(); <-sampled }()

	// Phase 1: clients and daemon kills.
	killEnd := time.Duration(float64(cfg.duration) * stormKillPhase)
	kr := rand.New(rand.NewPCG(cfg.seed, 1<<32))
	var killAt []time.Duration
	for range cfg.kills {
		killAt = append(killAt, time.Second+time.Duration(kr.Int64N(int64(killEnd-time.Second))))
	}
	slices.Sort(killAt)
	stopClients := s.clients(0)
	defer func() { stopClients() }() // also when a t.Fatal ends the test early
	for _, at := range killAt {
		time.Sleep(time.Until(start.Add(at)))
		s.kill()
		s.restart()
	}
	time.Sleep(time.Until(start.Add(killEnd)))
	stopClients()
	s.stopAll("after the kill phase")
	s.base = s.baseline()

	// Phase 2: the same clients on one daemon.
	stopClients = s.clients(1)
	time.Sleep(time.Until(start.Add(cfg.duration)))
	stopClients()
	s.stopAll("at the end")
	s.end = s.measureUntil(s.base)
	stopSampler()
	<-sampled

	leftUp := s.waitNoProcs("after stop-all, with the daemon up")
	s.stopDaemon()
	leftDown := s.waitNoProcs("after the daemon exited")
	for _, p := range append(leftUp, leftDown...) {
		s.flag(p, time.Now(), "alive after stop-all")
	}

	s.found = s.auditAcks()
	s.replay("verify")
	s.replay("check")
	s.reportLeaks()
}

// figures prints what the storm did and found; it runs also when the
// storm stopped early.
func (s *storm) figures() {
	var perOp []string
	for op := range stormOps {
		perOp = append(perOp, fmt.Sprintf("%s %d", op, s.perOp[op].Load()))
	}
	s.leakMu.Lock()
	unnamed, left := 0, 0
	for _, l := range s.leaks {
		if l.stayed {
			left++
		} else {
			unnamed++
		}
	}
	s.leakMu.Unlock()
	c := s.cfg
	s.t.Logf("storm figures (seed %d, %v, %d clients, %d VMs): commands issued %d, acknowledged %d (%s), found in the log %d, rejected %d, no answer %d, failed %d; daemon kills %d; samples %d; processes leaked %d (%d alive after stop-all, %d unnamed by the log for %v while they ran); daemon goroutines %d → %d, open fds %d → %d",
		c.seed, c.duration, c.clients, c.vms, s.issued.Load(), s.acked.Load(), strings.Join(perOp, ", "), s.found,
		s.rejected.Load(), s.downs.Load(), s.failures.Load(), s.kills, s.samples.Load(), left+unnamed, left, unnamed, stormUnnamedFor,
		s.base.goroutines, s.end.goroutines, s.base.fds, s.end.fds)
	s.logMsgs("answers 500 (internal)", &s.internalMsgs)
	s.logMsgs("other failures", &s.otherMsgs)
}

var stormNumbers = regexp.MustCompile(`\b(s)?[0-9]+\b`)

// metricsAddr is the address the daemon that wrote log last said it
// serves its metrics on (it picks a free port: --metrics-addr
// 127.0.0.1:0).
func metricsAddr(log string) (string, error) {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var l struct{ Message, Addr string }
		if json.Unmarshal([]byte(lines[i]), &l) == nil && l.Message == "metrics" && l.Addr != "" {
			return l.Addr, nil
		}
	}
	return "", errors.New(`no "metrics" line with an addr in the daemon's log`)
}

// stormDelayedAgent writes a host agent command into dir that sleeps
// delay and then execs agent-sim with its arguments, and returns it as a
// --hostagent-cmd. While it sleeps the process is not agent-sim (the
// sampler does not see it); after the exec it is, with the same pid.
func stormDelayedAgent(t *testing.T, dir string, delay time.Duration) string {
	t.Helper()
	path := filepath.Join(dir, "delayed-agent")
	script := fmt.Sprintf("#!/bin/sh\nsleep %.3f\nexec '%s' agent-sim \"$@\"\n", delay.Seconds(), lifelineBin)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatalf("writing the delayed agent %s: %v", path, err)
	}
	return path
}

// restart starts a daemon and waits until it answers: recovery is done
// before it listens.
func (s *storm) restart() {
	t := s.t
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.home, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(lifelineBin, "daemon", "--data-dir", s.home,
		"--lima-home", s.limaHome,
		"--hostagent-cmd", s.agentCmd,
		"--graceful-timeout", stormGraceful.String(),
		"--start-timeout", stormStartTimeout.String(),
		"--restart-backoff", stormBackoff.String(),
		"--restart-backoff-max", stormBackoffMax.String(),
		"--restart-window", stormRestartWindow.String(),
		"--metrics-addr", "127.0.0.1:0",
		"--log-format", "json")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &stormDaemon{cmd: cmd, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	s.mu.Lock()
	s.d = d // the cleanup kills it, whatever happens below
	s.mu.Unlock()
	deadline := time.Now().Add(daemonWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := s.c.info(ctx)
		cancel()
		if err == nil && info.PID == cmd.Process.Pid {
			break
		}
		if !d.alive() {
			t.Fatalf("daemon pid %d exited at start (%v) after %d kills; its log:\n%s", cmd.Process.Pid, d.err, s.kills, tail(readLog(s.home), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon pid %d not answering after %v (after %d kills): %v; its log:\n%s", cmd.Process.Pid, daemonWait, s.kills, err, tail(readLog(s.home), 40))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The metrics line is logged before the socket listens.
	addr, err := metricsAddr(readLog(s.home))
	if err != nil {
		t.Fatalf("daemon pid %d: %v", cmd.Process.Pid, err)
	}
	s.mu.Lock()
	s.metrics = addr
	s.gen++
	s.mu.Unlock()
}

// kill SIGKILLs the daemon and waits for its end.
func (s *storm) kill() {
	s.mu.Lock()
	d := s.d
	s.gen++
	s.mu.Unlock()
	_ = d.cmd.Process.Kill()
	select {
	case <-d.exited:
	case <-time.After(stormExitWait):
		s.t.Fatalf("daemon pid %d still alive %v after SIGKILL", d.cmd.Process.Pid, stormExitWait)
	}
	s.kills++
}

// daemonGen says which daemon serves (bumped at each kill and restart)
// and whether it is up.
func (s *storm) daemonGen() (int, *stormDaemon) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen%2 == 0 { // a kill bumped it last, or nothing started yet
		return s.gen, nil
	}
	return s.gen, s.d
}

// clients runs cfg.clients clients until the returned function is called
// (once or more); it returns once every client has finished its command.
func (s *storm) clients(phase uint64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range s.cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.client(ctx, i, rand.New(rand.NewPCG(s.cfg.seed, phase<<16|uint64(i))))
		}()
	}
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// client issues random commands until ctx ends. A command that got no
// answer (the daemon died) is not retried as such: the client goes on
// with the next one once the daemon is back.
func (s *storm) client(ctx context.Context, id int, r *rand.Rand) {
	for ctx.Err() == nil {
		vm, calm := s.pickVM(r)
		op := pickStormOp(r, calm)
		// A command in flight is never cut by the storm: only the daemon's
		// death ends it unanswered.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stormCallTimeout)
		res, err := s.c.issue(cctx, r, op, vm, calm, s.templates[vm])
		cancel()
		s.issued.Add(1)
		var ae *stormAPIError
		switch {
		case err == nil:
			s.acked.Add(1)
			s.perOp[op].Add(1)
			s.ackMu.Lock()
			s.acks = append(s.acks, stormAck{seq: res.Seq, vm: res.Name, op: op, to: string(res.State), client: id, at: time.Now()})
			s.ackMu.Unlock()
			if res.Name != vm {
				s.t.Errorf("client %d: %s %s answered for vm %q (seq %d)", id, op, vm, res.Name, res.Seq)
			}
		case errors.As(err, &ae) && ae.Status != 500:
			s.rejected.Add(1) // 404, 409: the storm does not track the states
		case errors.Is(err, errStormDown):
			s.downs.Add(1)
			time.Sleep(time.Duration(20+r.IntN(30)) * time.Millisecond)
		case errors.As(err, &ae):
			s.failures.Add(1)
			count(&s.internalMsgs, fmt.Sprintf("%s: %s", op, ae.Err.Message))
		default:
			s.failures.Add(1)
			count(&s.otherMsgs, fmt.Sprintf("%s: %v", op, err))
		}
		time.Sleep(time.Duration(r.IntN(40)) * time.Millisecond)
	}
}

// pickVM picks the VM of a command. The first half of the VMs is hot: it
// gets all but stormCalmPercent of the commands, so that every race of
// commands with each other and with the agents is tried. The other half
// is calm, a command every second or two, so that its agents come up,
// crash, are restarted by the restart policy and are adopted by a new
// daemon: a lifecycle that a hot VM, stopped within milliseconds, never
// reaches.
func (s *storm) pickVM(r *rand.Rand) (vm string, calm bool) {
	hot, cold := s.names[:len(s.names)/2], s.names[len(s.names)/2:]
	if len(hot) == 0 || r.IntN(100) < stormCalmPercent {
		return cold[r.IntN(len(cold))], true
	}
	return hot[r.IntN(len(hot))], false
}

// stormCalmPercent is the share of commands that go to the calm VMs.
const stormCalmPercent = 4

// count counts an error message by its kind: numbers (seqs, pids) and VM
// names become N, so that one kind is one line.
func count(m *sync.Map, msg string) {
	key := stormNumbers.ReplaceAllString(msg, "N")
	v, _ := m.LoadOrStore(key, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (s *storm) logMsgs(what string, m *sync.Map) {
	var lines []string
	m.Range(func(k, v any) bool {
		lines = append(lines, fmt.Sprintf("%6d× %s", v.(*atomic.Int64).Load(), k))
		return true
	})
	if len(lines) == 0 {
		return
	}
	slices.Sort(lines)
	if len(lines) > 30 {
		lines = append(lines[:30], fmt.Sprintf("... and %d more", len(lines)-30))
	}
	s.t.Logf("%s:\n%s", what, strings.Join(lines, "\n"))
}

// sampler compares, every stormSampleEvery, the processes alive with what
// the daemon's status names, and flags a process that stays unnamed for
// stormUnnamedFor. A sample during which a daemon was killed or restarted
// does not count, and each daemon is judged on its own: a process unnamed
// for stormUnnamedFor after a restart (recovery did not find it) is
// flagged, whatever happened before.
func (s *storm) sampler(ctx context.Context) {
	type seen struct {
		first   time.Time
		samples int
	}
	unnamed := map[string]*seen{}
	lastGen := 0
	tick := time.NewTicker(stormSampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		gen, d := s.daemonGen()
		if d == nil {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		before, err1 := s.c.list(lctx)
		procs, err2 := scanStormProcs(s.limaHome)
		after, err3 := s.c.list(lctx)
		cancel()
		now := time.Now()
		if gen2, _ := s.daemonGen(); gen2 != gen || err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		s.samples.Add(1)
		if gen != lastGen {
			// Nobody can record a process while no daemon runs: a new
			// daemon gets stormUnnamedFor of its own (its recovery runs
			// before it answers).
			clear(unnamed)
			lastGen = gen
		}
		status := map[string][]api.VM{}
		for _, v := range append(before, after...) {
			status[v.Name] = append(status[v.Name], v)
		}
		suspects := map[string]bool{}
		for _, p := range procs {
			if named(p, status[p.VM]) {
				continue
			}
			k := p.key()
			suspects[k] = true
			u := unnamed[k]
			if u == nil {
				u = &seen{first: now}
				unnamed[k] = u
			}
			u.samples++
			if now.Sub(u.first) >= stormUnnamedFor {
				s.flagUnnamed(p, u.first, now, u.samples, describeStatus(status[p.VM]))
			}
		}
		for k := range unnamed {
			if !suspects[k] {
				delete(unnamed, k)
			}
		}
	}
}

// named reports whether a status of p's VM (before or after /proc was
// read) holds p: the VM in a state with processes (Starting, Running,
// Stopping, ForceStopping) and p's pid its hostAgentPID or driverPID. A
// Stopped, Broken or absent VM holds none.
func named(p stormProc, vms []api.VM) bool {
	for _, v := range vms {
		s, err := states.ParseState(string(v.State))
		if err != nil || !(s.InFlight() || s == states.Running) {
			continue
		}
		if int64(p.PID) == v.HostAgentPID || int64(p.PID) == v.VMProcessPID {
			return true
		}
	}
	return false
}

func describeStatus(vms []api.VM) string {
	if len(vms) == 0 {
		return "absent (not in the list)"
	}
	v := vms[len(vms)-1]
	return fmt.Sprintf("%s since seq %d (%s), hostAgentPID %d, driverPID %d, reason %q", v.State, v.Seq, v.Event, v.HostAgentPID, v.VMProcessPID, v.Reason)
}

func (s *storm) flagUnnamed(p stormProc, first, last time.Time, samples int, status string) {
	s.leakMu.Lock()
	defer s.leakMu.Unlock()
	if l := s.leaks[p.key()]; l != nil {
		l.last, l.samples, l.status = last, samples, status
		return
	}
	s.leaks[p.key()] = &stormLeak{proc: p, first: first, last: last, samples: samples, status: status,
		why: "alive and not named by the log"}
}

// flag records a process found at the end.
func (s *storm) flag(p stormProc, at time.Time, why string) {
	s.leakMu.Lock()
	defer s.leakMu.Unlock()
	if l := s.leaks[p.key()]; l != nil {
		if !l.stayed {
			l.why += "; " + why
		}
		l.stayed = true
		return
	}
	s.leaks[p.key()] = &stormLeak{proc: p, first: at, last: at, why: why, stayed: true}
}

// stopAll stops every VM (graceful stop for Starting and Running ones,
// stop --force for Broken ones, which also ends a pending restart) and
// waits, bounded, until every VM is Stopped, or Broken by a kill_failed
// (reported).
func (s *storm) stopAll(when string) {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(stormSettle)
	reported := map[uint64]bool{} // kill_failed records already reported
	for {
		ctx, cancel := context.WithTimeout(context.Background(), stormCallTimeout)
		vms, err := s.c.list(ctx)
		if err != nil {
			cancel()
			t.Fatalf("stop-all %s: list: %v", when, err)
		}
		var busy []string
		for _, v := range vms {
			st, _ := states.ParseState(string(v.State))
			var err error
			switch {
			case st == states.Starting || st == states.Running:
				err = s.c.call(ctx, "POST", "/v1/vms/"+v.Name+"/stop", nil, api.StopRequest{}, nil)
			case st == states.Broken && v.Event != api.EventKillFailed:
				err = s.c.call(ctx, "POST", "/v1/vms/"+v.Name+"/stop", nil, api.StopRequest{Force: true}, nil)
			case st == states.Broken:
				if !reported[v.Seq] {
					reported[v.Seq] = true
					t.Errorf("stop-all %s: vm %s is Broken by kill_failed at seq %d: %s", when, v.Name, v.Seq, v.Reason)
				}
				continue
			case st == states.Stopped:
				continue
			}
			var ae *stormAPIError
			if err != nil && !(errors.As(err, &ae) && ae.Status == 409) {
				t.Errorf("stop-all %s: vm %s (%s, seq %d): %v", when, v.Name, v.State, v.Seq, err)
			}
			busy = append(busy, fmt.Sprintf("%s %s (seq %d, %s)", v.Name, v.State, v.Seq, v.Reason))
		}
		cancel()
		if len(busy) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stop-all %s: VMs not settled after %v: %s", when, stormSettle, strings.Join(busy, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stormFigures is the daemon's size at a quiet moment.
type stormFigures struct{ goroutines, fds int }

func (s *storm) daemonPID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d.cmd.Process.Pid
}

// baseline measures the daemon at the first quiet moment: the least of a
// few measurements, as the last stops' watchers end.
func (s *storm) baseline() stormFigures {
	b := s.measure("at the baseline")
	for range 4 {
		time.Sleep(250 * time.Millisecond)
		f := s.measure("at the baseline")
		b.goroutines, b.fds = min(b.goroutines, f.goroutines), min(b.fds, f.fds)
	}
	return b
}

func (s *storm) measure(when string) stormFigures {
	t := s.t
	t.Helper()
	pid := s.daemonPID()
	fds, err := procFDs(pid)
	if err != nil {
		t.Fatalf("daemon pid %d: count fds %s: %v", pid, when, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.mu.Lock()
	addr := s.metrics
	s.mu.Unlock()
	g, err := scrapeGoroutines(ctx, addr)
	if err != nil {
		t.Fatalf("daemon pid %d: goroutines %s: %v", pid, when, err)
	}
	return stormFigures{goroutines: g, fds: fds}
}

// measureUntil measures again until both figures are within their slack
// of base (a connection or a watcher may take a moment to close), at most
// 10 s, and reports growth past the slack.
func (s *storm) measureUntil(base stormFigures) stormFigures {
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := s.measure("at the end")
		ok := f.goroutines <= base.goroutines+stormGoroutineSlack && f.fds <= base.fds+stormFDSlack
		if ok {
			return f
		}
		if time.Now().After(deadline) {
			s.t.Errorf("daemon pid %d grew between two quiet moments: goroutines %d → %d (slack %d), open fds %d → %d (slack %d)",
				s.daemonPID(), base.goroutines, f.goroutines, stormGoroutineSlack, base.fds, f.fds, stormFDSlack)
			return f
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitNoProcs polls, bounded, until no process of the storm is alive, and
// returns those still alive at the bound.
func (s *storm) waitNoProcs(when string) []stormProc {
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs, err := scanStormProcs(s.limaHome)
		if err != nil {
			s.t.Fatalf("scan /proc %s: %v", when, err)
		}
		if len(procs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, p := range procs {
				s.t.Errorf("%s: %s still alive", when, p)
			}
			return procs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopDaemon sends SIGINT (the daemon stops what runs, nothing should)
// and waits for a clean exit.
func (s *storm) stopDaemon() {
	s.mu.Lock()
	d := s.d
	s.gen++
	s.mu.Unlock()
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.exited:
		if d.err != nil {
			s.t.Errorf("daemon pid %d exited after SIGINT: %v; its log ends:\n%s", d.cmd.Process.Pid, d.err, tail(readLog(s.home), 20))
		}
	case <-time.After(stormExitWait):
		s.t.Fatalf("daemon pid %d did not exit within %v of SIGINT", d.cmd.Process.Pid, stormExitWait)
	}
}

// auditAcks checks every acknowledged command against the log, read-only,
// and returns how many were found with the data the answer gave.
func (s *storm) auditAcks() int {
	t := s.t
	t.Helper()
	recs := readRecords(t, s.home)
	have := make(map[uint64]store.Record, len(recs))
	for _, r := range recs {
		have[r.Seq] = r
	}
	found, missing := 0, 0
	for _, a := range s.acks {
		r, ok := have[a.seq]
		switch {
		case !ok:
			missing++
			if missing <= 20 {
				t.Errorf("acknowledged %s %s → %s (client %d, %s) at seq %d: no such record (the log has %d records)",
					a.op, a.vm, a.to, a.client, a.at.Format(time.StampMilli), a.seq, len(recs))
			}
		case r.VM != a.vm || r.Event != a.op.event() || r.To.String() != a.to:
			missing++
			if missing <= 20 {
				t.Errorf("acknowledged %s %s → %s (client %d, %s) at seq %d: the log has %s %s %s→%s there",
					a.op, a.vm, a.to, a.client, a.at.Format(time.StampMilli), a.seq, r.VM, r.Event, r.From, r.To)
			}
		default:
			found++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged commands are not in the log as acknowledged", missing, len(s.acks))
	}
	return found
}

// replay runs `lifeline replay VERB` on the database (the daemon is
// stopped) and fails on a problem.
// stormCheckTolerance is how far `replay check` lets a replayed record's
// time be from the recorded one in the storm.
const stormCheckTolerance = 3 * time.Second

func (s *storm) replay(verb string) {
	ctx, cancel := context.WithTimeout(context.Background(), stormReplayWait)
	defer cancel()
	args := []string{"replay", verb, "--db", filepath.Join(s.home, daemon.DBName)}
	if verb == "check" {
		// check asks whether today's engine decides what the daemon decided;
		// when is compared within a tolerance. The daemon's real kills and
		// exits on a loaded 2-core machine took up to 1.1 s longer than the
		// scripted driver's instant ones (a 10-minute storm beside CI), so
		// the storm allows the same 3 s it allows an unnamed process. What
		// was decided is compared at any tolerance.
		args = append(args, "--tolerance", stormCheckTolerance.String())
	}
	cmd := exec.CommandContext(ctx, lifelineBin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Errorf("lifeline replay %s: %v; it says (last lines):\n%s", verb, err, tail(string(out), 40))
	}
}

// reportLeaks fails on every leaked process, with the VM's records around
// the time it was seen.
func (s *storm) reportLeaks() {
	t := s.t
	if len(s.leaks) == 0 {
		return
	}
	recs := readRecords(t, s.home)
	keys := make([]string, 0, len(s.leaks))
	for k := range s.leaks {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return s.leaks[a].first.Compare(s.leaks[b].first) })
	for _, k := range keys {
		l := s.leaks[k]
		var around []string
		for _, r := range recs {
			if r.VM == l.proc.VM && !r.Time.Before(l.first.Add(-5*time.Second)) && !r.Time.After(l.first.Add(time.Second)) {
				around = append(around, "    "+formatRecord(r))
			}
		}
		if len(around) > 30 {
			around = append([]string{"    ..."}, around[len(around)-30:]...)
		}
		t.Errorf("leaked: %s: %s; unnamed from %s to %s (%d samples); status then: %s; vm %s's records from 5 s before it was first seen unnamed to 1 s after:\n%s",
			l.proc, l.why, l.first.Format(time.StampMilli), l.last.Format(time.StampMilli), l.samples, l.status, l.proc.VM, strings.Join(around, "\n"))
	}
}

func formatRecord(r store.Record) string {
	s := fmt.Sprintf("seq %d %s boot %d %s %s→%s", r.Seq, r.Time.Local().Format(time.StampMilli), r.Boot, r.Event, r.From, r.To)
	if !r.Agent.IsZero() {
		s += fmt.Sprintf(" agent=%d", r.Agent.PID)
	}
	if !r.VMProcess.IsZero() {
		s += fmt.Sprintf(" driver=%d", r.VMProcess.PID)
	}
	if r.Reason != "" {
		s += fmt.Sprintf(" %q", r.Reason)
	}
	return s
}

// keep copies the database and the daemon's log (and each instance's
// agent logs) to LIFELINE_STORM_KEEP, or a new directory in the temp dir.
func (s *storm) keep() {
	dir := os.Getenv(envStormKeep)
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", fmt.Sprintf("lifeline-storm-%d-", s.cfg.seed)); err != nil {
			s.t.Logf("keep the storm's files: %v", err)
			return
		}
	}
	err := filepath.Walk(s.home, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(s.home, path)
		if !(strings.HasSuffix(rel, ".db") || strings.HasSuffix(rel, ".log")) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		s.t.Logf("keep the storm's files in %s: %v", dir, err)
		return
	}
	s.t.Logf("the storm's database and logs are in %s (lifeline replay timeline --db %s)", dir, filepath.Join(dir, daemon.DBName))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

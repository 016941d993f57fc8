// Package limae2e runs lifeline's engine and its Lima driver against real
// `limactl hostagent` and QEMU: the end-to-end scenarios of issue 4. The
// tests run only with LIFELINE_LIMA_E2E=1 (set by .ci/lima-e2e.sh, which
// installs QEMU, builds limactl and runs them as an unprivileged user);
// then a missing prerequisite fails them, loudly, instead of skipping.
//
// The engine runs embedded in a small child program, [Host]: the test
// binary re-executed, which the tests can SIGKILL at chosen points, as a
// daemon that embeds lifeline would be killed.
package limae2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/lima/limaprep"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/store"
)

// HostConfig is what the engine host runs.
type HostConfig struct {
	DB              string        // the store file
	LimaHome        string        // the driver's LIMA_HOME
	HostAgentCmd    []string      // e.g. [/path/limactl hostagent]
	GracefulTimeout time.Duration // engine.Options.GracefulTimeout
	TerminateGrace  time.Duration // engine.Options.TerminateGrace
	StartTimeout    time.Duration // engine.Options.StartTimeout (0: the engine's default)
	Prepare         bool          // run limaprep.Prepare before each spawn
	Debug           bool          // --debug to the host agent
	// HostBootID, if set, is the host boot id this engine host runs on
	// (the boot record carries it; the previous boot's is the engine's
	// PrevHostBootID): a changed one simulates a host reboot.
	HostBootID string
}

// Message is one line the host writes: a record, or the reply to a
// command.
type Message struct {
	Record *store.Record `json:"record,omitempty"`
	Reply  *Reply        `json:"reply,omitempty"`
}

// Reply answers the command on line N of the input.
type Reply struct {
	N   int    `json:"n"`
	Err string `json:"err,omitempty"`
}

// Command is one line of the host's input (JSON).
type Command struct {
	Op    string       `json:"op"` // create, start, stop, force-stop, reset, delete, import, release
	VM    string       `json:"vm"`
	Spec  drivers.Spec `json:"spec,omitzero"`
	Force bool         `json:"force,omitempty"`
}

// Host opens the store and the engine (recovering every VM), then prints
// every record, history first, as a JSON line on out, and runs the commands
// it reads from in, one JSON line each, replying to each. At the end of in
// it detaches (engine.Close: agents keep running) and returns. Logs go to
// logw.
func Host(ctx context.Context, cfg HostConfig, in io.Reader, out io.Writer, logw io.Writer) error {
	log := zerolog.New(logw).With().Timestamp().Logger()
	st, err := store.Open(cfg.DB, store.Options{Logger: log, BootInfo: store.BootInfo{HostBootID: cfg.HostBootID}})
	if err != nil {
		return err
	}
	defer st.Close()
	prev, err := st.PrevBoot()
	if err != nil {
		return err
	}
	opts := lima.Options{LimaHome: cfg.LimaHome, HostAgentCmd: cfg.HostAgentCmd, Debug: cfg.Debug, Logger: log}
	if cfg.Prepare {
		opts.Prepare = limaprep.Prepare
	}
	drv, err := lima.New(opts)
	if err != nil {
		return err
	}
	e, err := engine.Open(ctx, engine.Options{
		Store:           st,
		Driver:          drv,
		Logger:          log,
		GracefulTimeout: cfg.GracefulTimeout,
		TerminateGrace:  cfg.TerminateGrace,
		StartTimeout:    cfg.StartTimeout,
		PrevHostBootID:  prev.HostBootID,
		HostBootID:      cfg.HostBootID,
	})
	if err != nil {
		return err
	}
	defer e.Close()

	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(m Message) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(m)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := e.Subscribe(sctx, 0)
	if err != nil {
		return err
	}
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		for r := range sub.C {
			emit(Message{Record: &r})
		}
	}()

	sc := bufio.NewScanner(in)
	n := 0
	for sc.Scan() {
		n++
		var c Command
		err := json.Unmarshal(sc.Bytes(), &c)
		if err == nil {
			err = run(ctx, e, c)
		}
		r := &Reply{N: n}
		if err != nil {
			r.Err = err.Error()
		}
		emit(Message{Reply: r})
	}
	cancel()
	<-subDone
	if err := sub.Err(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, engine.ErrClosed) {
		return err
	}
	return sc.Err()
}

func run(ctx context.Context, e *engine.Engine, c Command) error {
	var err error
	switch strings.ToLower(c.Op) {
	case "create":
		_, err = e.Create(ctx, c.VM, c.Spec)
	case "start":
		_, err = e.Start(ctx, c.VM)
	case "stop":
		_, err = e.Stop(ctx, c.VM, engine.StopOptions{Force: c.Force, Reason: "e2e"})
	case "reset":
		_, err = e.Reset(ctx, c.VM)
	case "delete":
		_, err = e.Delete(ctx, c.VM)
	case "import":
		_, err = e.Import(ctx, c.VM, c.Spec)
	case "release":
		_, err = e.Release(ctx, c.VM)
	default:
		err = fmt.Errorf("unknown op %q", c.Op)
	}
	return err
}

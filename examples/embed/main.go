// Command embed runs lifeline inside a program of its own: it opens a log
// (package store), runs an engine over it with a driver of its choice
// (drivers/process, supervising one plain command per VM), serves the
// control API on its own unix socket (package server), and drives a VM
// through the public client (package client): create, start, wait until
// Running, stop, wait until Stopped, then prints the VM's records.
//
//	go run ./examples/embed             # in a temporary directory, removed at exit
//	go run ./examples/embed -dir DIR    # keep the log for `lifeline replay ... --db DIR/embed.db`
//
// The agent it supervises is this program itself, run as `embed agent`: it
// waits for SIGINT or SIGTERM and exits 0, so the example needs nothing
// but Go. While it runs, the lifeline CLI talks to it too:
// `lifeline --data-dir DIR list`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/store"
)

// stepTimeout bounds each wait of the example.
const stepTimeout = 30 * time.Second

func main() {
	if len(os.Args) == 2 && os.Args[1] == "agent" {
		agent()
		return
	}
	dir := flag.String("dir", "", "directory for the log, the socket and the agents' run directories (default: a temporary one, removed at exit)")
	flag.Parse()
	if err := run(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

// agent is the supervised program: it runs until asked to stop.
func agent() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println("agent", os.Getenv(process.EnvVM), "up:", os.Getenv("GREETING"))
	<-ctx.Done()
	fmt.Println("agent asked to stop; exiting")
}

func run(out io.Writer, dir string) (err error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lifeline-embed-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to run as the agent: %w", err)
	}
	ctx := context.Background()

	// 1. The log, and an engine over it with the driver of our choice.
	st, err := store.Open(filepath.Join(dir, "embed.db"), store.Options{})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	drv := process.NewDriver(filepath.Join(dir, "run"), self, "agent")
	eng, err := engine.Open(ctx, engine.Options{Store: st, Driver: drv, GracefulTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	// Stop every VM (the engine's Shutdown) before the store closes.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stepTimeout)
		defer cancel()
		err = errors.Join(err, eng.Shutdown(sctx))
	}()

	// 2. The daemon's API on a socket of our own: only our user may use it.
	sock := filepath.Join(dir, api.SocketName)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return err
	}
	hs := &http.Server{
		Handler: server.NewHandler(eng, st, server.Options{
			Info: api.Info{PID: os.Getpid(), Boot: st.Boot(), DataDir: dir, DB: filepath.Join(dir, "embed.db"), Version: "embed example"},
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go hs.Serve(ln)
	defer hs.Close() // runs before the engine's shutdown: no request meets a closed engine

	// 3. Drive a VM through the public client, as any other program would.
	c := &client.Client{SocketPath: sock}
	const vm = "web"
	r, err := c.Create(ctx, vm, api.Spec{Env: map[string]string{"GREETING": "hello from the embedder"}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created %s: %s (seq %d)\n", vm, r.State, r.Seq)

	r, err = c.Start(ctx, vm)
	if err != nil {
		return err
	}
	v, err := c.Wait(ctx, vm, api.Running, client.WaitOptions{Since: r.Seq, Timeout: stepTimeout})
	if err != nil {
		return fmt.Errorf("wait for %s to run: %w", vm, err)
	}
	fmt.Fprintf(out, "%s: %s, its agent has pid %d\n", vm, v.State, v.HostAgentPID)
	// The command driver has no readiness protocol: Running means the
	// process exists. Let the agent say it is up (and so handle SIGINT)
	// before asking it to stop.
	if err := waitFor(ctx, filepath.Join(dir, "run", vm, process.StdoutFile), " up:", stepTimeout); err != nil {
		return err
	}

	r, err = c.Stop(ctx, vm, false)
	if err != nil {
		return err
	}
	v, err = c.Wait(ctx, vm, api.Stopped, client.WaitOptions{Since: r.Seq, Timeout: stepTimeout})
	if err != nil {
		return fmt.Errorf("wait for %s to stop: %w", vm, err)
	}
	fmt.Fprintf(out, "%s: %s (%s)\n", vm, v.State, v.Event)

	// A refusal is typed: branch on its code, not on its text.
	_, err = c.Stop(ctx, vm, false)
	var refusal *client.Error
	if !client.IsRejected(err) || !errors.As(err, &refusal) {
		return fmt.Errorf("stop a Stopped VM: %v, want a refusal", err)
	}
	fmt.Fprintf(out, "stop %s again: %s, it is %s\n", vm, refusal.Code, refusal.State)
	if _, err := c.Status(ctx, "nosuch"); !client.IsNotFound(err) {
		return fmt.Errorf("status of a VM that does not exist: %v, want not found", err)
	}

	// The log, as the record stream gives it.
	fmt.Fprintf(out, "records of %s:\n", vm)
	return c.Events(ctx, client.EventsOptions{VM: vm}, func(rec api.Record) error {
		fmt.Fprintf(out, "  %d %s %s -> %s\n", rec.Seq, rec.Event, rec.From, rec.To)
		return nil
	})
}

// waitFor polls file until it holds text, for at most bound.
func waitFor(ctx context.Context, file, text string, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		b, _ := os.ReadFile(file)
		if strings.Contains(string(b), text) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent did not write %q to %s within %s", text, file, bound)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

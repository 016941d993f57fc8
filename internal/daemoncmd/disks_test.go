package daemoncmd

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/internal/daemon"
)

// startTestDaemon runs the daemon in-process over dataDir with the
// scripted driver and the CLI's own default spec and blank disks, and
// returns a client. The daemon stops with the test.
func startTestDaemon(t *testing.T, dataDir string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			Options: engine.Options{
				Driver: drivertest.New(),
				Logger: zerolog.Nop(),
			},
			DataDir:     dataDir,
			LockTimeout: time.Second,
			DefaultSpec: defaultSpec(dataDir),
			Files:       blankDisks{dataDir: dataDir},
			Ready:       func(sock string) { ready <- sock },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	select {
	case sock := <-ready:
		return client.New(sock)
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30s")
	}
	return nil
}

// TestDeleteCreateRaceKeepsDisks is issue 9 item 8: a delete and a create
// of the same name race. Each round deletes the VM "r" while a create of
// "r" runs at the same time. The answers must agree with what is left
// (the VM exists at the end exactly when the create succeeded; the delete
// always succeeds, since "r" existed), and a VM's blank disk belongs to
// its incarnation: it exists exactly while the VM does. Odd rounds create
// once, even rounds retry a create refused with "exists", so that creates
// land in every phase of the delete. Rounds:
// LIFELINE_RACE_ROUNDS (default 200).
func TestDeleteCreateRaceKeepsDisks(t *testing.T) {
	rounds := 200
	if v := os.Getenv("LIFELINE_RACE_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("LIFELINE_RACE_ROUNDS=%q: want a positive count", v)
		}
		rounds = n
	}
	dataDir, err := os.MkdirTemp("", "ll")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	c := startTestDaemon(t, dataDir)
	ctx := context.Background()
	disk := blankDisk(dataDir, "r")

	both := 0
	for round := range rounds {
		if _, err := c.Status(ctx, "r"); err != nil {
			if _, err := c.Create(ctx, "r", api.Spec{}); err != nil {
				t.Fatalf("round %d: create before the race: %v", round, err)
			}
		}
		var wg sync.WaitGroup
		var delErr, createErr error
		wg.Add(2)
		go func() { defer wg.Done(); _, delErr = c.Delete(ctx, "r") }()
		go func() {
			defer wg.Done()
			for try := 0; try < 1+50*(1-round%2); try++ {
				_, createErr = c.Create(ctx, "r", api.Spec{})
				var apiErr *client.Error
				if !errors.As(createErr, &apiErr) || apiErr.Code != api.CodeExists {
					return
				}
			}
		}()
		wg.Wait()
		if delErr != nil {
			t.Fatalf("round %d: delete of an existing Stopped VM: %v", round, delErr)
		}
		var apiErr *client.Error
		if createErr != nil && !(errors.As(createErr, &apiErr) && apiErr.Code == api.CodeExists) {
			t.Fatalf("round %d: create: %v, want success or %q", round, createErr, api.CodeExists)
		}
		if createErr == nil {
			both++
		}
		vms, err := c.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		exists := false
		for _, v := range vms {
			if _, err := os.Stat(blankDisk(dataDir, v.Name)); err != nil {
				t.Fatalf("round %d: vm %s is %s but its disk: %v", round, v.Name, v.State, err)
			}
			exists = exists || v.Name == "r"
		}
		if exists != (createErr == nil) {
			t.Fatalf("round %d: create answered %v, delete succeeded, but vm r exists=%v", round, createErr, exists)
		}
		if _, err := os.Stat(disk); !exists && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("round %d: vm r is deleted but its disk remains (%v)", round, err)
		}
	}
	t.Logf("%d rounds: both delete and create succeeded %d times", rounds, both)
}

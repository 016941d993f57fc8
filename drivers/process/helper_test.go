package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// The test binary re-executes itself as a helper process when envMode is
// set; envReady names a file the helper writes its pid to once it is set up
// (signal dispositions, grandchild), and envArg is the mode's argument.
const (
	envMode  = "LIFELINE_TEST_HELPER"
	envReady = "LIFELINE_TEST_READY"
	envArg   = "LIFELINE_TEST_ARG"
)

// testBound bounds every wait of the tests.
const testBound = 15 * time.Second

// helpers are the helper modes; OS test files add their own in init.
var helpers = map[string]func() int{
	// sleep keeps default signal dispositions: SIGINT ends it.
	"sleep": func() int { ready(); return sleepForever() },
	// ignore-int ignores SIGINT (and CTRL_BREAK on Windows).
	"ignore-int": func() int {
		signal.Ignore(os.Interrupt)
		ready()
		return sleepForever()
	},
	// ignore-int-term ignores SIGINT and SIGTERM.
	"ignore-int-term": func() int {
		signal.Ignore(os.Interrupt, syscall.SIGTERM)
		ready()
		return sleepForever()
	},
	// ignore-all ignores every signal that can be ignored.
	"ignore-all": func() int {
		signal.Ignore(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
		ready()
		return sleepForever()
	},
	// tree ignores SIGINT and SIGTERM and starts a grandchild that ignores
	// everything (in the same group or job), whose pid goes to
	// <ready>.gc.
	"tree": func() int {
		signal.Ignore(os.Interrupt, syscall.SIGTERM)
		gcReady := os.Getenv(envReady) + ".gc"
		gc := exec.Command(exe())
		gc.Env = append(os.Environ(), envMode+"=ignore-all", envReady+"="+gcReady)
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "tree: grandchild:", err)
			return 2
		}
		if _, err := readPID(gcReady, testBound); err != nil {
			fmt.Fprintln(os.Stderr, "tree:", err)
			return 2
		}
		ready()
		return sleepForever()
	},
	// exit-after exits with code 3 after envArg milliseconds.
	"exit-after": func() int {
		ms, _ := strconv.Atoi(os.Getenv(envArg))
		ready()
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return 3
	},
	// echo-env prints the variable envArg names, and sleeps.
	"echo-env": func() int {
		fmt.Printf("%s=%s\n", os.Getenv(envArg), os.Getenv(os.Getenv(envArg)))
		ready()
		return sleepForever()
	},
	// launcher is a daemon that starts a tree (mode envArg, name "adopt")
	// with Start, writes the leader's identity to the ready file and
	// exits: the tree is then adopted by whoever reads that file.
	"launcher": func() int {
		agentReady := os.Getenv(envReady) + ".agent"
		p, err := Start(helperCommand(os.Getenv(envArg), agentReady, "adopt"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "launcher:", err)
			return 2
		}
		if _, err := readPID(agentReady, testBound); err != nil {
			fmt.Fprintln(os.Stderr, "launcher:", err)
			return 2
		}
		if err := WritePIDFile(os.Getenv(envReady), p.Proc); err != nil {
			fmt.Fprintln(os.Stderr, "launcher:", err)
			return 2
		}
		return 0
	},
}

// beforeTests runs in the test process (not in helpers) before the tests;
// OS test files set it.
var beforeTests = func() {}

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMode); mode != "" {
		f := helpers[mode]
		if f == nil {
			fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
			os.Exit(2)
		}
		os.Exit(f())
	}
	beforeTests()
	os.Exit(m.Run())
}

// exe is the test binary.
func exe() string {
	p, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return p
}

// ready writes this helper's pid to its ready file.
func ready() {
	if path := os.Getenv(envReady); path != "" {
		if err := WritePIDFile(path, drivers.Proc{PID: os.Getpid()}); err != nil {
			fmt.Fprintln(os.Stderr, "ready:", err)
			os.Exit(2)
		}
	}
}

func sleepForever() int {
	for {
		time.Sleep(time.Hour)
	}
}

// readPID waits (bounded) for a pid file and returns the identity in it.
func readPID(path string, bound time.Duration) (drivers.Proc, error) {
	deadline := time.Now().Add(bound)
	for {
		p, err := ReadPIDFile(path)
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			return drivers.Proc{}, fmt.Errorf("no pid file after %v: %w", bound, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// helperCommand is a Command running the helper in mode, with ready file
// ready, under name; extra is added to the environment.
func helperCommand(mode, ready, name string, extra ...string) Command {
	env := append(os.Environ(), envMode+"="+mode, envReady+"="+ready)
	return Command{Path: exe(), Env: append(env, extra...), Name: name}
}

// startHelper starts the helper in mode with Start and waits until it is set
// up; the test's cleanup kills its tree.
func startHelper(t testing.TB, mode string, extra ...string) (*Process, string) {
	t.Helper()
	ready := filepath.Join(tempDir(t), "ready")
	name := strings.ReplaceAll(t.Name(), "/", "_")
	p, err := Start(helperCommand(mode, ready, name, extra...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := KillTree(context.Background(), name, p.Proc); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		<-p.Done()
	})
	if _, err := readPID(ready, testBound); err != nil {
		t.Fatalf("helper %s: %v", mode, err)
	}
	return p, ready
}

// waitDone waits (bounded) for p's leader to exit.
func waitDone(t testing.TB, p *Process, what string) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(testBound):
		t.Fatalf("%s: pid %d still runs after %v", what, p.Proc.PID, testBound)
	}
}

// staysAlive asserts that p is still running after a short while: long
// enough for a signal to have landed.
func staysAlive(t testing.TB, p *Process, what string) {
	t.Helper()
	select {
	case <-p.Done():
		code, reason := p.ExitStatus()
		t.Fatalf("%s: pid %d exited (%d, %s), want it alive", what, p.Proc.PID, code, reason)
	case <-time.After(300 * time.Millisecond):
	}
	if err := Check(p.Proc); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eventually polls cond (bounded) until it holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, testBound)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// gone reports whether the process recorded as p no longer runs.
func gone(t testing.TB, p drivers.Proc) bool {
	t.Helper()
	err := Check(p)
	if err != nil && !errors.Is(err, ErrGone) {
		t.Fatalf("check pid %d: %v", p.PID, err)
	}
	return err != nil
}

// identityOf reads the identity of the process whose pid is in path.
func identityOf(t testing.TB, path string) drivers.Proc {
	t.Helper()
	p, err := readPID(path, testBound)
	if err != nil {
		t.Fatal(err)
	}
	live, err := Identify(p.PID)
	if err != nil {
		t.Fatal(err)
	}
	return live
}

// tempDir is t.TempDir, removed file by file with os.Remove: under Wine 8.0,
// os.RemoveAll (Go 1.26) fails with "Invalid function", as Wine answers its
// FILE_DISPOSITION_INFORMATION_EX request with a status Go does not fall
// back on.
func tempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lifeline-process-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var paths []string
		filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
			if err == nil {
				paths = append(paths, path)
			}
			return nil
		})
		for i := len(paths) - 1; i >= 0; i-- {
			if err := os.Remove(paths[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temp dir cleanup: %v", err)
			}
		}
	})
	return dir
}

// removeFile removes path, which must exist or be gone.
func removeFile(t testing.TB, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}

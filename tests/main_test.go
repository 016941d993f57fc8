package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// lifelineBin and lifelinedBin are the binaries under test, the CLI and
// the daemon, built once by TestMain into one directory with lifeline-cli
// (where lifeline finds lifeline-cli and `lifeline daemon` finds
// lifelined, as after `go install ./cmd/...`).
var lifelineBin, lifelinedBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lifeline-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lifelineBin, lifelinedBin = filepath.Join(dir, "lifeline"), filepath.Join(dir, "lifelined")
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "github.com/lifeline-vm/lifeline/cmd/lifeline", "github.com/lifeline-vm/lifeline/cmd/lifeline-cli", "github.com/lifeline-vm/lifeline/cmd/lifelined")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build lifeline, lifeline-cli and lifelined:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemonWait bounds how long a script waits for a daemon's socket.
const daemonWait = 15 * time.Second

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", filepath.Dir(lifelineBin)+string(os.PathListSeparator)+env.Getenv("PATH"))
			// Short paths: a unix socket path has ~104 bytes.
			home, err := os.MkdirTemp("", "ll")
			if err != nil {
				return err
			}
			env.Defer(func() { os.RemoveAll(home) })
			env.Setenv("LIFELINE_HOME", home)
			env.Setenv("LIMA_HOME", filepath.Join(home, "lima"))
			env.Setenv("AGENT", lifelineBin+" agent-sim")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":      cmdExits,
			"waitdaemon": cmdWaitDaemon,
			"eventually": cmdEventually,
			// limactl_test.go
			"limactlstart": cmdLimactlStart, "limactllist": cmdLimactlList, "dirsnap": cmdDirSnap,
			"natsserver": cmdNATSServer, // fleet_test.go
		},
	})
}

// cmdExits runs a command and checks its exit code: exits CODE prog args...
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%v exited %d, want %d", args[1:], got, want)
	}
}

// cmdWaitDaemon waits until a daemon answers on $LIFELINE_HOME's socket.
func cmdWaitDaemon(ts *testscript.TestScript, neg bool, args []string) {
	c := client.New(filepath.Join(ts.Getenv("LIFELINE_HOME"), api.SocketName))
	deadline := time.Now().Add(daemonWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Info(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no daemon answered within %v: %v", daemonWait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdEventually re-runs a command until its stdout matches a regexp, with a
// bound: eventually TIMEOUT REGEXP command [args...]. It is how a script
// waits for something no `lifeline wait` condition names.
func cmdEventually(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: eventually TIMEOUT REGEXP command [args...]")
	}
	bound, err := time.ParseDuration(args[0])
	if err != nil {
		ts.Fatalf("eventually: bad timeout %q", args[0])
	}
	re, err := regexp.Compile(args[1])
	if err != nil {
		ts.Fatalf("eventually: %v", err)
	}
	deadline := time.Now().Add(bound)
	for {
		_ = ts.Exec(args[2], args[3:]...)
		if re.MatchString(ts.ReadFile("stdout")) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("after %v, %v still does not print %q", bound, args[2:], args[1])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// copyPrograms copies the named programs built by TestMain (lifeline,
// lifeline-cli, lifelined) into a new directory of their own, and returns
// the path of the first one there.
func copyPrograms(t testing.TB, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		copyFile(t, filepath.Join(filepath.Dir(lifelineBin), name), filepath.Join(dir, name))
	}
	return filepath.Join(dir, names[0])
}

// copyFile copies src to dst, executable.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

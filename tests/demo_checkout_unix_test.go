// The demo's agents need unix sessions (demo.txtar runs on unix only
// too), so these tests are not built on Windows.

//go:build unix

package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lifelineAlone copies the programs named (lifeline first) alone into a
// directory of their own and returns lifeline's path there and a PATH
// that holds go and nothing of lifeline's.
func lifelineAlone(t *testing.T, names ...string) (bin, path string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	goBin, err = filepath.EvalSymlinks(goBin)
	if err != nil {
		t.Fatal(err)
	}
	bin = copyPrograms(t, append([]string{"lifeline"}, names...)...)
	path = filepath.Dir(goBin)
	for _, prog := range []string{"lifeline-cli", "lifelined"} {
		if _, err := exec.LookPath(filepath.Join(path, prog)); err == nil {
			t.Fatalf("%s, go's directory, holds a %s", path, prog)
		}
	}
	return bin, path
}

// TestDemoFromCheckoutBuildsLifelined: `go run ./cmd/lifeline demo` on a
// machine with only Go: a lifeline with no lifeline-cli or lifelined next
// to it or on PATH, run from the module's directory, builds both into a
// temporary directory, says so in one line that tells how to avoid it,
// and runs the whole demo through them (issue 12 item 19; CI's main job).
func TestDemoFromCheckoutBuildsLifelined(t *testing.T) {
	bin, path := lifelineAlone(t)
	cmd := exec.Command(bin, "demo")
	cmd.Dir = ".." // the module's root
	cmd.Env = append(os.Environ(), "PATH="+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("lifeline demo from the checkout: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "building lifeline-cli and lifelined from ") || !strings.Contains(lines[0], "`go install ./cmd/...`") {
		t.Errorf("stderr is not one line saying lifelined is built and how to avoid it:\n%s", stderr.String())
	}
	for _, want := range []string{"flaky crashed → Broken", "db → Stopped", "no process left behind"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, stdout.String())
		}
	}
}

// TestLifelinedVerbWithoutLifelined: a verb that runs in lifelined, with
// no lifelined anywhere and outside a checkout, exits 1 and says how to
// install it; `lifeline demo` there builds nothing.
func TestLifelinedVerbWithoutLifelined(t *testing.T) {
	bin, path := lifelineAlone(t, "lifeline-cli")
	for _, args := range [][]string{{"replay", "verify", "--db", "x.db"}, {"demo"}, {"status", "vm1", "--host", "h1"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("lifeline %s: %v, want exit 1\n%s", strings.Join(args, " "), err, out)
			continue
		}
		for _, want := range []string{"`lifeline " + args[0] + "` runs in lifelined", "lifelined is not installed", "go install ./cmd/..."} {
			if !strings.Contains(string(out), want) {
				t.Errorf("lifeline %s says %q, not %q", strings.Join(args, " "), out, want)
			}
		}
		if strings.Contains(string(out), "building") {
			t.Errorf("lifeline %s outside a checkout built something: %s", strings.Join(args, " "), out)
		}
	}
}

// TestLifelinedVerbsThroughLifeline: a verb that runs in lifelined
// prints, completes and exits through lifeline exactly as `lifelined cli`
// does, and as lifeline: the program name shown is lifeline's.
func TestLifelinedVerbsThroughLifeline(t *testing.T) {
	home := shortTemp(t)
	for _, args := range [][]string{
		{"replay", "--help"},
		{"replay", "verfy"},
		{"replay", "verify", "--db", filepath.Join(home, "none.db")},
		{"__complete", "replay", ""},
		{"__complete", "fleet", "l"},
		{"help", "graph"},
		{"graph", "--format", "svg"},
		{"-o", "json", "fleet", "list"},
		{"status", "vm1", "--host", "h1"},
	} {
		run := func(argv ...string) (string, int) {
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "LIFELINE_HOME="+home, "NATS_URL=")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				return string(out), ee.ExitCode()
			case err != nil:
				t.Fatalf("%v: %v", argv, err)
			}
			return string(out), 0
		}
		got, gotCode := run(append([]string{lifelineBin}, args...)...)
		want, wantCode := run(append([]string{lifelinedBin, "cli"}, args...)...)
		if got != want || gotCode != wantCode {
			t.Errorf("lifeline %q exits %d:\n%s\nlifelined cli exits %d:\n%s", args, gotCode, got, wantCode, want)
		}
		if strings.Contains(got, "lifelined cli") {
			t.Errorf("lifeline %q shows lifelined's entry verb:\n%s", args, got)
		}
	}
}

// TestLifelineWithoutLifelineCLI: lifeline alone, outside a checkout,
// with no lifeline-cli next to it or on PATH: a command its fast path
// does not answer exits 1 and says what is missing, where it looked and
// how to install it (as JSON on stderr with -o json), and builds nothing.
func TestLifelineWithoutLifelineCLI(t *testing.T) {
	bin, path := lifelineAlone(t)
	home := shortTemp(t)
	for _, args := range [][]string{{"start", "vm1"}, {"--version"}, {"status", "vm1"}, {"-o", "json", "list"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "PATH="+path, "LIFELINE_HOME="+home)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("lifeline %s: %v, want exit 1\n%s", strings.Join(args, " "), err, stderr.String())
			continue
		}
		msg := stderr.String()
		if args[0] == "-o" {
			var e struct {
				Error string `json:"error"`
				Code  string `json:"code"`
				Exit  int    `json:"exit"`
			}
			if err := json.Unmarshal(stderr.Bytes(), &e); err != nil || e.Exit != 1 || e.Code == "" {
				t.Errorf("lifeline %s: stderr %q is not the CLI's JSON error (%v)", strings.Join(args, " "), msg, err)
			}
			msg = e.Error
		}
		for _, want := range []string{"lifeline-cli is not installed", "next to " + bin, "on PATH", "go install ./cmd/..."} {
			if !strings.Contains(msg, want) {
				t.Errorf("lifeline %s says %q, not %q", strings.Join(args, " "), msg, want)
			}
		}
		if strings.Contains(msg, "building") || stdout.Len() > 0 {
			t.Errorf("lifeline %s outside a checkout built or printed something: %q %q", strings.Join(args, " "), stdout.String(), msg)
		}
	}
}

// TestLifelineFindsLifelineCLIOnPath: lifeline with no lifeline-cli next
// to it runs the one on PATH, as it says it does (README).
func TestLifelineFindsLifelineCLIOnPath(t *testing.T) {
	bin, path := lifelineAlone(t)
	want, err := exec.Command(filepath.Join(filepath.Dir(lifelineBin), "lifeline-cli"), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--version")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(lifelineBin)+string(os.PathListSeparator)+path)
	got, err := cmd.CombinedOutput()
	if err != nil || string(got) != string(want) {
		t.Errorf("lifeline --version with lifeline-cli on PATH: %q (%v), want lifeline-cli's %q", got, err, want)
	}
}

// TestLifelineInstalledAsLifelineCLI: a copy of lifeline (and a link to
// it) under lifeline-cli's name is refused with what to do, at once; it
// exec'd itself without end, at 100% CPU, saying nothing.
func TestLifelineInstalledAsLifelineCLI(t *testing.T) {
	for _, how := range []string{"copy", "symlink"} {
		bin, path := lifelineAlone(t)
		cli := filepath.Join(filepath.Dir(bin), "lifeline-cli")
		if how == "copy" {
			copyFile(t, bin, cli)
		} else if err := os.Symlink(bin, cli); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, "start", "vm1")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("%s: lifeline start vm1: %v, want exit 1\n%s", how, err, out)
			continue
		}
		for _, want := range []string{cli + " is not lifeline-cli but a copy of (or a link to) lifeline", "go install ./cmd/..."} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: lifeline start vm1 says %q, not %q", how, out, want)
			}
		}
	}
}

// TestGoRunUsesTheCheckoutNotAnInstalledLifelineCLI: `go run
// ./cmd/lifeline VERB` runs the checkout's CLI even with a lifeline-cli
// of another version on PATH (it took that one, silently).
func TestGoRunUsesTheCheckoutNotAnInstalledLifelineCLI(t *testing.T) {
	_, path := lifelineAlone(t)
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "lifeline-cli"), []byte("#!/bin/sh\necho \"an installed lifeline-cli: $*\"\nexit 7\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./cmd/lifeline", "--version")
	cmd.Dir = ".." // the module's root
	cmd.Env = append(os.Environ(), "PATH="+other+string(os.PathListSeparator)+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go run ./cmd/lifeline --version: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "lifeline ") || strings.Contains(stdout.String(), "installed") {
		t.Errorf("go run ./cmd/lifeline --version printed %q, want the checkout's lifeline-cli's version", stdout.String())
	}
	if !strings.Contains(stderr.String(), "building lifeline-cli and lifelined from ") {
		t.Errorf("go run ./cmd/lifeline did not say it builds from the checkout: %q", stderr.String())
	}
}

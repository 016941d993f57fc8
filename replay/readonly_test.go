package replay_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/replay/recheck"
	"github.com/lifeline-vm/lifeline/store"
)

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// everyVerb runs every verb of replay on db, each checked to succeed.
func everyVerb(t *testing.T, db *replay.DB, vm string) {
	t.Helper()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	must("timeline", db.Timeline(io.Discard, replay.TimelineOptions{}))
	must("timeline json", db.Timeline(io.Discard, replay.TimelineOptions{JSON: true, VMs: []string{vm}}))
	_, err := db.Verify(io.Discard)
	must("verify", err)
	must("explain", db.Explain(io.Discard, vm))
	_, err = db.At(io.Discard, replay.AtOptions{Seq: 3})
	must("at", err)
	must("export", db.Export(io.Discard, "jsonl"))
	must("graph", db.Graph(io.Discard, vm, "dot"))
	must("report", db.Report(io.Discard, replay.ReportOptions{}))
	var out bytes.Buffer
	_, err = recheck.Check(db, &out, recheck.Options{})
	if err != nil && !errors.Is(err, recheck.ErrDivergence) {
		t.Errorf("check: %v\n%s", err, out.String())
	}
}

// TestEveryVerbLeavesTheFileByteIdentical: replay opens read-only and
// never changes the file.
func TestEveryVerbLeavesTheFileByteIdentical(t *testing.T) {
	for _, name := range []string{"incident", "crash-8"} {
		t.Run(name, func(t *testing.T) {
			path := fixture(t, name)
			before := fileSum(t, path)
			fi, _ := os.Stat(path)
			db := openUTC(t, path)
			everyVerb(t, db, "vm1")
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if fileSum(t, path) != before {
				t.Fatal("the database changed")
			}
			if fi2, _ := os.Stat(path); !fi2.ModTime().Equal(fi.ModTime()) {
				t.Errorf("modification time changed: %v → %v", fi.ModTime(), fi2.ModTime())
			}
		})
	}
}

// TestSchema1StaysReadable: the store's schema-1 golden database (kept in
// testdata/) reads with every verb and stays as it is.
func TestSchema1StaysReadable(t *testing.T) {
	src := filepath.Join("testdata", "schema1.db")
	before := fileSum(t, src)
	path := filepath.Join(t.TempDir(), "schema1.db")
	b, _ := os.ReadFile(src)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db := openUTC(t, path)
	everyVerb(t, db, "alpine")
	var out bytes.Buffer
	res, err := db.Verify(&out)
	if err != nil || res.Records != 11 || res.VMs != 2 {
		t.Errorf("verify of schema 1: %v %+v\n%s", err, res, out.String())
	}
	text, err := db.ExplainText("alpine")
	if err != nil || !strings.Contains(text, "alpine is Stopped") {
		t.Errorf("explain alpine: %q, %v", text, err)
	}
	db.Close()
	if fileSum(t, path) != before || fileSum(t, src) != before {
		t.Fatal("the schema-1 database changed")
	}
}

// TestHeldByAnOpenStore: a second open of the file in this process (as a
// daemon holds it) is refused with the holder's pid and the way out.
func TestHeldByAnOpenStore(t *testing.T) {
	path := fixture(t, "lifecycle")
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = replay.Open(path, replay.Options{LockTimeout: 50 * time.Millisecond})
	checkHeld(t, err, path, os.Getpid())
}

// TestHeldByAnotherProcess: a live daemon in another process holds the
// file: the error names that process's pid.
func TestHeldByAnotherProcess(t *testing.T) {
	path := fixture(t, "lifecycle")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper: %v", err)
		}
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	_, err = replay.Open(path, replay.Options{LockTimeout: 50 * time.Millisecond})
	checkHeld(t, err, path, cmd.Process.Pid)
}

func checkHeld(t *testing.T, err error, path string, pid int) {
	t.Helper()
	var held *replay.HeldError
	if !errors.As(err, &held) || !errors.Is(err, store.ErrLocked) {
		t.Fatalf("open of a held file: %v, want a *replay.HeldError wrapping store.ErrLocked", err)
	}
	if runtime.GOOS != "linux" {
		pid = 0
	}
	if held.PID != pid || held.Path != path {
		t.Errorf("held error %+v, want pid %d", held, pid)
	}
	msg := err.Error()
	for _, want := range []string{path, "lifeline backup FILE", "--db FILE"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if pid > 0 && !strings.Contains(msg, "pid "+strconv.Itoa(pid)) {
		t.Errorf("message %q does not name pid %d", msg, pid)
	}
	t.Log(msg)
}

//go:build unix

package daemon

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/store"
)

func wantRefusal(t *testing.T, err error, mention ...string) {
	t.Helper()
	if !errors.Is(err, ErrUnsafeDataDir) {
		t.Fatalf("err = %v, want ErrUnsafeDataDir", err)
	}
	for _, m := range mention {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%q does not mention %q", err, m)
		}
	}
}

func TestDataDirCreated0700(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "home")
	if err := prepareDataDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if err := prepareDataDir(dir); err != nil { // and it passes its own check
		t.Fatal(err)
	}
}

func TestDataDirWorldWritableRefusedNotRemoded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, prepareDataDir(dir), dir, "mode", "group or others write", "chmod go-w")
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o777 || fi.Mode()&os.ModeSticky == 0 {
		t.Fatalf("the directory was re-moded to %v", fi.Mode())
	}
	// Group-writable alone is refused too.
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, prepareDataDir(dir), "0770")
}

func TestDataDirOfAnotherUserRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	} else {
		dir = "/" // root's: never this user's
	}
	wantRefusal(t, prepareDataDir(dir), dir, "owned by", "not by this daemon's user")
}

// The refusal's way out names the default data dir the CLI
// really uses (it once said ~/.lifeline, which lifeline
// never uses).
func TestDataDirRefusalNamesTheRealDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	} else {
		dir = "/"
	}
	err := prepareDataDir(dir)
	wantRefusal(t, err, "$XDG_STATE_HOME/lifeline", "~/.local/state/lifeline")
	if strings.Contains(err.Error(), "~/.lifeline") {
		t.Errorf("%q names ~/.lifeline, which is no default", err)
	}
}

func TestDataDirDatabaseFileChecks(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, DBName)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("victim\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A planted symlink.
	if err := os.Symlink(victim, db); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, prepareDataDir(dir), db, "symlink")
	// Run refuses before it opens anything, and the victim is untouched.
	err := Run(context.Background(), Config{DataDir: dir})
	wantRefusal(t, err, "symlink")
	if b, _ := os.ReadFile(victim); string(b) != "victim\n" {
		t.Fatalf("the victim changed: %q", b)
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o644 {
		t.Fatalf("the victim was re-moded to %v", fi.Mode())
	}
	// A hard link.
	os.Remove(db)
	if err := os.Link(victim, db); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, prepareDataDir(dir), "hard links")
	os.Remove(db)
	// A database readable by others.
	s, err := store.Open(db, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, prepareDataDir(dir), "chmod 600")
	if err := os.Chmod(db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := prepareDataDir(dir); err != nil {
		t.Fatal(err)
	}
}

func TestStaleSocketOnlySocketsRemoved(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, api.SocketName)
	// A regular file at the socket path: refused, kept.
	if err := os.WriteFile(sock, []byte("someone's file"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, removeStaleSocket(sock), sock, "regular file", "not a socket")
	if b, err := os.ReadFile(sock); err != nil || string(b) != "someone's file" {
		t.Fatalf("the file at the socket path changed: %q %v", b, err)
	}
	os.Remove(sock)
	// A live socket: refused, kept.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	wantRefusal(t, removeStaleSocket(sock), "answers")
	// The same socket, dead: removed.
	ln.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("the closed listener removed its socket: %v", err)
	}
	if err := removeStaleSocket(sock); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale socket still there: %v", err)
	}
	// Nothing there: nothing to do.
	if err := removeStaleSocket(sock); err != nil {
		t.Fatal(err)
	}
	// removeSocket at shutdown leaves a non-socket alone.
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removeSocket(sock)
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("removeSocket removed a regular file: %v", err)
	}
}

//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/lifeline-vm/lifeline/internal/atomicfile"
)

// prepareDataDir makes or checks dir (see datadir.go).
func prepareDataDir(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data dir %s: %w", dir, err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s: not a directory (%s): %w; point --data-dir or LIFELINE_HOME at a directory of your own", dir, fi.Mode().Type(), ErrUnsafeDataDir)
	}
	if uid := owner(fi); uid != os.Geteuid() {
		return fmt.Errorf("data dir %s: owned by %s, not by this daemon's user %s (mode %04o): %w; "+
			"the daemon keeps its database and socket only in a directory of its own: point --data-dir or LIFELINE_HOME at one (default $XDG_STATE_HOME/lifeline, else ~/.local/state/lifeline)",
			dir, userName(uid), userName(os.Geteuid()), fi.Mode().Perm(), ErrUnsafeDataDir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("data dir %s: mode %04o%s lets group or others write in it (owner %s): %w; "+
			"lifeline never re-modes a directory it did not make: run `chmod go-w %s` if it is yours alone, or point --data-dir at a directory of your own",
			dir, perm, sticky(fi), userName(owner(fi)), ErrUnsafeDataDir, dir)
	}
	db := filepath.Join(dir, DBName)
	fi, err = os.Lstat(db)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("database %s: %w", db, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("database %s: a %s, not a regular file: %w; lifeline never follows one to its database: remove it, or point --data-dir elsewhere", db, typeName(fi), ErrUnsafeDataDir)
	case owner(fi) != os.Geteuid():
		return fmt.Errorf("database %s: owned by %s, not by this daemon's user %s: %w; move it away, or point --data-dir elsewhere", db, userName(owner(fi)), userName(os.Geteuid()), ErrUnsafeDataDir)
	case links(fi) != 1:
		return fmt.Errorf("database %s: has %d hard links, so it is also another file: %w; copy it (cp) to a file of its own", db, links(fi), ErrUnsafeDataDir)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("database %s: mode %04o lets group or others read or write it: %w; run `chmod 600 %s`", db, fi.Mode().Perm(), ErrUnsafeDataDir, db)
	}
	return nil
}

// removeStaleSocket clears the socket path for a new listener (see
// datadir.go).
func removeStaleSocket(sock string) error {
	fi, err := os.Lstat(sock)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket %s: %w", sock, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket %s: a %s is there, not a socket: %w; lifeline removes only a socket it left: move it away", sock, typeName(fi), ErrUnsafeDataDir)
	}
	if owner(fi) != os.Geteuid() {
		return fmt.Errorf("socket %s: owned by %s, not by this daemon's user: %w; move it away", sock, userName(owner(fi)), ErrUnsafeDataDir)
	}
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("socket %s: a process answers on it, though this daemon holds the database lock: %w; stop that process or move the socket away", sock, ErrUnsafeDataDir)
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", sock, err)
	}
	return nil
}

// removeSocket removes the daemon's socket at shutdown, if a socket is
// still what is there.
func removeSocket(sock string) {
	if fi, err := os.Lstat(sock); err == nil && fi.Mode().Type() == fs.ModeSocket {
		_ = os.Remove(sock)
	}
}

func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

func sticky(fi fs.FileInfo) string {
	if fi.Mode()&fs.ModeSticky != 0 {
		return " (sticky)"
	}
	return ""
}

func typeName(fi fs.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == 0:
		return "regular file"
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t&fs.ModeDir != 0:
		return "directory"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	default:
		return "device or special file (" + t.String() + ")"
	}
}

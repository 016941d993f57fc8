//go:build linux

package store

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockHolder returns the pid of a process holding a lock on the file at
// path, as /proc/locks reports it, or 0 when it cannot tell. Best-effort,
// for error messages.
func lockHolder(path string) int {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	want := strconv.FormatUint(major, 16) + ":" + strconv.FormatUint(minor, 16) + ":" + strconv.FormatUint(st.Ino, 10)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 4242 fe:00:246947 0 EOF"; a waiter's
		// line has "->" after the id.
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] == "->" || !sameFile(fields[5], want) {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
}

// sameFile compares /proc/locks's "maj:min:inode" (hex device numbers,
// zero-padded to two digits) with want (unpadded).
func sameFile(field, want string) bool {
	parts := strings.Split(field, ":")
	if len(parts) != 3 {
		return false
	}
	var b strings.Builder
	for i, p := range parts[:2] {
		n, err := strconv.ParseUint(p, 16, 64)
		if err != nil {
			return false
		}
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.FormatUint(n, 16))
	}
	return b.String()+":"+parts[2] == want
}

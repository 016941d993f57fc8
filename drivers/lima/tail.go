package lima

import (
	"bytes"
	"errors"
	"io"
	"os"
)

// maxLine bounds a line the tail keeps while waiting for its end: an event
// is a few hundred bytes; anything longer is not one of Lima's and is
// dropped.
const maxLine = 1 << 20

// tail reads the complete lines appended to a file, a small tailer of its
// own rather than Lima's events.Watch (nxadm/tail): it is read when the
// caller decides (no goroutines or inotify watches of its own to leak), it
// never loses a line that was half written when it looked (the rest is
// kept until the newline comes), it starts again from the top when the file
// is replaced or truncated (a `limactl start` re-creates the log), and it
// logs nothing through a global logger.
type tail struct {
	path    string
	f       *os.File
	off     int64  // bytes of f consumed, complete lines and partial
	partial []byte // the start of a line whose newline has not come yet
	skip    bool   // partial overflowed maxLine: drop up to the newline
}

// lines returns the complete lines (without the newline) appended since the
// last call. A file that does not exist yet gives none. When the path now
// names another file, what is left of the old one is read first.
func (t *tail) lines() ([][]byte, error) {
	replaced, err := t.check()
	if err != nil {
		return nil, err
	}
	out, err := t.drain(nil)
	if err != nil || !replaced {
		return out, err
	}
	t.close()
	if err := t.open(); err != nil {
		return out, err
	}
	return t.drain(out)
}

// drain appends to out the complete lines from the open file up to its end.
func (t *tail) drain(out [][]byte) ([][]byte, error) {
	if t.f == nil {
		if err := t.open(); err != nil || t.f == nil {
			return out, err
		}
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := t.f.Read(buf)
		if n > 0 {
			t.off += int64(n)
			out = t.split(out, buf[:n])
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// split appends the complete lines of chunk (after what partial holds) to
// out.
func (t *tail) split(out [][]byte, chunk []byte) [][]byte {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			if !t.skip {
				t.partial = append(t.partial, chunk...)
				if len(t.partial) > maxLine {
					t.partial, t.skip = nil, true
				}
			}
			return out
		}
		if !t.skip {
			line := append(t.partial, chunk[:i]...)
			out = append(out, line)
		}
		t.partial, t.skip = nil, false
		chunk = chunk[i+1:]
	}
	return out
}

// check reports whether the path now names another file than the open
// one, and starts over from the top when the open file shrank below what
// was read (truncated).
func (t *tail) check() (replaced bool, err error) {
	if t.f == nil {
		return false, nil
	}
	cur, err := t.f.Stat()
	if err != nil {
		return false, err
	}
	if cur.Size() < t.off {
		if _, err := t.f.Seek(0, io.SeekStart); err != nil {
			return false, err
		}
		t.off, t.partial, t.skip = 0, nil, false
	}
	now, err := os.Stat(t.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil // removed: what is open is all there is
	case err != nil:
		return false, err
	}
	return !os.SameFile(cur, now), nil
}

// open opens the file from its start; a missing file leaves t.f nil.
func (t *tail) open() error {
	f, err := os.Open(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	t.f, t.off, t.partial, t.skip = f, 0, nil, false
	return nil
}

func (t *tail) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

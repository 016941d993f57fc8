//go:build unix

package fastpath

import (
	"bytes"
	"context"
	"strconv"
	"syscall"
)

// fastAnswerLimit bounds the answer the fast path reads; a bigger one is
// the tree's.
const fastAnswerLimit = 1 << 20

// Get GETs path from the daemon on the unix socket sock with an
// HTTP/1.0 exchange written by hand over the socket's system calls (no
// net, no net/http: their work at each start is most of what a status
// costs beyond the process's start) and returns the body of a 200 answer;
// ok is false for anything else, and for ctx done (Ctrl-C), so that the
// tree runs the command and says what it would have said.
func Get(ctx context.Context, sock, path string) (body []byte, ok bool) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, false
	}
	syscall.CloseOnExec(fd)
	defer syscall.Close(fd)
	// Ctrl-C: shutting the socket down ends a connect or read that waits
	// on the daemon; the tree then runs with ctx done.
	if ctx.Done() != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-ctx.Done():
				_ = syscall.Shutdown(fd, syscall.SHUT_RDWR)
			case <-done:
			}
		}()
	}
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		return nil, false
	}
	// HTTP/1.0: the daemon answers without chunks and closes the
	// connection after its answer, so the body ends at EOF.
	req := "GET " + path + " HTTP/1.0\r\nHost: lifeline\r\n\r\n"
	for b := []byte(req); len(b) > 0; {
		n, err := syscall.Write(fd, b)
		if err != nil || n <= 0 {
			return nil, false
		}
		b = b[n:]
	}
	buf := make([]byte, 0, 8<<10)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= fastAnswerLimit {
				return nil, false
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n < 0 {
			return nil, false
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
		if whole(buf) {
			break // a peer that keeps the connection open does not hold it up
		}
	}
	if ctx.Err() != nil {
		return nil, false
	}
	return parseFastAnswer(buf)
}

// whole tells whether b holds an answer's head and as many bytes of body
// as its Content-Length says. The daemon closes the connection after an
// HTTP/1.0 answer; another peer (a proxy) may not.
func whole(b []byte) bool {
	head, body, found := bytes.Cut(b, []byte("\r\n\r\n"))
	if !found {
		return false
	}
	for _, l := range bytes.Split(head, []byte("\r\n"))[1:] {
		if k, v, ok := bytes.Cut(l, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			return err == nil && len(body) >= n
		}
	}
	return false
}

// parseFastAnswer returns the body of an HTTP/1.x 200 answer read to its
// end; ok is false for another status, a chunked body or one whose length
// is not its Content-Length.
func parseFastAnswer(b []byte) (body []byte, ok bool) {
	head, body, found := bytes.Cut(b, []byte("\r\n\r\n"))
	if !found {
		return nil, false
	}
	lines := bytes.Split(head, []byte("\r\n"))
	if !bytes.HasPrefix(lines[0], []byte("HTTP/1.1 200 ")) && !bytes.HasPrefix(lines[0], []byte("HTTP/1.0 200 ")) {
		return nil, false
	}
	for _, l := range lines[1:] {
		k, v, found := bytes.Cut(l, []byte(":"))
		if !found {
			return nil, false
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			return nil, false
		case bytes.EqualFold(k, []byte("Content-Length")):
			n, err := strconv.Atoi(string(v))
			if err != nil || n != len(body) {
				return nil, false
			}
		}
	}
	return body, true
}

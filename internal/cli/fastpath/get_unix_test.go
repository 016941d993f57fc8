//go:build unix

package fastpath

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestParseFastAnswer: only a 200 whose body is all there (its
// Content-Length, or to the end without one) and not chunked is the fast
// path's; anything else goes to the tree.
func TestParseFastAnswer(t *testing.T) {
	for _, c := range []struct {
		answer, body string
		ok           bool
	}{
		{"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{}\n", "{}\n", true},
		{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}\n", "{}\n", true},
		{"HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\n{}\n", "", false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n", "", false},
		{"HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\n{}\n", "", false},
		{"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n", "", false},
		{"HTTP/1.0 200 OK\r\nbad header\r\n\r\n{}", "", false},
		{"", "", false},
	} {
		body, ok := parseFastAnswer([]byte(c.answer))
		if string(body) != c.body || ok != c.ok {
			t.Errorf("parseFastAnswer(%q) = %q, %v; want %q, %v", c.answer, body, ok, c.body, c.ok)
		}
	}
}

// TestGetReturnsOnceTheBodyIsIn: a peer that sends a whole answer and
// keeps the connection open (a proxy; the daemon closes it) does not hold
// the fast path up: it stops reading at the Content-Length. Before, it
// read until the peer closed, forever with one that never did.
func TestGetReturnsOnceTheBodyIsIn(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	release := make(chan struct{})
	defer close(release)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Read(make([]byte, 4096))
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}\n"))
		<-release // open until the test ends
	}()
	type result struct {
		body []byte
		ok   bool
	}
	done := make(chan result, 1)
	go func() {
		body, ok := Get(context.Background(), sock, "/v1/vms")
		done <- result{body, ok}
	}()
	select {
	case r := <-done:
		if !r.ok || string(r.body) != "{}\n" {
			t.Fatalf("Get = %q, %v; want the body", r.body, r.ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get still reads 10s after the whole answer came, from a peer that keeps the connection open")
	}
}

package daemon

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/client"
)

// At the connection cap, idle keep-alives and silent connections are
// closed to let a new client in: with 3x the cap held open, a client
// still gets an answer, and the count never passes the cap (issue 9,
// item 10: 20,400 keep-alive connections made `lifeline list` time out).
func TestConnCapKeepsTheCLIAnswering(t *testing.T) {
	dir, err := os.MkdirTemp("", "ll")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	const max = 16
	lim := newConnLimiter(ln, max, zerolog.Nop())
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, `{"pid":1}`)
		}),
		ConnState: lim.ConnState,
	}
	go hs.Serve(lim)
	defer hs.Close()

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 3*max; i++ {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if i%2 == 0 {
			// A keep-alive that made one request and stays idle.
			fmt.Fprint(c, "GET /v1/info HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				resp.Body.Close()
			}
		}
		if n := lim.open(); n > max {
			t.Fatalf("%d connections open, cap %d", n, max)
		}
	}
	time.Sleep(evictGrace) // the silent ones become evictable
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := client.New(sock).Info(ctx); err != nil {
		t.Fatalf("a client at the cap: %v", err)
	}
	t.Logf("answered in %v with %d connections held", time.Since(start), len(held))
	if n := lim.open(); n > max {
		t.Fatalf("%d connections open, cap %d", n, max)
	}
}

// When every connection is busy, a new one is refused at once rather than
// left waiting in the backlog.
func TestConnCapRefusesWhenAllBusy(t *testing.T) {
	dir, err := os.MkdirTemp("", "ll")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	const max = 4
	lim := newConnLimiter(ln, max, zerolog.Nop())
	block := make(chan struct{})
	hs := &http.Server{
		Handler:   http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }),
		ConnState: lim.ConnState,
	}
	go hs.Serve(lim)
	defer hs.Close()
	defer close(block)
	for i := 0; i < max; i++ {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	deadline := time.Now().Add(5 * time.Second)
	for lim.busy() < max {
		if time.Now().After(deadline) {
			t.Fatalf("%d busy connections, want %d", lim.busy(), max)
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.New(sock).Info(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("a client past a cap of busy connections: %v (ctx %v), want refused at once", err, ctx.Err())
	}
}

// The control server closes idle keep-alives and slow headers.
func TestControlServerTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hs, l := controlServer(http.NotFoundHandler(), ln, zerolog.Nop())
	if hs.IdleTimeout <= 0 || hs.ReadHeaderTimeout <= 0 || hs.ConnState == nil {
		t.Errorf("control server: idle %v, header %v, conn hook %v", hs.IdleTimeout, hs.ReadHeaderTimeout, hs.ConnState != nil)
	}
	if cl, ok := l.(*connLimiter); !ok || cl.max < 8 || cl.max > MaxConns {
		t.Errorf("listener %T without a sane cap", l)
	}
	for limit, want := range map[uint64]int{0: MaxConns, 256: 128, 1 << 20: MaxConns, 4: 8} {
		if got := connCap(limit); got != want {
			t.Errorf("connCap(%d) = %d, want %d", limit, got, want)
		}
	}
}

//go:build unix

package tests

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// The adversary's 20,400 keep-alive connections exhausted the daemon's fds
// and `lifeline list` timed out (issue 9, item 10). Here a daemon with a
// hard fd limit of 256 gets 1,000 keep-alive connections, and `lifeline list` still answers within a
// bound, with running VMs untouched. Each connection made a request and
// stays open, idle.
func TestManyConnectionsListStillAnswers(t *testing.T) {
	home := shortTemp(t)
	logf, err := os.Create(filepath.Join(home, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("/bin/sh", "-c", `ulimit -n 256 && exec "$0" "$@"`, lifelineBin, "daemon", "--data-dir", home,
		"--lima-home", filepath.Join(home, "lima"),
		"--hostagent-cmd", lifelineBin+" agent-sim", "--graceful-timeout", crashGraceful.String(), "--log-format", "json")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, done := make(chan error, 1), make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(settleWait):
			_ = cmd.Process.Kill()
		}
	})
	sock := filepath.Join(home, api.SocketName)
	c := client.New(sock)
	deadline := time.Now().Add(daemonWait)
	for {
		if _, err := c.Info(context.Background()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not up\n%s", readLog(home))
		}
		time.Sleep(20 * time.Millisecond)
	}
	vms := runningVMs(t, c, "vm1")

	var held []net.Conn
	served := 0
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// Bounded as a whole: against a daemon out of descriptors every dial
	// and read would wait.
	budget := time.Now().Add(15 * time.Second)
	for i := 0; i < 1000 && time.Now().Before(budget); i++ {
		conn, err := net.DialTimeout("unix", sock, time.Second)
		if err != nil {
			continue // the backlog was full for a moment: the daemon is closing others
		}
		held = append(held, conn)
		// A keep-alive that made one request and stays idle: the
		// adversary's kind, which no header timeout closes.
		_ = conn.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprint(conn, "GET /v1/info HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
			resp.Body.Close()
			served++
		}
	}
	if served < 500 {
		t.Errorf("only %d of %d connections were served", served, len(held))
	}
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		_, err := c.List(ctx)
		cancel()
		if err != nil {
			t.Fatalf("list with %d connections held: %v\n%s", len(held), err, readLog(home))
		}
		t.Logf("list answered in %v with %d connections held", time.Since(start), len(held))
	}
	supervising(t, c, vms, "1000 connections")
	select {
	case err := <-exited:
		t.Fatalf("daemon exited: %v", err)
	default:
	}
}

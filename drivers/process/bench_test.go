package process

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Run with:
//
//	go test -run '^$' -bench . -benchtime 200x ./drivers/process/
//
// The kill → exit-observed benchmarks time only the kill and the
// observation; they also report the median and 90th percentile.

// BenchmarkSpawnStop: Start an agent, stop it gracefully (Terminate where
// Interrupt needs a console: Windows), and see it exit.
func BenchmarkSpawnStop(b *testing.B) {
	stop := Interrupt
	if isWindows() {
		stop = Terminate
	}
	for b.Loop() {
		p, err := Start(helperCommand("sleep", "", "bench"))
		if err != nil {
			b.Fatal(err)
		}
		if err := stop(p.Proc); err != nil {
			b.Fatal(err)
		}
		<-p.Done()
	}
}

// BenchmarkKillToExitChild: SIGKILL (TerminateProcess) to our child, until
// Wait has reaped it and Done is closed.
func BenchmarkKillToExitChild(b *testing.B) {
	benchKillToExit(b, func(p *Process) func() error {
		return func() error { <-p.Done(); return nil }
	})
}

// BenchmarkKillToExitAdopted: the same process watched as an adopted one
// (pidfd / kqueue / process handle through WaitExit's watch, armed before
// the kill).
func BenchmarkKillToExitAdopted(b *testing.B) {
	benchKillToExit(b, func(p *Process) func() error {
		w, err := watchExit(p.Proc)
		if err != nil || w == nil {
			b.Fatalf("watch: %v, %v", w, err)
		}
		return func() error {
			defer w.close()
			return w.wait(context.Background())
		}
	})
}

// benchKillToExit starts an agent (untimed), arms observe (untimed), then
// times the kill and the observation.
func benchKillToExit(b *testing.B, arm func(*Process) func() error) {
	dir := tempDir(b)
	lat := make([]time.Duration, 0, b.N)
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		ready := filepath.Join(dir, "ready")
		p, err := Start(helperCommand("sleep", ready, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := readPID(ready, testBound); err != nil {
			b.Fatal(err)
		}
		observe := arm(p)
		b.StartTimer()
		t0 := time.Now()
		if err := p.cmd.Process.Kill(); err != nil {
			b.Fatal(err)
		}
		if err := observe(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		<-p.Done()
		removeFile(b, ready)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "median-ns")
	b.ReportMetric(float64(lat[len(lat)*9/10].Nanoseconds()), "p90-ns")
}

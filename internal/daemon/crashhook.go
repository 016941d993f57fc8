package daemon

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/store"
)

// EnvCrashAfterWrites is a test hook: set to N, the daemon kills itself
// with SIGKILL right after its Nth durable append (counting from its
// start), as a crash at that exact point would. The crash-point suite in
// tests/ uses it to crash the real binary between every two records.
const EnvCrashAfterWrites = "LIFELINE_TEST_CRASH_AFTER_WRITES"

// crashAfter wraps the engine's store when the hook is set.
type crashAfter struct {
	engine.Store
	n      int64
	writes atomic.Int64
}

func withCrashHook(st *store.Store) (engine.Store, error) {
	v := os.Getenv(EnvCrashAfterWrites)
	if v == "" {
		return st, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%s=%q: want a count of writes, at least 1", EnvCrashAfterWrites, v)
	}
	return &crashAfter{Store: st, n: n}, nil
}

func (c *crashAfter) Append(ctx context.Context, w store.Write) (store.Record, error) {
	rec, err := c.Store.Append(ctx, w)
	if err == nil && c.writes.Add(1) >= c.n {
		p, _ := os.FindProcess(os.Getpid())
		_ = p.Kill() // SIGKILL on Unix, TerminateProcess on Windows
		select {}
	}
	return rec, err
}

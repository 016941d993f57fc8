package replay_test

import (
	"flag"
	"os"
	"testing"

	fx "github.com/lifeline-vm/lifeline/replay/internal/fixture"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The shared fixtures (replay/internal/fixture), by the names these tests
// use.
var (
	bg      = fx.Bg
	newRig  = fx.NewRig
	until   = fx.Until
	fixture = fx.Path
)

type rig = fx.Rig

const (
	testGraceful    = fx.Graceful
	testStart       = fx.Start
	testTerminate   = fx.Terminate
	lifecycleWrites = fx.LifecycleWrites
)

func TestMain(m *testing.M) {
	if path := os.Getenv(holdLockEnv); path != "" {
		os.Exit(holdLock(path))
	}
	code := m.Run()
	fx.Cleanup()
	os.Exit(code)
}

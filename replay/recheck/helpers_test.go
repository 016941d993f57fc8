package recheck_test

import (
	"os"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/replay"
	fx "github.com/lifeline-vm/lifeline/replay/internal/fixture"
)

// The shared fixtures (replay/internal/fixture), by the names these tests
// use.
var (
	bg      = fx.Bg
	newRig  = fx.NewRig
	fixture = fx.Path
)

const (
	testGraceful    = fx.Graceful
	testStart       = fx.Start
	lifecycleWrites = fx.LifecycleWrites
)

// openUTC opens path for replay with times in UTC.
func openUTC(t *testing.T, path string) *replay.DB {
	t.Helper()
	db, err := replay.Open(path, replay.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMain(m *testing.M) {
	code := m.Run()
	fx.Cleanup()
	os.Exit(code)
}

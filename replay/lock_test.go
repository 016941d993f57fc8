package replay_test

import (
	"fmt"
	"io"
	"os"

	"github.com/lifeline-vm/lifeline/store"
)

// holdLockEnv, when set in the environment of this test binary, makes it a
// helper process: it opens the database the variable names read-write, as
// a daemon does, prints "ready", and holds it until its stdin closes.
const holdLockEnv = "LIFELINE_REPLAY_TEST_HOLD_LOCK"

func holdLock(path string) int {
	s, err := store.Open(path, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

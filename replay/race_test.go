//go:build race

package replay_test

// raceEnabled: the race detector slows scans down tenfold; big tests
// shrink.
const raceEnabled = true

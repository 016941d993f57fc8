// Package front is the program `lifeline` on unix: it answers `lifeline
// status NAME` and `lifeline list` from the fast path (package
// internal/cli/fastpath) and replaces itself with lifeline-cli, the CLI
// with every verb, for anything else (issue 12 item 19).
//
// Why a program of its own: Go initialises every package a program links
// before main, and the pages of a bigger binary are faulted in as it
// starts. The whole CLI (cobra, net/http with crypto/tls, the Lima
// client agent-sim needs) took ~1.4 ms more to reach its first line than
// a program that links only the fast path, which alone is the difference
// between a status round trip within 2 ms of a minimal Go program and
// one 2.5-3.4 ms above it (BENCHMARKS.md). Every other command pays one
// exec of lifeline-cli (the same pid: signals, exit codes and a service
// manager see one process), about what a minimal Go program's start
// costs.
//
// It sets up no signal handling while it answers (os/signal's goroutine
// and thread cost ~0.9 ms): Ctrl-C while it waits on the daemon ends the
// process as it does during any program's initialisation, killed by
// SIGINT (130 in the shell), with nothing written.
//
// Windows has no exec that keeps the process, so there cmd/lifeline is
// the whole CLI itself, and the fast path is unix's.
package front

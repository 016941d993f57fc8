// Command lifeline keeps VM host agents alive and stops them cleanly.
//
// It is the command people type. On unix it is small (internal/front):
// `lifeline status NAME` and `lifeline list` are answered by its fast
// path, and every other command line is run by lifeline-cli, the CLI with
// every verb, which replaces this process (found next to lifeline, else
// on PATH). The verbs that need what only the daemon's program links
// (fleet, replay, graph, demo, and any verb given --fleet or --host) run
// in lifelined as `lifelined cli VERB ARGS`, which lifeline-cli runs in
// its place. On Windows, which has no such exec, lifeline is the whole
// CLI itself.
//
// Exit codes: 0 ok, 1 error, 2 usage, 3 rejected because of the VM's
// state, 4 timed out, 130 interrupted (Ctrl-C).
package main

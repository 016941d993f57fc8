// Package tests holds black-box tests of the built lifeline binary: CLI
// scripts (testscript, testdata/*.txtar) that run the real daemon with the
// real agent-sim host agents, the crash-point suite that SIGKILLs the
// daemon at every step of a lifecycle, and the storm (TestStorm, Linux):
// random commands from many clients on misbehaving agents, random daemon
// SIGKILLs, and an audit of the log and of every process against it.
package tests

// Package tests holds black-box tests of the built lifeline binary: CLI
// scripts (testscript, testdata/*.txtar) that run the real daemon with the
// real agent-sim host agents, and the crash-point suite that SIGKILLs the
// daemon at every step of a lifecycle.
package tests

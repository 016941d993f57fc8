// Package server is lifeline's control API (package api) as an
// [http.Handler] over an [engine.Engine]: the routes the daemon serves on
// its unix socket, for any program that runs an engine of its own (a
// desktop app's backend, a test harness, a fleet agent) and wants the same
// API, and the same CLI and package client, on a socket of its choosing.
//
// The handler is the API and nothing else. Where it is served, who may
// connect (the daemon's socket is mode 0600 in a directory only its user
// may write), how many connections and for how long, and the engine's and
// the store's lifetimes are the caller's: close the listener before the
// engine, and the engine before the store.
//
// It converts between the wire types and the engine's at its edge: a
// state or an event crosses as its name, a record as an [api.Record], and
// an engine error becomes an [api.ErrorBody] with the code and status that
// package api lists.
package server

// Package client talks to a lifeline daemon (or to any program that serves
// package server's handler) over its control socket.
//
// The zero [Client] talks to the daemon of the default data dir, the one
// the CLI uses ($LIFELINE_HOME, else $XDG_STATE_HOME/lifeline, else
// ~/.local/state/lifeline). Set [Client.SocketPath] for another daemon, or
// [Client.Dial] to reach it some other way (a forwarded socket, a test's
// in-memory pipe).
//
// Every method takes a context that bounds it. A refusal by the daemon is a
// *[Error] carrying its [api.ErrorBody]: branch on its code with
// [IsRejected], [IsNotFound], [IsTimeout] or [ErrorCode], never on the
// text.
//
// Commands answer with the record they wrote ([api.Result]); to see what
// follows without missing a transition in between, wait or follow the
// record stream from that sequence number:
//
//	r, err := c.Start(ctx, "vm1")
//	...
//	v, err := c.Wait(ctx, "vm1", api.Running, client.WaitOptions{Since: r.Seq})
//
// The package imports only the standard library and package api: a test
// keeps its dependency list small.
package client

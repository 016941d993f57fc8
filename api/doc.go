// Package api is the wire format of lifeline's control socket: HTTP/1.1
// over a unix socket, JSON bodies, stable field names. It holds the wire
// types only and imports nothing but the standard library, so that a
// program that talks to a daemon (package client) does not link the engine,
// the store or a driver. The server is package server; the CLI and package
// client are its clients.
//
// Routes:
//
//	GET    /v1/info                      Info
//	GET    /v1/vms                       []VM
//	POST   /v1/vms                       CreateRequest → Result
//	GET    /v1/vms/{name}                VM
//	DELETE /v1/vms/{name}                Result
//	POST   /v1/vms/{name}/start          Result
//	POST   /v1/vms/{name}/stop           StopRequest → Result
//	POST   /v1/vms/{name}/reset          Result
//	PUT    /v1/vms/{name}/spec           UpdateRequest → Result
//	POST   /v1/vms/{name}/release        Result (State Absent: lifeline forgot it; nothing stopped)
//	POST   /v1/import                    ImportRequest → ImportResponse (one ImportResult per VM)
//	GET    /v1/vms/{name}/wait           ?for=state=S|delete&since=SEQ&timeout=D → VM
//	GET    /v1/vms/{name}/logs           ?previous=1&follow=1 → the agent's own log (text/plain);
//	                                     &events=1: its status events instead, JSON lines of AgentEvent
//	GET    /v1/events                    ?since=SEQ&vm=NAME&follow=1 → JSON lines of Record,
//	                                     ended by a StreamError line if the daemon cut it off
//	GET    /v1/backup                    the database, consistent (application/octet-stream)
//
// A command's body is exactly one JSON object of the route's type (unknown
// fields are refused); a command without parameters takes an empty body or
// {}.
//
// Errors are an [ErrorBody] with a status code; clients branch on its
// [Code], never on its message:
//
//	400 invalid        a body that is not exactly one JSON object of the
//	                   route's type, a spec field, a query parameter
//	404 not_found      no such VM
//	404 no_log         the agent log asked for is not kept (no such start,
//	                   or a driver that keeps none)
//	409 rejected       the VM's state does not allow the command
//	409 still_alive    reset or delete while a process of the VM runs
//	409 exists         create of a name in use
//	503 shutting_down  the daemon is shutting down and takes no command
//	504 timeout        a wait ran out
//	500 internal       anything else
//
// # Compatibility
//
// Field names never change and fields are only added: a client must ignore
// a field it does not know (encoding/json does), and a server never sends a
// new field that changes the meaning of an old one. A [Record] will gain a
// typed cause (an object under "cause") next to its human Reason.
package api

// SocketName is the control socket's file name in the daemon's data dir.
const SocketName = "lifeline.sock"

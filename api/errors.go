package api

// Code says why the daemon refused or failed a request. Clients branch on
// it, never on a message's text. The CLI's exit code follows it.
type Code string

// The codes.
const (
	CodeInvalid      Code = "invalid"       // bad input: body, spec field, query parameter (400; exit 2)
	CodeNotFound     Code = "not_found"     // no such VM (404; exit 1)
	CodeExists       Code = "exists"        // create of a taken name (409; exit 1)
	CodeRejected     Code = "rejected"      // the VM's state does not allow the command (409; exit 3)
	CodeStillAlive   Code = "still_alive"   // reset or delete while a process of the VM runs (409; exit 3)
	CodeShuttingDown Code = "shutting_down" // the daemon is shutting down and takes no command (503; exit 1)
	CodeTimeout      Code = "timeout"       // a wait ran out (504; exit 4)
	CodeTooSlow      Code = "too_slow"      // an events reader fell behind and was cut off (a StreamError; exit 1)
	CodeNoLog        Code = "no_log"        // the VM's agent log is not kept: no such start, or a driver without logs (404; exit 1)
	CodeInternal     Code = "internal"      // anything else (500; exit 1)
)

// ErrorBody is the body of every answer that is not 2xx.
type ErrorBody struct {
	Code Code `json:"code"`
	// Message is human text that names the object, the reason and what to
	// do next. Never parse it.
	Message string `json:"message"`
	// VM is the VM the request was about, if any.
	VM string `json:"vm,omitempty"`
	// State is the VM's state when the request was refused, if it exists.
	State State `json:"state,omitempty"`
	// Command is the command the VM's state did not allow (CodeRejected):
	// "stop", "delete", ...
	Command Event `json:"command,omitempty"`
}

// StreamError is the last line of an events stream the daemon ended: why,
// and the seq to pass as since to resume without a gap. A record line has
// no "error" field.
type StreamError struct {
	Message   string `json:"error"`
	Code      Code   `json:"code"`
	ResumeSeq uint64 `json:"resumeSeq"`
}

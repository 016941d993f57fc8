package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/api"
)

// Headers of a command carried over NATS: the request's method and path
// (with its query), the reply's status; the bodies are the API's own.
const (
	HeaderMethod = "Lifeline-Method"
	HeaderPath   = "Lifeline-Path"
	HeaderStatus = "Lifeline-Status"
	// HeaderNote is what the client adds to an answer it had to retry
	// for: which attempt did what.
	HeaderNote = "Lifeline-Note"
)

// DefaultCommandTimeout bounds a remote command that is not a wait.
const DefaultCommandTimeout = 30 * time.Second

// testDropReplies, when positive, makes the service drop that many
// replies after running their commands: a reply lost on the way.
var testDropReplies atomic.Int32

// serve answers commands on host's subject with handler, each in its own
// goroutine (a wait may take long).
func serve(nc *nats.Conn, host string, handler http.Handler, log zerolog.Logger) (*nats.Subscription, error) {
	subj := CommandSubject(host)
	sub, err := nc.Subscribe(subj, func(m *nats.Msg) {
		go answer(nc, m, handler, log)
	})
	if err != nil {
		return nil, fmt.Errorf("fleet host %q: serve commands on %s: %w", host, subj, err)
	}
	return sub, nil
}

// replyWriter is the http.ResponseWriter of a command carried over NATS.
type replyWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *replyWriter) Header() http.Header { return w.header }
func (w *replyWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
func (w *replyWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// Flush lets a streaming handler (events without follow) go on: the
// whole answer is sent at the end.
func (w *replyWriter) Flush() {}

func answer(nc *nats.Conn, m *nats.Msg, handler http.Handler, log zerolog.Logger) {
	method, path := m.Header.Get(HeaderMethod), m.Header.Get(HeaderPath)
	w := &replyWriter{header: http.Header{}}
	u, err := url.ParseRequestURI(path)
	switch {
	case m.Reply == "":
		return
	case method == "" || err != nil || !strings.HasPrefix(u.Path, "/v1/"):
		writeError(w, http.StatusBadRequest, api.CodeInvalid, fmt.Sprintf("fleet command: bad method %q or path %q: send %s and %s headers with an API route such as GET /v1/vms", method, path, HeaderMethod, HeaderPath))
	case u.Query().Get("follow") == "1" || u.Query().Get("follow") == "true":
		writeError(w, http.StatusBadRequest, api.CodeInvalid, "fleet command: follow streams forever and a command has one reply: read the host's stream instead (lifeline fleet events --follow)")
	default:
		req, err := http.NewRequestWithContext(context.Background(), method, path, bytes.NewReader(m.Data))
		if err != nil {
			writeError(w, http.StatusBadRequest, api.CodeInvalid, "fleet command: "+err.Error())
			break
		}
		handler.ServeHTTP(w, req)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if max := nc.MaxPayload(); int64(w.body.Len()) > max-4096 {
		n := w.body.Len()
		w.body.Reset()
		w.header = http.Header{}
		w.status = 0
		writeError(w, http.StatusInternalServerError, api.CodeInternal, fmt.Sprintf("fleet command %s %s: the answer of %d bytes exceeds the NATS server's max payload (%d): run it on the host's socket", method, path, n, max))
	}
	if testDropReplies.Load() > 0 && testDropReplies.Add(-1) >= 0 {
		return
	}
	r := &nats.Msg{Subject: m.Reply, Header: nats.Header{}, Data: w.body.Bytes()}
	r.Header.Set(HeaderStatus, strconv.Itoa(w.status))
	if ct := w.header.Get("Content-Type"); ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if err := nc.PublishMsg(r); err != nil {
		log.Warn().Err(err).Str("method", method).Str("path", path).Msg("fleet: command's reply not sent")
	}
}

func writeError(w http.ResponseWriter, status int, code api.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Code: code, Message: msg})
}

// Reply is a host's answer to a command.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
	// Note says what happened when the first attempt's reply was lost and
	// the command was retried; empty otherwise.
	Note string
}

// commandTimeout is how long a command may take: a wait's own timeout
// and a margin, else DefaultCommandTimeout.
func commandTimeout(path string) time.Duration {
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return DefaultCommandTimeout
	}
	if strings.HasSuffix(u.Path, "/wait") {
		if d, err := time.ParseDuration(u.Query().Get("timeout")); err == nil && d > 0 {
			return d + 10*time.Second
		}
	}
	return DefaultCommandTimeout
}

// ErrNoReply is a command with no reply: the host did not answer in time.
var ErrNoReply = errors.New("no reply")

// Do sends one command to host and returns its reply. A command whose
// reply is lost (no answer in time) is retried once where that is safe,
// and the Reply's Note says what each attempt did:
//   - a read (GET) is sent again;
//   - a stop is sent again; a retry refused because the VM is already
//     Stopping or Stopped means the first attempt stopped it, and the
//     answer is that success;
//   - a create is sent again; a retry refused because the VM exists stays
//     a refusal (CodeExists), whose message says the first attempt most
//     likely created it.
//
// Other commands are not retried: the error says the command may or may
// not have been applied and to check the VM's status.
func Do(ctx context.Context, nc *nats.Conn, host, method, path string, body []byte) (Reply, error) {
	return doWithTimeout(ctx, nc, host, method, path, body, commandTimeout(path))
}

func doWithTimeout(ctx context.Context, nc *nats.Conn, host, method, path string, body []byte, timeout time.Duration) (Reply, error) {
	r, err := request(ctx, nc, host, method, path, body, timeout)
	if !errors.Is(err, ErrNoReply) {
		return r, err
	}
	first := err
	kind := retryKind(method, path)
	if kind == "" {
		return r, fmt.Errorf("%w; the command may or may not have been applied: check the VM's status on host %q before sending it again", first, host)
	}
	r, err = request(ctx, nc, host, method, path, body, timeout)
	if err != nil {
		return r, fmt.Errorf("%w; retried once: %w", first, err)
	}
	var eb api.ErrorBody
	_ = json.Unmarshal(r.Body, &eb)
	switch {
	case kind == "stop" && eb.Code == api.CodeRejected && (eb.State == "Stopping" || eb.State == "Stopped"):
		r.Note = fmt.Sprintf("the first stop's reply was lost (%v); the retry found vm %q %s: the first stop took effect", first, eb.VM, eb.State)
		r.Status = http.StatusOK
		r.Body, _ = json.Marshal(api.Result{Name: eb.VM, State: eb.State})
	case kind == "create" && eb.Code == api.CodeExists:
		r.Note = fmt.Sprintf("the first create's reply was lost (%v); the retry was refused because vm %q exists: the first create most likely made it; check its status", first, eb.VM)
		eb.Message = r.Note + ": " + eb.Message
		r.Body, _ = json.Marshal(eb)
	default:
		r.Note = fmt.Sprintf("the first attempt's reply was lost (%v); this is the retry's answer", first)
	}
	return r, nil
}

// retryKind says whether a command is safe to send again, and how to read
// the retry's answer.
func retryKind(method, path string) string {
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return ""
	}
	switch {
	case method == http.MethodGet:
		return "get"
	case method == http.MethodPost && strings.HasSuffix(u.Path, "/stop"):
		return "stop"
	case method == http.MethodPost && u.Path == "/v1/vms":
		return "create"
	}
	return ""
}

func request(ctx context.Context, nc *nats.Conn, host, method, path string, body []byte, timeout time.Duration) (Reply, error) {
	m := &nats.Msg{Subject: CommandSubject(host), Header: nats.Header{}, Data: body}
	m.Header.Set(HeaderMethod, method)
	m.Header.Set(HeaderPath, path)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := nc.RequestMsgWithContext(rctx, m)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return Reply{}, fmt.Errorf("host %q: %s %s: nobody answers on %s: the host's daemon is down or runs without --fleet; see lifeline fleet list", host, method, path, m.Subject)
	case err != nil && ctx.Err() == nil && nc.Status() != nats.CONNECTED:
		// Not the host's silence: the server is away (sent again, the
		// command would wait as long again).
		return Reply{}, fmt.Errorf("host %q: %s %s: no connection to the NATS server at %s (%v, %v): the command may or may not have reached the host: check that the server is up, then the VM's status", host, method, path, serverOf(nc), nc.Status(), err)
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		if perr := nc.LastError(); errors.Is(perr, nats.ErrPermissionViolation) {
			return Reply{}, fmt.Errorf("host %q: %s %s: refused by the NATS server: %w: this user may not command hosts (see the README's Fleet section on permissions)", host, method, path, perr)
		}
		return Reply{}, fmt.Errorf("host %q: %s %s: %w within %v", host, method, path, ErrNoReply, timeout)
	case err != nil:
		return Reply{}, fmt.Errorf("host %q: %s %s: %w", host, method, path, err)
	}
	status, err := strconv.Atoi(resp.Header.Get(HeaderStatus))
	if err != nil {
		return Reply{}, fmt.Errorf("host %q: %s %s: a reply without a status (%q): is something else answering on %s?", host, method, path, resp.Header.Get(HeaderStatus), m.Subject)
	}
	h := http.Header{}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		h.Set("Content-Type", ct)
	}
	return Reply{Status: status, Header: h, Body: resp.Data}, nil
}

// Dialer returns a dial function for client.Client.Dial that carries the
// client's HTTP requests to host over nc: every VM verb of the CLI works
// against a remote host unchanged. note, if set, hears each Reply's Note.
func Dialer(nc *nats.Conn, host string, note func(string)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		c, s := net.Pipe()
		go func() {
			defer s.Close()
			br := bufio.NewReader(s)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				body, err := io.ReadAll(req.Body)
				req.Body.Close()
				if err != nil {
					return
				}
				if req.Method == http.MethodGet && req.URL.Path == "/v1/events" && (req.URL.Query().Get("follow") == "1" || req.URL.Query().Get("follow") == "true") {
					// A follow never ends: it reads the host's stream.
					if err := followEvents(nc, host, req, s, note); err != nil {
						return
					}
					continue
				}
				r, err := Do(context.Background(), nc, host, req.Method, req.URL.RequestURI(), body)
				if err != nil {
					var b []byte
					b, _ = json.Marshal(api.ErrorBody{Code: api.CodeInternal, Message: err.Error()})
					r = Reply{Status: http.StatusBadGateway, Header: http.Header{"Content-Type": {"application/json"}}, Body: b}
				}
				if r.Note != "" && note != nil {
					note(r.Note)
				}
				resp := &http.Response{
					StatusCode: r.Status, ProtoMajor: 1, ProtoMinor: 1, Request: req,
					Header: r.Header, Body: io.NopCloser(bytes.NewReader(r.Body)), ContentLength: int64(len(r.Body)),
				}
				if resp.Header == nil {
					resp.Header = http.Header{}
				}
				if r.Note != "" {
					resp.Header.Set(HeaderNote, r.Note)
				}
				if err := resp.Write(s); err != nil {
					return
				}
			}
		}()
		return c, nil
	}
}

// Auth is how a daemon or a command authenticates to the fleet's NATS
// server(s): a credentials file, TLS client certificate and key, the CAs
// that verify the server. The daemon's flags and the CLI's fill it.
type Auth struct {
	Creds, TLSCert, TLSKey, TLSCA string
}

// Options are a's NATS connection options.
func (a Auth) Options() []nats.Option {
	var o []nats.Option
	if a.Creds != "" {
		o = append(o, nats.UserCredentials(a.Creds))
	}
	if a.TLSCert != "" || a.TLSKey != "" {
		o = append(o, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	if a.TLSCA != "" {
		o = append(o, nats.RootCAs(a.TLSCA))
	}
	return o
}

// Connect connects to the fleet's NATS server(s) with what a host needs:
// no reconnect buffer (a record not sent is sent again from the log, never
// held in the client), endless reconnects, and opts (credentials, TLS).
func Connect(urls string, opts ...nats.Option) (*nats.Conn, error) {
	all := append([]nats.Option{nats.ReconnectBufSize(-1), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond), nats.Name("lifeline")}, opts...)
	nc, err := nats.Connect(urls, all...)
	if err != nil {
		return nil, fmt.Errorf("fleet: connect to %s: %w; is a NATS server with JetStream (-js) running there?", RedactURLs(urls), err)
	}
	return nc, nil
}

// followEvents answers GET /v1/events?follow=1 from the host's stream:
// the records from since (the host's seq) on, of one VM if vm is given,
// as JSON lines, until the client hangs up; notice hears of an outage.
func followEvents(nc *nats.Conn, host string, req *http.Request, conn net.Conn, notice func(string)) error {
	q := req.URL.Query()
	since, _ := strconv.ParseUint(q.Get("since"), 10, 64)
	vm := q.Get("vm")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	go func() {
		js, err := jetstream.New(nc)
		if err == nil {
			err = streamFrom(ctx, js, host, since, vm, notice, func(m jetstream.Msg) error {
				if _, err := pw.Write(append(m.Data(), '\n')); err != nil {
					return err
				}
				return nil
			})
		}
		pw.CloseWithError(err)
	}()
	resp := &http.Response{
		StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1, Request: req,
		Header: http.Header{"Content-Type": {"application/x-ndjson"}}, Body: pr, ContentLength: -1,
		TransferEncoding: []string{"chunked"},
	}
	err := resp.Write(&flushWriter{conn})
	cancel()
	pr.Close()
	return err
}

// flushWriter is the connection under a streamed answer: every write
// goes out at once (net.Pipe has no buffer to flush).
type flushWriter struct{ io.Writer }

// streamFrom calls fn with each message of host's stream from the record
// seq since on, only vm's when vm is set, until ctx ends, across outages
// of the server, which notice (if set) hears of.
func streamFrom(ctx context.Context, js jetstream.JetStream, host string, since uint64, vm string, notice func(string), fn func(jetstream.Msg) error) error {
	// Record seq k is at stream seq k or later (each record before it took
	// a sequence of this stream first); how much later depends on what was
	// removed from the stream and sent again, so the reading starts at k
	// and passes over the records before it.
	from := max(since, 1)
	r := &consumerRead{js: js, stream: StreamName(host), what: fmt.Sprintf("host %q: stream %s", host, StreamName(host)), follow: true, notice: notice,
		first: jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from}}
	if vm != "" {
		r.first.FilterSubjects = []string{RecordSubject(host, vm)}
	}
	return r.run(ctx, func(m jetstream.Msg) error {
		if seq, perr := strconv.ParseUint(m.Headers().Get(HeaderSeq), 10, 64); perr == nil && seq < from {
			return nil
		}
		return fn(m)
	})
}

package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/store"
)

// Defaults of Options, named once.
const (
	// DefaultWindow is how many records may await the stream's ack.
	DefaultWindow = 1024
	// DefaultDuplicates is the streams' duplicate window: a re-send of a
	// record within it is dropped by its message id.
	DefaultDuplicates = 10 * time.Minute
	// DefaultLiveness is how often a host refreshes its liveness key; the
	// key lives three times as long.
	DefaultLiveness = 5 * time.Second
	// DefaultRetry is the wait before a publisher tries again after a
	// failure (the server down, a node lost).
	DefaultRetry = time.Second
	// HeadsEvery is the shortest time between two writes of the heads:
	// how stale the heads bucket may be behind the engine.
	HeadsEvery = 100 * time.Millisecond
	// DefaultAckTimeout bounds the wait for one record's ack.
	DefaultAckTimeout = 10 * time.Second
	// DefaultLinger is how long the publisher holds a record that came
	// alone before it sends it, for the records the engine commits next
	// to go in the same write (and their acks to come back in one read):
	// a record reaches the stream at most this much later than without
	// it. The engine never waits for it (the publisher keeps taking its
	// records while it holds some).
	DefaultLinger = time.Millisecond
	// MaxBatch is the most records the publisher holds before it sends
	// them, lingering or not (fewer when Window is smaller).
	MaxBatch = 64
)

// Engine is what the fleet layer reads of a host's engine: its committed
// records (the engine's subscription) and its VMs. *engine.Engine
// implements it.
type Engine interface {
	Subscribe(ctx context.Context, fromSeq uint64) (*engine.Subscription, error)
	Get(name string) (engine.VM, error)
	List() []engine.VM
}

var _ Engine = (*engine.Engine)(nil)

// Log is the host's log: where it ends, and its records, read when the
// engine closed before the last ones were published. *store.Store
// implements it.
type Log interface {
	LastSeq() uint64
	Records(fromSeq uint64, fn func(store.Record) error) error
	// Spec is a VM's current spec: a create's or update's record carries
	// it when it is still the one the record hashed.
	Spec(vm string) ([]byte, error)
}

var _ Log = (*store.Store)(nil)

// Options configure a Host.
type Options struct {
	// Host is this host's name in the fleet (the VM name rule).
	Host   string
	Engine Engine
	Log    Log
	// Handler, if set, answers commands on CommandSubject(Host): the
	// daemon's API (server.NewHandler), carried over NATS.
	Handler http.Handler
	// Info is what the host's liveness key says besides its name.
	Info HostInfo
	// Replicas of the streams and buckets this host creates (1: one
	// server; 3: a cluster). Zero: 1.
	Replicas int
	// Window bounds the records awaiting the stream's ack. Zero:
	// DefaultWindow.
	Window     int
	Duplicates time.Duration
	Liveness   time.Duration
	Retry      time.Duration
	AckTimeout time.Duration
	// Linger bounds how long the publisher holds records before it sends
	// them (see DefaultLinger). Zero: DefaultLinger; negative: each
	// record is sent as it comes.
	Linger time.Duration
	Logger zerolog.Logger
}

// HostInfo is the value of a host's liveness key.
type HostInfo struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid,omitempty"`
	Boot    uint64    `json:"boot,omitempty"`
	Version string    `json:"version,omitempty"`
	Since   time.Time `json:"since"`
	Time    time.Time `json:"time"` // when the key was last refreshed
}

// Host is one daemon's part in the fleet: it publishes the log's records
// to the host's stream, keeps its VMs' heads and its liveness in the KV
// buckets, and answers commands.
type Host struct {
	opts Options
	nc   *nats.Conn
	js   jetstream.JetStream
	log  zerolog.Logger

	acked atomic.Uint64 // the last seq the stream acknowledged
	lost  atomic.Uint64 // acknowledged records a stream no longer held
	// removed: the last attempt ended on records removed from the stream
	// (a purge, a message delete), said then; the next attempt's resume
	// finds fewer than were acknowledged, which is no loss of data.
	removed atomic.Bool
	// limitsSaid: the stream's retention limits were said once.
	limitsSaid atomic.Bool
	// startSeq is where the log ended when Run began: the heads of VMs
	// changed up to it are written by the first sync, not record by record.
	startSeq  uint64
	published atomic.Uint64 // records acknowledged by this Host
	// sends counts the publisher's sends: each hands the records it held
	// to the NATS client at once, which writes them together.
	sends atomic.Uint64

	mu    sync.Mutex
	dirty map[string]struct{}
	kick  chan struct{}

	// The heads writer's own: only the goroutine that runs syncStale and
	// flushHeads (heads, then Run after it) uses them.
	//
	// headsKV: the heads bucket is known to exist (a failed write looks
	// it up again).
	headsKV bool
	// present holds this host's VMs whose key may hold a value in the
	// heads bucket: the keys listed by the last sync and every put sent
	// since, less the deletes the bucket acknowledged. A VM that is gone
	// and not in it (created and deleted between two flushes) needs no
	// delete. nil until a sync listed the keys: every gone VM's key is
	// deleted then.
	present map[string]struct{}
	// putBeforeSync holds the VMs whose head a put was sent for while
	// present was nil (before a sync listed the keys), less the deletes
	// the bucket acknowledged since: the sync's listing may not show such
	// a put (one whose ack did not come in time is stored when the server
	// gets to it), so the sync takes them for present too, and a later
	// delete of such a VM is sent, not skipped.
	putBeforeSync map[string]struct{}
	// unrecorded is, for each VM whose head shows something no record
	// carries (its agent's error and Lima's degraded flag, what the log
	// could not record yet), what it showed at the last look: a change
	// makes no record, so markUnrecorded compares.
	unrecorded map[string]unrecordedState
	// spare is an emptied dirty set, for the next flush.
	spare map[string]struct{}
	// headBuf is the heads' JSON buffer: nc.PublishMsg copies it.
	headBuf []byte
}

// New checks opts and returns a Host on nc. nc should be made with
// Connect (no reconnect buffer: a record is either sent or retried from
// the log, never held in the client).
func New(nc *nats.Conn, opts Options) (*Host, error) {
	if err := ValidateHost(opts.Host); err != nil {
		return nil, err
	}
	if opts.Engine == nil || opts.Log == nil {
		return nil, errors.New("fleet: the engine and its log are required")
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Duplicates <= 0 {
		opts.Duplicates = DefaultDuplicates
	}
	if opts.Liveness <= 0 {
		opts.Liveness = DefaultLiveness
	}
	if opts.Retry <= 0 {
		opts.Retry = DefaultRetry
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	if opts.Linger == 0 {
		opts.Linger = DefaultLinger
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*opts.Window), jetstream.WithPublishAsyncTimeout(opts.AckTimeout))
	if err != nil {
		return nil, fmt.Errorf("fleet host %q: jetstream: %w", opts.Host, err)
	}
	return &Host{
		opts: opts, nc: nc, js: js,
		log:   opts.Logger.With().Str("fleet_host", opts.Host).Logger(),
		dirty: make(map[string]struct{}),
		kick:  make(chan struct{}, 1),
	}, nil
}

// Acked returns the last seq of this host's log that its stream holds, as
// far as this Host knows.
func (h *Host) Acked() uint64 { return h.acked.Load() }

// LostAcked returns how many records the stream acknowledged and later
// did not hold (they were sent again): zero unless the stream lost data.
func (h *Host) LostAcked() uint64 { return h.lost.Load() }

// Run publishes, keeps the heads and liveness, and serves commands until
// ctx ends or the engine closes (its last records published first, within
// the ack timeout). Failures of NATS are logged and retried: they never
// reach the engine.
func (h *Host) Run(ctx context.Context) error {
	h.startSeq = h.opts.Log.LastSeq()
	h.waitApplied(ctx, h.startSeq)
	h.mu.Lock()
	for _, v := range h.opts.Engine.List() {
		h.dirty[v.VM] = struct{}{}
	}
	h.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var svc *nats.Subscription
	if h.opts.Handler != nil {
		s, err := serve(h.nc, h.opts.Host, h.opts.Handler, h.log)
		if err != nil {
			return err
		}
		svc = s
	}
	wg.Add(2)
	go func() { defer wg.Done(); h.heads(ctx) }()
	go func() { defer wg.Done(); h.liveness(ctx) }()
	h.publish(ctx)
	// The engine closed or ctx ended: stop serving, flush the heads one
	// last time (bounded), say the host is gone.
	if svc != nil {
		_ = svc.Drain()
	}
	cancel()
	wg.Wait()
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), h.opts.AckTimeout)
	defer fcancel()
	// Every VM as the engine left it (the closed engine's List), whatever
	// records the publisher saw.
	h.mu.Lock()
	for _, v := range h.opts.Engine.List() {
		h.dirty[v.VM] = struct{}{}
	}
	h.mu.Unlock()
	_ = h.syncStale(fctx)
	if err := h.flushHeads(fctx); err != nil {
		h.log.Warn().Err(err).Msg("fleet: the last heads were not all written")
	}
	if kv, err := h.js.KeyValue(fctx, HostsBucket); err == nil {
		_ = kv.Delete(fctx, token(h.opts.Host))
	}
	return nil
}

// waitApplied returns when the engine's VMs show every record up to seq:
// the log holds a record before the engine's VM shows it, and a VM whose
// record is within startSeq but not yet in the first List would never be
// marked dirty (the publisher marks only the records after startSeq). The
// engine hands a record to its subscriptions after its VM shows it, so the
// subscription's delivery of record seq is the proof. A closed engine's
// List is final already; the wait ends with ctx or after AckTimeout.
func (h *Host) waitApplied(ctx context.Context, seq uint64) {
	if seq == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.AckTimeout)
	defer cancel()
	sub, err := h.opts.Engine.Subscribe(ctx, seq)
	if err != nil {
		return
	}
	select {
	case <-sub.C:
	case <-ctx.Done():
		h.log.Warn().Uint64("seq", seq).Msg("fleet: the engine did not show the log's last record in time; the heads may miss a VM until it changes")
	}
}

// stream returns the host's stream, creating it when it does not exist.
func (h *Host) stream(ctx context.Context) (jetstream.Stream, error) {
	name := StreamName(h.opts.Host)
	s, err := h.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = h.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        name,
			Description: "lifeline: the records of host " + h.opts.Host,
			Subjects:    []string{RecordPrefix + token(h.opts.Host) + ".>"},
			Storage:     jetstream.FileStorage,
			Replicas:    h.opts.Replicas,
			Duplicates:  h.opts.Duplicates,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("fleet host %q: stream %s: %w", h.opts.Host, name, err)
	}
	return s, nil
}

// tailLen is how many of the stream's last messages an attempt checks
// are this log's records before it publishes after them: more than one
// attempt can have in flight (a window, and the record being sent), so a
// record the stream refused with later ones taken (another writer's
// message in between shifts the expected sequences) is among them.
func (h *Host) tailLen() uint64 { return uint64(max(h.opts.Window, DefaultWindow)) + 2 }

// foreignError says the stream holds, where a record of this log
// belongs, a message that is not it: another writer on the host's
// subjects (a second daemon with the same --fleet-host), or a record
// removed. Publishing after it would leave the log's records with a gap
// or mixed with another's, so the publisher stops until it is cleared.
type foreignError struct {
	stream    string
	streamSeq uint64 // the stream seq of the message that is not ours
	msgID     string // its message id
	want      uint64 // the record seq of this log whose place it holds (0: none)
	why       string
}

func (e *foreignError) Error() string {
	where := ""
	if e.want > 0 {
		where = fmt.Sprintf(", where this log's record seq %d belongs", e.want)
	}
	return fmt.Sprintf("stream %s holds at stream seq %d a message (id %q) that is not this log's%s: %s", e.stream, e.streamSeq, e.msgID, where, e.why)
}

// tailMsg is one message of the stream's tail, as resume reads it.
type tailMsg struct {
	streamSeq uint64
	id, seq   string // its message id and record seq headers
	data      []byte
}

// resume finds where an attempt starts: the last record of this log the
// stream holds and the stream's last sequence, which the attempt's first
// message expects. It checks that the stream's last tailLen messages are
// this log's records, one after the other, each the log's own (its
// message id and its record); anything else is a *foreignError. replicas
// is the stream's.
func (h *Host) resume(ctx context.Context, s jetstream.Stream) (seq, streamSeq uint64, replicas int, err error) {
	info, err := s.Info(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	streamSeq, replicas = info.State.LastSeq, info.Config.Replicas
	if info.State.Msgs == 0 {
		return 0, streamSeq, replicas, nil
	}
	// The stream's last tailLen sequences (the last ones may be deleted
	// messages: the stream's last sequence stays).
	name := StreamName(h.opts.Host)
	from := info.State.FirstSeq
	if n := h.tailLen(); streamSeq >= n && streamSeq-n+1 > from {
		from = streamSeq - n + 1
	}
	// One try to make the consumer (jetstream's default tries again
	// without end, whatever ctx says): a refusal ends the attempt, and
	// the publisher says so and tries again.
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from, MaxResetAttempts: 1})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read the stream's last records: %w", err)
	}
	batch, err := c.FetchNoWait(int(streamSeq - from + 1))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read the stream's last records: %w", err)
	}
	tail := make([]tailMsg, 0, streamSeq-from+1)
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("read the stream's last records: %w", err)
		}
		if md.Sequence.Stream <= streamSeq { // not one stored since the Info
			tail = append(tail, tailMsg{md.Sequence.Stream, m.Headers().Get(jetstream.MsgIDHeader), m.Headers().Get(HeaderSeq), m.Data()})
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		return 0, 0, 0, fmt.Errorf("read the stream's last records: %w", err)
	}
	if len(tail) == 0 {
		return 0, 0, 0, &foreignError{stream: name, streamSeq: streamSeq, why: fmt.Sprintf("its last %d sequences are deleted messages, so where this log's records end in it is not known", streamSeq-from+1)}
	}
	last := tail[len(tail)-1]
	seq, perr := strconv.ParseUint(last.seq, 10, 64)
	if perr != nil || seq == 0 {
		return 0, 0, 0, &foreignError{stream: name, streamSeq: last.streamSeq, msgID: last.id, why: fmt.Sprintf("its header %s=%q is not a record seq", HeaderSeq, last.seq)}
	}
	if local := h.opts.Log.LastSeq(); seq > local {
		return 0, 0, 0, &foreignError{stream: name, streamSeq: last.streamSeq, msgID: last.id, why: fmt.Sprintf("it says record seq %d, beyond this log's last (seq %d)", seq, local)}
	}
	if limited := retentionLimits(info.Config); limited != "" {
		if !h.limitsSaid.Swap(true) {
			h.log.Warn().Str("stream", name).Str("limits", limited).
				Msg("fleet: this host's stream has retention limits, so the server discards its oldest records and it keeps only part of this host's history (replay --fleet refuses a partial one); publishing goes on. Remove the limits (nats stream edit) to keep the whole history")
		}
	} else if info.State.Msgs < seq {
		// Records 1..seq, one message each, and fewer messages: some
		// were removed before the last one was taken. (A stream with
		// retention limits loses its oldest to the server itself.)
		return 0, 0, 0, &gapError{stream: name, held: info.State.Msgs, seq: seq}
	}
	// The tail, newest first, must be records seq, seq-1, ... of this
	// log (back to record 1 when the tail reaches the stream's start).
	lo := uint64(1)
	if n := uint64(len(tail)); seq > n {
		lo = seq - n + 1
	}
	recs := make([]store.Record, 0, seq-lo+1)
	stop := errors.New("enough")
	if err := h.opts.Log.Records(lo, func(r store.Record) error {
		recs = append(recs, r)
		if r.Seq >= seq {
			return stop
		}
		return nil
	}); err != nil && !errors.Is(err, stop) {
		return 0, 0, 0, fmt.Errorf("read the log from seq %d: %w", lo, err)
	}
	var buf []byte
	for i := len(tail) - 1; i >= 0; i-- {
		m, back := tail[i], uint64(len(tail)-1-i)
		if back >= seq {
			return 0, 0, 0, &foreignError{stream: name, streamSeq: m.streamSeq, msgID: m.id, why: "it is before this log's record seq 1"}
		}
		want := seq - back
		k := int(want - recs[0].Seq)
		if k < 0 || k >= len(recs) || recs[k].Seq != want {
			return 0, 0, 0, fmt.Errorf("the log does not hold record seq %d", want)
		}
		var why string
		buf, why = ownRecord(h.opts.Host, m, &recs[k], buf)
		if why != "" {
			return 0, 0, 0, &foreignError{stream: name, streamSeq: m.streamSeq, msgID: m.id, want: want, why: why}
		}
	}
	return seq, streamSeq, replicas, nil
}

// ownRecord says why m is not rec as this host publishes it ("" when it
// is): its message id and record seq headers, and its record (the same
// bytes, or, from a version that wrote them otherwise, the same record
// when decoded).
func ownRecord(host string, m tailMsg, rec *store.Record, buf []byte) ([]byte, string) {
	if id := MsgID(host, rec.Boot, rec.Seq); m.id != id {
		return buf, fmt.Sprintf("its message id is not this log's %q", id)
	}
	if m.seq != strconv.FormatUint(rec.Seq, 10) {
		return buf, fmt.Sprintf("its header %s=%q", HeaderSeq, m.seq)
	}
	ar := server.RecordOf(*rec)
	b, ok := appendRecord(buf[:0], &ar)
	if ok && bytes.Equal(b, m.data) {
		return b, ""
	}
	var got store.Record
	if err := json.Unmarshal(m.data, &got); err != nil {
		return b, fmt.Sprintf("its record does not decode: %v", err)
	}
	if got.Seq != rec.Seq || got.VMSeq != rec.VMSeq || got.VM != rec.VM || got.Event != rec.Event || got.Boot != rec.Boot || !got.Time.Equal(rec.Time) || got.SpecHash != rec.SpecHash {
		return b, fmt.Sprintf("its record (vm %q, %s at %s) is not this log's (vm %q, %s at %s)", got.VM, got.Event, got.Time.Format(time.RFC3339Nano), rec.VM, rec.Event, rec.Time.Format(time.RFC3339Nano))
	}
	return b, ""
}

// publish runs publishing attempts until ctx ends or the engine closes.
// After a failure it waits Retry; while the stream holds what is not this
// log's (another writer), lacks records it took before later ones (a
// gap), or refuses a record removed from it as a duplicate, it says so
// and waits longer each time (up to 32 Retry), never publishing past it.
func (h *Host) publish(ctx context.Context) {
	tail := false
	foreign := 0            // stops in a row (another writer, a gap, a refused re-send), with no record acknowledged between
	var foreignAcked uint64 // the acknowledged seq at the last one
	resent := false
	for {
		err := h.publishOnce(ctx, tail)
		if errors.Is(err, errEngineClosed) && !tail {
			tail = true // what the engine did not deliver is in the log
			continue
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		wait := h.opts.Retry
		var fe *foreignError
		var ge *gapError
		var de *dupError
		var rr *resendRefusedError
		var re *removedError
		if errors.As(err, &de) {
			if e := h.resendRefused(ctx, de); e != nil {
				err = fmt.Errorf("fleet host %q: %w", h.opts.Host, e)
			}
		}
		if a := h.acked.Load(); a != foreignAcked {
			foreign, foreignAcked = 0, a // it published since: the backoff starts again
		}
		switch {
		case errors.As(err, &ge):
			wait <<= min(foreign, 5)
			foreign++
			h.log.Error().Err(err).Str("stream", ge.stream).Uint64("seq", ge.seq).Uint64("held", ge.held).Dur("retry", wait).
				Msg("fleet: records were removed from this host's stream and later ones taken after them, so publishing stops here rather than leave the stream with a gap: delete the stream (it is published again from this log)")
		case errors.As(err, &rr):
			wait <<= min(foreign, 5)
			foreign++
			h.log.Warn().Err(err).Str("stream", rr.stream).Uint64("seq", rr.seq).Str("msg_id", rr.msgID).Uint64("stream_seq", rr.streamSeq).Dur("duplicates", rr.window).Dur("retry", wait).
				Msg("fleet: the stream refuses a record removed from it as a duplicate until its id leaves the duplicate window; publishing waits for that (no record is skipped), or delete the stream to publish the whole log again at once")
		case errors.As(err, &re):
			h.removed.Store(true)
			h.log.Warn().Err(err).Str("stream", re.stream).Uint64("acked", re.acked).Uint64("held", re.held).Dur("retry", wait).
				Msg("fleet: records were removed from this host's stream while it published; resuming from what it holds")
		case errors.As(err, &fe):
			wait <<= min(foreign, 5)
			foreign++
			h.log.Error().Err(err).Str("stream", fe.stream).Uint64("stream_seq", fe.streamSeq).Str("msg_id", fe.msgID).Uint64("seq", fe.want).Dur("retry", wait).
				Msg("fleet: another writer publishes on this host's subjects (a second daemon with the same --fleet-host?), so publishing stops here rather than skip or mix a record: give each daemon its own --fleet-host, then delete the stream (it is published again from this log)")
		case errors.Is(err, errDuplicate) && !resent:
			// The stream held a record already (a re-send of one in
			// flight when an attempt ended): start again from what the
			// stream holds, at once, once.
			resent = true
			h.log.Debug().Err(err).Msg("fleet: a record was in the stream already; resuming after its last")
			continue
		default:
			foreign = 0
			h.log.Warn().Err(err).Uint64("seq", h.acked.Load()).Dur("retry", wait).Msg("fleet: publishing paused; the log keeps the records")
		}
		resent = false
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// outRecord is a record the publisher holds, as its message.
type outRecord struct {
	m                                *nats.Msg
	hSeq, hID, hExpect, hPrev, hSpec []string // m's header values
	buf                              []byte   // m's body
	seq                              uint64
	vm                               string
}

// errEngineClosed ends the engine's subscription: the daemon stops.
var errEngineClosed = errors.New("engine closed")

// publishOnce resumes from the stream's last record (resume checks the
// stream's tail is this log's) and publishes every record after it, as
// the engine commits them, until a failure. Each message expects the
// stream's last sequence to be its predecessor's, and, on a stream of one
// replica, the stream's last message id to be its predecessor's, so the
// stream only ever holds the host's records in order, without a gap.
//
// With tail, it publishes what the log holds after the stream's last
// record and returns: the engine closed, and the records it committed
// last may not have reached the subscription.
func (h *Host) publishOnce(ctx context.Context, tail bool) error {
	s, err := h.stream(ctx)
	if err != nil {
		return err
	}
	lastSeq, streamSeq, replicas, err := h.resume(ctx, s)
	if err != nil {
		return fmt.Errorf("fleet host %q: %w", h.opts.Host, err)
	}
	if prev := h.acked.Load(); lastSeq < prev && h.removed.Swap(false) {
		h.log.Info().Uint64("seq", lastSeq).Uint64("acked", prev).Msg("fleet: sending again from the log the records removed from the end of the stream")
	} else if lastSeq < prev {
		// The stream lost records it had acknowledged (a cluster that
		// lost its quorum's data, a stream deleted): they are sent again
		// from the log, and the loss is said.
		h.lost.Add(prev - lastSeq)
		h.log.Error().Uint64("seq", lastSeq).Uint64("acked", prev).Msg("fleet: the stream lost records it had acknowledged; sending them again from the log")
	}
	h.acked.Store(lastSeq)
	offset := streamSeq - lastSeq
	chain := replicas <= 1
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var src <-chan store.Record
	var srcErr func() error
	if tail {
		c := make(chan store.Record)
		var rerr error
		go func() {
			defer close(c)
			rerr = h.opts.Log.Records(lastSeq+1, func(r store.Record) error {
				select {
				case c <- r:
					return nil
				case <-actx.Done():
					return actx.Err()
				}
			})
		}()
		src, srcErr = c, func() error { return rerr } // read after c is closed
	} else {
		sub, err := h.opts.Engine.Subscribe(actx, lastSeq+1)
		if errors.Is(err, engine.ErrClosed) {
			return errEngineClosed
		}
		if err != nil {
			return fmt.Errorf("fleet host %q: subscribe: %w", h.opts.Host, err)
		}
		src, srcErr = sub.C, sub.Err
	}
	// The stream's acks come to one inbox of this attempt, the record's
	// seq its reply subject's last token: no future, timer or map entry
	// a record, as jetstream's PublishMsgAsync makes. The queue is the
	// window of records sent and not yet acknowledged.
	inbox := nats.NewInbox()
	acks := make(chan *nats.Msg, 2*h.opts.Window+16)
	ackSub, err := h.nc.ChanSubscribe(inbox+".*", acks)
	if err != nil {
		return fmt.Errorf("fleet host %q: subscribe to the stream's acks: %w", h.opts.Host, err)
	}
	defer func() { _ = ackSub.Unsubscribe() }()
	replyPrefix := inbox + "."
	queue := make(chan uint64, h.opts.Window)
	ackErr := make(chan error, 1)
	go func() { ackErr <- h.acks(queue, acks, len(replyPrefix), cancel) }()
	gapErr := make(chan error, 1)
	go func() { gapErr <- h.watchGap(actx, s, cancel) }()
	subjectPrefix := RecordSubject(h.opts.Host, "")
	idPrefix := MsgID(h.opts.Host, 0, 0)
	idPrefix = idPrefix[:len(idPrefix)-len("0-0")] // MsgID's "<host>-"
	// The records are held, each in a slot of its own (its message, its
	// header map and its body's buffer, reused by the attempt's later
	// records: nc.PublishMsg copies them into the connection's buffer,
	// and a record not acknowledged is sent again from the log, never
	// from here), until MaxBatch are or the first has waited Linger:
	// then they are handed to the NATS client one after the other, which
	// writes them in one go, and the server's acks come back together. A
	// record that comes alone waits Linger at most; the engine's records
	// are taken all the while, so it never waits for this.
	slots := make([]outRecord, max(1, min(MaxBatch, h.opts.Window)))
	for i := range slots {
		o := &slots[i]
		o.hSeq, o.hID, o.hExpect, o.hPrev, o.hSpec = []string{""}, []string{""}, []string{""}, []string{""}, []string{""}
		o.m = &nats.Msg{Header: nats.Header{
			HeaderSeq:                       o.hSeq,
			HeaderHost:                      {h.opts.Host},
			jetstream.MsgIDHeader:           o.hID,
			jetstream.ExpectedLastSeqHeader: o.hExpect,
		}}
	}
	n := 0       // records held in slots[:n]
	prevID := "" // the message id of the record before the next one
	// prepare fills the next slot with rec's message.
	prepare := func(rec store.Record) error {
		o := &slots[n]
		ar := server.RecordOf(rec)
		b, ok := appendRecord(o.buf[:0], &ar) // json.Marshal's bytes, without its reflection
		if ok {
			o.buf = b
		} else if b, err = json.Marshal(ar); err != nil {
			return fmt.Errorf("record seq %d: %w", rec.Seq, err)
		}
		seq := strconv.FormatUint(rec.Seq, 10)
		// The stream holds only this host's records, one message each:
		// record seq k is stream seq k+offset. Expecting the stream's last
		// sequence (which the server checks against what it has accepted,
		// in flight included, in a cluster too) keeps the stream the log's
		// records in order: a record the stream did not take makes the
		// later ones refused, and the next attempt resumes after the last
		// one it holds. But a count cannot tell whose the stream's
		// messages are: with another writer's message in the stream, the
		// record after the refused one expects the sequence the stream
		// now has, and is taken, one record missing. So the records after
		// the attempt's first also expect the stream's last message id to
		// be their predecessor's: the stream takes a record only right
		// after the one before it. The server checks that id when it
		// stores (in a cluster, on each replica as it applies, and a
		// replica caught up by a snapshot keeps an old one: a refusal
		// there would split the replicas), so it is sent to a stream of
		// one replica only; on a replicated one the next attempt's resume
		// finds the gap in the stream's tail and stops. The message id
		// dedupes a re-send. (The headers are what jetstream.WithMsgID,
		// WithExpectLastSequence and WithExpectLastMsgID set.)
		m := o.m
		m.Subject, m.Reply, m.Data = subjectPrefix+token(rec.VM), replyPrefix+seq, b
		o.hSeq[0] = seq
		delete(m.Header, jetstream.ExpectedLastMsgIDHeader)
		if chain && rec.Seq > lastSeq+1 {
			o.hPrev[0] = prevID
			m.Header[jetstream.ExpectedLastMsgIDHeader] = o.hPrev
		}
		o.hID[0] = idPrefix + strconv.FormatUint(rec.Boot, 10) + "-" + seq
		prevID = o.hID[0]
		o.hExpect[0] = strconv.FormatUint(rec.Seq-1+offset, 10)
		delete(m.Header, HeaderSpec)
		if !rec.SpecHash.IsZero() {
			// What a replay of the stream needs to rebuild the log; kept
			// only while it is the spec the record hashed.
			if spec, err := h.opts.Log.Spec(rec.VM); err == nil && len(spec) <= MaxSpecHeader && sha256.Sum256(spec) == rec.SpecHash {
				o.hSpec[0] = base64.StdEncoding.EncodeToString(spec)
				m.Header[HeaderSpec] = o.hSpec
			}
		}
		o.seq, o.vm = rec.Seq, rec.VM
		n++
		return nil
	}
	// send hands the held records to the client, one after the other.
	// After each, the queue blocks while Window records await their ack
	// (an ack that comes first waits in the acks channel, which holds
	// more than a window), as when each record was sent as it came: no
	// more are in flight than then.
	send := func() error {
		h.sends.Add(1)
		sent := 0
		var err error
		for i := range n {
			o := &slots[i]
			if perr := h.nc.PublishMsg(o.m); perr != nil {
				err = fmt.Errorf("publish seq %d: %w", o.seq, perr)
				break
			}
			sent++
			select {
			case queue <- o.seq:
			case <-actx.Done():
			}
			if actx.Err() != nil {
				break
			}
		}
		// Older records' VMs are in the first sync of the heads.
		h.mu.Lock()
		marked := false
		for i := range sent {
			if slots[i].seq > h.startSeq {
				h.dirty[slots[i].vm] = struct{}{}
				marked = true
			}
		}
		h.mu.Unlock()
		if marked {
			select {
			case h.kick <- struct{}{}:
			default:
			}
		}
		n = 0
		return err
	}
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	var lingering <-chan time.Time // linger's, while records are held
	var sendErr error
	for open := true; open; {
		select {
		case rec, ok := <-src:
			if !ok {
				open = false
				break
			}
			if sendErr = prepare(rec); sendErr != nil {
				break
			}
			if n < len(slots) && h.opts.Linger > 0 {
				if n == 1 {
					linger.Reset(h.opts.Linger)
					lingering = linger.C
				}
				continue
			}
		case <-lingering:
		case <-actx.Done():
		}
		if lingering != nil {
			linger.Stop()
			lingering = nil
		}
		if sendErr != nil || actx.Err() != nil {
			break
		}
		if n > 0 {
			if sendErr = send(); sendErr != nil || actx.Err() != nil {
				break
			}
		}
	}
	cancel()
	close(queue)
	err = <-ackErr
	if gerr := <-gapErr; gerr != nil {
		// What ended the attempt, whatever the acks said after.
		return fmt.Errorf("fleet host %q: %w", h.opts.Host, gerr)
	}
	if sendErr != nil {
		return errors.Join(sendErr, err)
	}
	if err != nil {
		return err
	}
	serr := srcErr()
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(serr, engine.ErrClosed):
		return errEngineClosed
	case serr != nil:
		return fmt.Errorf("fleet host %q: read the log: %w", h.opts.Host, serr)
	}
	return nil
}

// watchGap checks, as often as the host's liveness key is refreshed,
// that the stream holds at least as many messages as the records of this
// log it acknowledged (one message each): a purge or a message delete
// while the attempt runs is not seen by the stream's expectations (its
// last sequence and last message id stay), so the records after it are
// taken with a gap before them. It stops the attempt with a
// *removedError at the first check that finds fewer (the next attempt's
// resume tells a gap from records removed at the stream's end, which it
// sends again), and returns nil when ctx ends.
func (h *Host) watchGap(ctx context.Context, s jetstream.Stream, stop func()) error {
	tick := time.NewTicker(h.opts.Liveness)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		acked := h.acked.Load() // before the info: each was stored before its ack
		info, err := s.Info(ctx)
		if err != nil {
			continue // the attempt's own sends fail too, or the next check tells
		}
		if info.State.Msgs < acked && retentionLimits(info.Config) == "" {
			stop()
			return &removedError{stream: StreamName(h.opts.Host), held: info.State.Msgs, acked: acked}
		}
	}
}

// retentionLimits names the limits a stream's config sets on what it
// keeps (lifeline makes its streams without any; an operator may add
// them), "" for none. The server discards the oldest messages of a stream
// with limits, so it holds fewer than the records it took, with no gap at
// its end.
func retentionLimits(c jetstream.StreamConfig) string {
	var l []string
	if c.MaxAge > 0 {
		l = append(l, "max age "+c.MaxAge.String())
	}
	if c.MaxMsgs > 0 {
		l = append(l, "max msgs "+strconv.FormatInt(c.MaxMsgs, 10))
	}
	if c.MaxBytes > 0 {
		l = append(l, "max bytes "+strconv.FormatInt(c.MaxBytes, 10))
	}
	if c.MaxMsgsPerSubject > 0 {
		l = append(l, "max msgs per subject "+strconv.FormatInt(c.MaxMsgsPerSubject, 10))
	}
	return strings.Join(l, ", ")
}

// acks waits for the ack of each record of queue, in order, and stops
// the attempt at the first failure: a refusal (the expected last
// sequence or message id not the stream's, the stream not there), no ack
// within AckTimeout, or a duplicate. The records after it were refused by
// the stream's expectations or are refused when they arrive, and what
// the stream took after it is not counted: the next attempt resumes
// from what the stream holds, after checking it is this log's. A
// duplicate (the stream holds a message with the record's id already) is
// not counted either: the id says which record, not whose (a second
// daemon with this host's name writes the same ids), so the next
// attempt's check decides.
func (h *Host) acks(queue <-chan uint64, acks <-chan *nats.Msg, prefixLen int, stop func()) error {
	var first error
	early := make(map[uint64]error) // acks that came before their record's turn
	timer := time.NewTimer(h.opts.AckTimeout)
	defer timer.Stop()
	for seq := range queue {
		if first != nil {
			continue
		}
		timer.Reset(h.opts.AckTimeout)
		for {
			err, ok := early[seq]
			if ok {
				delete(early, seq)
			} else {
				select {
				case m := <-acks:
					s, perr := strconv.ParseUint(m.Subject[min(prefixLen, len(m.Subject)):], 10, 64)
					if perr != nil || s < seq {
						continue // not a record of this attempt's, or one settled
					}
					if s > seq {
						early[s] = pubAckErr(m)
						continue
					}
					err = pubAckErr(m)
				case <-timer.C:
					err = fmt.Errorf("no ack within %v", h.opts.AckTimeout)
				}
			}
			if err != nil {
				var de *dupError
				if errors.As(err, &de) {
					de.seq = seq
				}
				first = fmt.Errorf("fleet host %q: record seq %d not acknowledged: %w", h.opts.Host, seq, err)
				stop()
			} else {
				h.acked.Store(seq)
				h.published.Add(1)
			}
			break
		}
	}
	return first
}

// errDuplicate: the stream said it holds a message with the record's id.
var errDuplicate = errors.New("the stream holds a message with this record's id already")

// dupError is a stream's duplicate reply to a record: it had a message
// with the record's id at streamSeq (it may have been removed since: the
// server remembers the ids of its duplicate window, not its messages).
type dupError struct {
	stream    string
	streamSeq uint64
	seq       uint64 // the record's seq (set by acks)
}

func (e *dupError) Error() string {
	return fmt.Sprintf("%v (stream %s seq %d)", errDuplicate, e.stream, e.streamSeq)
}

func (e *dupError) Unwrap() error { return errDuplicate }

// gapError: the stream holds fewer messages than the records of this log
// it acknowledged. Records were removed from it (a purge, a message
// delete) and later ones taken after them: the stream has a gap that
// publishing cannot fill in order, so the publisher stops until the
// stream is deleted (and published again whole from the log).
type gapError struct {
	stream string
	held   uint64 // the messages the stream holds
	seq    uint64 // the last record of this log it holds, or acknowledged
}

func (e *gapError) Error() string {
	return fmt.Sprintf("stream %s holds %d messages, yet it took this log's records up to seq %d, one message each: %d records were removed from it (a purge or a message delete) and records after them were taken, so it has a gap that publishing cannot fill in order: delete the stream (lifeline publishes the whole log again from seq 1)", e.stream, e.held, e.seq, e.seq-e.held)
}

// removedError: the stream, while an attempt published, came to hold
// fewer messages than the records of this log it acknowledged: records
// were removed from it.
type removedError struct {
	stream string
	held   uint64
	acked  uint64
}

func (e *removedError) Error() string {
	return fmt.Sprintf("stream %s holds %d messages, yet it took this log's records up to seq %d, one message each: records were removed from it (a purge or a message delete); publishing resumes from what it holds", e.stream, e.held, e.acked)
}

// resendRefusedError: the stream refuses a record as a duplicate of a
// message it no longer holds (removed by a purge or a message delete):
// the server remembers the ids of its duplicate window, and takes the
// record again once its id is older.
type resendRefusedError struct {
	stream    string
	seq       uint64
	msgID     string
	streamSeq uint64        // where the stream held it
	window    time.Duration // the stream's duplicate window
}

func (e *resendRefusedError) Error() string {
	return fmt.Sprintf("stream %s refuses this log's record seq %d (message id %q) as a duplicate of its message at stream seq %d, which it no longer holds (removed by a purge or a message delete): the server keeps the ids it took in the last %v (the stream's duplicate window) and takes the record again once its id is older than that; publishing resumes by itself then, with no record skipped. To publish at once, delete the stream (lifeline publishes the whole log again from seq 1)", e.stream, e.seq, e.msgID, e.streamSeq, e.window)
}

// resendRefused returns the *resendRefusedError of a duplicate reply
// when the stream no longer holds the message it names, nil when it does
// (a re-send of a record in flight when an attempt ended: the next
// attempt resumes after it) or when that is not known.
func (h *Host) resendRefused(ctx context.Context, de *dupError) error {
	s, err := h.js.Stream(ctx, StreamName(h.opts.Host))
	if err != nil {
		return nil
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil
	}
	if de.streamSeq >= info.State.FirstSeq {
		if _, err := s.GetMsg(ctx, de.streamSeq); !errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
	}
	e := &resendRefusedError{stream: StreamName(h.opts.Host), seq: de.seq, streamSeq: de.streamSeq, window: info.Config.Duplicates}
	stop := errors.New("enough")
	_ = h.opts.Log.Records(de.seq, func(r store.Record) error {
		if r.Seq == de.seq {
			e.msgID = MsgID(h.opts.Host, r.Boot, r.Seq)
		}
		return stop
	})
	return e
}

// pubAckErr is the refusal a stream's reply to a publish says, nil for
// an ack, errDuplicate (wrapped, with the stream's seq of it) for a
// duplicate.
func pubAckErr(m *nats.Msg) error {
	if len(m.Data) == 0 {
		if st := m.Header.Get("Status"); st != "" {
			// 503: no responders, no stream takes the subject.
			return fmt.Errorf("no stream took the record (status %s %s)", st, m.Header.Get("Description"))
		}
		return errors.New("an empty reply, not a JetStream ack")
	}
	// {"stream":"NAME","seq":N[,"duplicate":true]} without the JSON
	// decoding of each; anything else is decoded.
	if len(m.Data) > len(`{"stream":"`) && string(m.Data[:len(`{"stream":"`)]) == `{"stream":"` && !bytes.Contains(m.Data, []byte(`"error"`)) && !bytes.Contains(m.Data, []byte(`"duplicate"`)) {
		return nil
	}
	var a struct {
		Stream    string              `json:"stream"`
		Seq       uint64              `json:"seq"`
		Duplicate bool                `json:"duplicate"`
		Error     *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &a); err != nil {
		return fmt.Errorf("not a JetStream ack (%q): %w", m.Data, err)
	}
	if a.Error != nil {
		return a.Error
	}
	if a.Stream == "" {
		return fmt.Errorf("not a JetStream ack: %q", m.Data)
	}
	if a.Duplicate {
		return &dupError{stream: a.Stream, streamSeq: a.Seq}
	}
	return nil
}

func (h *Host) markDirty(vm string) {
	h.mu.Lock()
	h.dirty[vm] = struct{}{}
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// headsBucket returns the heads bucket, creating it when it does not exist.
func headsBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, HeadsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: HeadsBucket, Description: "lifeline: every VM's head, key <host>.<vm>", Replicas: replicas, Storage: jetstream.FileStorage})
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: bucket %s: %w", HeadsBucket, err)
	}
	return kv, nil
}

// unrecordedState is what a VM's head shows that no record carries.
type unrecordedState struct {
	degraded     bool
	agentError   string
	agentErrorAt time.Time
	unrecorded   string
}

// markUnrecorded marks dirty every VM whose head shows, of what no record
// carries, other than at the last look: its agent reported an error
// (Lima's degraded flag) while it runs, or it was cleared.
func (h *Host) markUnrecorded() {
	seen := make(map[string]unrecordedState, len(h.unrecorded))
	for _, v := range h.opts.Engine.List() {
		u := unrecordedState{v.Degraded, v.AgentError, v.AgentErrorAt, v.Unrecorded}
		if u != h.unrecorded[v.Name] {
			h.markDirty(v.Name)
		}
		if u != (unrecordedState{}) {
			seen[v.Name] = u
		}
	}
	h.unrecorded = seen
}

// heads keeps the heads bucket equal to the engine's VMs: every VM at the
// start (and the keys of VMs that are gone deleted), then each VM a
// record changed, coalesced, and, as often as the liveness key is
// refreshed (at most once a second), each VM whose head changed without a
// record (its agent's error, Lima's degraded flag).
func (h *Host) heads(ctx context.Context) {
	synced := false
	tick := time.NewTicker(h.opts.Retry)
	defer tick.Stop()
	// Each look lists every VM of the engine: not more than once a
	// second, whatever the liveness period.
	look := time.NewTicker(max(h.opts.Liveness, time.Second))
	defer look.Stop()
	for {
		if !synced {
			synced = h.syncStale(ctx) == nil
		}
		if err := h.flushHeads(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn().Err(err).Msg("fleet: heads not written; retrying")
		}
		// A storm of records makes one write per VM per HeadsEvery, not
		// one per record.
		select {
		case <-ctx.Done():
			return
		case <-time.After(HeadsEvery):
		}
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		case <-tick.C:
		case <-look.C:
			h.markUnrecorded()
		}
	}
}

// syncStale marks dirty every key of this host whose VM the engine does
// not have, so flushHeads deletes it, and keeps the keys it listed as
// present. It asks the engine's List, not Get: a closed engine (a daemon
// stopped before its heads first synced) answers Get with ErrClosed, and
// its VMs as it left them with List. A listing that does not end within
// AckTimeout is an error, its keys not taken for all.
func (h *Host) syncStale(ctx context.Context) error {
	kv, err := headsBucket(ctx, h.js, h.opts.Replicas)
	if err != nil {
		h.headsKV = false
		return err
	}
	h.headsKV = true
	lctx, cancel := context.WithTimeout(ctx, h.opts.AckTimeout)
	defer cancel()
	l, err := kv.ListKeysFiltered(lctx, token(h.opts.Host)+".>")
	if err != nil {
		return err
	}
	have := make(map[string]struct{})
	for _, v := range h.opts.Engine.List() {
		have[v.Name] = struct{}{}
	}
	prefix := token(h.opts.Host) + "."
	listed := make(map[string]struct{})
	for k := range l.Keys() {
		// A VM created since the List is marked too: flushHeads writes
		// what the engine says of it when it flushes.
		vm := untoken(k[len(prefix):])
		listed[vm] = struct{}{}
		if _, ok := have[vm]; !ok {
			h.markDirty(vm)
		}
	}
	if lctx.Err() != nil {
		// The lister ends its channel when its context does: the keys
		// may not all have come.
		return fmt.Errorf("fleet host %q: bucket %s: listing this host's keys did not end within %v; it is tried again", h.opts.Host, HeadsBucket, h.opts.AckTimeout)
	}
	// Puts sent since the last sync, or before the first, whose acks may
	// not have come (or which the server stored after the listing): still
	// present.
	for vm := range h.present {
		listed[vm] = struct{}{}
	}
	for vm := range h.putBeforeSync {
		listed[vm] = struct{}{}
	}
	h.present, h.putBeforeSync = listed, nil
	return nil
}

// kvDelete is the header of a head's delete (what jetstream's
// KeyValue.Delete sends).
var kvDelete = nats.Header{"KV-Operation": {"DEL"}}

// flushHeads writes the head of every dirty VM (deletes the key of a VM
// that no longer exists, unless the bucket holds no value for it), all at
// once, their acks on one inbox of this flush (a head's index in the
// reply subject), with one timer for all: no jetstream future, map entry
// or timer a head, as PublishMsgAsync makes. The head's JSON is written
// by appendHead (json.Marshal's bytes). What fails stays dirty.
func (h *Host) flushHeads(ctx context.Context) error {
	h.mu.Lock()
	dirty := h.dirty
	if len(dirty) == 0 {
		h.mu.Unlock()
		return nil
	}
	if h.dirty = h.spare; h.dirty == nil {
		h.dirty = make(map[string]struct{})
	}
	h.spare = nil
	h.mu.Unlock()
	var failed []string
	err := h.writeHeads(ctx, dirty, &failed)
	if len(failed) > 0 {
		h.headsKV = false // a bucket deleted since is made again
		h.mu.Lock()
		for _, vm := range failed {
			h.dirty[vm] = struct{}{}
		}
		h.mu.Unlock()
	}
	clear(dirty)
	h.spare = dirty
	if err != nil {
		return fmt.Errorf("fleet host %q: heads: %d not written: %w", h.opts.Host, len(failed), err)
	}
	return nil
}

// writeHeads sends the heads of dirty and waits for their acks; the VMs
// it could not write are appended to *failed.
func (h *Host) writeHeads(ctx context.Context, dirty map[string]struct{}, failed *[]string) error {
	if !h.headsKV {
		if _, err := headsBucket(ctx, h.js, h.opts.Replicas); err != nil {
			for vm := range dirty {
				*failed = append(*failed, vm)
			}
			return err
		}
		h.headsKV = true
		// The bucket may be new (deleted since the last write): it holds
		// none of this host's heads, so every VM's is written, not only
		// the ones that changed.
		for _, v := range h.opts.Engine.List() {
			dirty[v.Name] = struct{}{}
		}
	}
	inbox := nats.NewInbox()
	replies := make(chan *nats.Msg, len(dirty)+16)
	sub, err := h.nc.ChanSubscribe(inbox+".*", replies)
	if err != nil {
		for vm := range dirty {
			*failed = append(*failed, vm)
		}
		return fmt.Errorf("subscribe to the bucket's acks: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	replyPrefix := inbox + "."
	subjectPrefix := "$KV." + HeadsBucket + "." + token(h.opts.Host) + "."
	type sentHead struct {
		vm                  string
		del, replied, acked bool
	}
	sent := make([]sentHead, 0, len(dirty))
	var closed map[string]engine.VM
	var werr error
	m := &nats.Msg{}
	for vm := range dirty {
		if werr != nil {
			*failed = append(*failed, vm)
			continue
		}
		v, gerr := h.opts.Engine.Get(vm)
		if errors.Is(gerr, engine.ErrClosed) {
			// The engine closed (the daemon stops): its VMs as it left
			// them are the last heads.
			if closed == nil {
				closed = make(map[string]engine.VM)
				for _, v := range h.opts.Engine.List() {
					closed[v.VM] = v
				}
			}
			var ok bool
			if v, ok = closed[vm]; ok {
				gerr = nil
			} else {
				gerr = engine.ErrNotFound
			}
		}
		del := false
		switch {
		case errors.Is(gerr, engine.ErrNotFound):
			if _, ok := h.present[vm]; h.present != nil && !ok {
				continue // the bucket holds no value of it: nothing to delete
			}
			m.Header, m.Data, del = kvDelete, nil, true
		case gerr != nil:
			h.log.Warn().Err(gerr).Str("vm", vm).Msg("fleet: head not read")
			continue
		default:
			head := server.VMOf(v)
			b, ok := appendHead(h.headBuf[:0], &head) // json.Marshal's bytes, without its reflection
			if ok {
				h.headBuf = b
			} else if b, err = json.Marshal(head); err != nil {
				h.log.Warn().Err(err).Str("vm", vm).Msg("fleet: head not written: its JSON")
				continue
			}
			m.Header, m.Data = nil, b
		}
		m.Subject, m.Reply = subjectPrefix+token(vm), replyPrefix+strconv.Itoa(len(sent))
		if err := h.nc.PublishMsg(m); err != nil {
			werr = err
			*failed = append(*failed, vm)
			continue
		}
		if !del {
			// Sent: the bucket may hold it now, whatever the ack.
			if h.present != nil {
				h.present[vm] = struct{}{}
			} else {
				if h.putBeforeSync == nil {
					h.putBeforeSync = make(map[string]struct{})
				}
				h.putBeforeSync[vm] = struct{}{}
			}
		}
		sent = append(sent, sentHead{vm: vm, del: del})
	}
	timer := time.NewTimer(h.opts.AckTimeout)
	defer timer.Stop()
	for left := len(sent); left > 0; {
		select {
		case r := <-replies:
			i, perr := strconv.Atoi(r.Subject[min(len(replyPrefix), len(r.Subject)):])
			if perr != nil || i < 0 || i >= len(sent) || sent[i].replied {
				continue // not a head of this flush's, or one settled
			}
			sent[i].replied = true
			left--
			if aerr := pubAckErr(r); aerr != nil {
				werr = aerr
				continue
			}
			sent[i].acked = true
			if sent[i].del {
				delete(h.present, sent[i].vm)
				delete(h.putBeforeSync, sent[i].vm)
			}
			continue
		case <-timer.C:
			werr = fmt.Errorf("no ack within %v", h.opts.AckTimeout)
		case <-ctx.Done():
			werr = ctx.Err()
		}
		break
	}
	for _, p := range sent {
		if !p.acked {
			*failed = append(*failed, p.vm)
		}
	}
	return werr
}

// hostsBucket returns the liveness bucket, creating it with entries that
// live ttl.
func hostsBucket(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, HostsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: HostsBucket, Description: "lifeline: the live hosts; an entry expires unless its host refreshes it", TTL: ttl, Replicas: replicas, Storage: jetstream.FileStorage})
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: bucket %s: %w", HostsBucket, err)
	}
	return kv, nil
}

// liveness refreshes the host's key until ctx ends.
func (h *Host) liveness(ctx context.Context) {
	info := h.opts.Info
	info.Host = h.opts.Host
	if info.PID == 0 {
		info.PID = os.Getpid()
	}
	if info.Since.IsZero() {
		info.Since = time.Now().UTC()
	}
	tick := time.NewTicker(h.opts.Liveness)
	defer tick.Stop()
	var kv jetstream.KeyValue // looked up once, again after a failure
	for {
		var err error
		if kv == nil {
			kv, err = hostsBucket(ctx, h.js, h.opts.Replicas, 3*h.opts.Liveness)
		}
		if err == nil {
			info.Time = time.Now().UTC()
			b, _ := json.Marshal(info)
			if _, err = kv.Put(ctx, token(h.opts.Host), b); err != nil {
				kv = nil
			}
		}
		if err != nil && ctx.Err() == nil {
			h.log.Debug().Err(err).Msg("fleet: liveness not refreshed")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

package fleet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/store"
)

// HostView is one host in the fleet view: whether its liveness key is
// there (a host that is down has VMs in the heads bucket and no key) and
// its VMs' heads, by name.
type HostView struct {
	Host string    `json:"host"`
	Live bool      `json:"live"`
	Info *HostInfo `json:"info,omitempty"`
	VMs  []api.VM  `json:"vms"`
}

// List returns every host of the fleet, sorted by name: the hosts with a
// liveness key and the hosts with VMs in the heads bucket. Both buckets
// are read at once, and the heads are decoded on every CPU while they
// arrive (10,000 JSON heads are most of a list's CPU).
func List(ctx context.Context, js jetstream.JetStream) ([]HostView, error) {
	infos := map[string]*HostInfo{}
	hostsErr := make(chan error, 1)
	go func() {
		hostsErr <- readBucket(ctx, js, HostsBucket, func(key string, val []byte) error {
			var info HostInfo
			if err := json.Unmarshal(val, &info); err != nil {
				return fmt.Errorf("host %q's liveness value: %w", untoken(key), err)
			}
			infos[untoken(key)] = &info
			return nil
		})
	}()
	chunks, headsErr := readHeads(ctx, js)
	if err := <-hostsErr; err != nil {
		return nil, err
	}
	if headsErr != nil {
		return nil, headsErr
	}
	hosts := map[string]*HostView{}
	get := func(h string) *HostView {
		v := hosts[h]
		if v == nil {
			v = &HostView{Host: h, VMs: []api.VM{}}
			hosts[h] = v
		}
		return v
	}
	for h, info := range infos {
		v := get(h)
		v.Live, v.Info = true, info
	}
	for _, c := range chunks {
		for i := range c.heads {
			v := get(c.hosts[i])
			v.VMs = append(v.VMs, c.heads[i])
		}
	}
	out := make([]HostView, 0, len(hosts))
	for _, v := range hosts {
		slices.SortFunc(v.VMs, func(a, b api.VM) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b HostView) int { return strings.Compare(a.Host, b.Host) })
	return out, nil
}

// headChunk is a run of the heads bucket's entries, decoded by one worker.
type headChunk struct {
	keys  []string
	vals  [][]byte
	hosts []string // each head's host, from its key
	heads []api.VM
	err   error // the first entry that did not decode
}

// headChunkSize is how many heads one worker decodes at a time.
const headChunkSize = 256

func (c *headChunk) decode() {
	c.hosts = make([]string, 0, len(c.keys))
	c.heads = make([]api.VM, len(c.keys))
	for i, key := range c.keys {
		h, vm, ok := strings.Cut(key, ".")
		if !ok {
			c.err = fmt.Errorf("bucket %s: key %q is not <host>.<vm>", HeadsBucket, key)
			return
		}
		if err := decodeHead(c.vals[i], &c.heads[i]); err != nil {
			c.err = fmt.Errorf("vm %q of host %q: head: %w", untoken(vm), untoken(h), err)
			return
		}
		c.hosts = append(c.hosts, untoken(h))
	}
	c.vals = nil
}

// readHeads reads the heads bucket and decodes its entries, in chunks, on
// GOMAXPROCS workers while the rest arrives; the chunks keep the bucket's
// order. The first entry that does not decode is the error.
func readHeads(ctx context.Context, js jetstream.JetStream) ([]*headChunk, error) {
	work := make(chan *headChunk, 64)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for c := range work {
				c.decode()
			}
		})
	}
	var chunks []*headChunk
	cur := &headChunk{}
	send := func() {
		chunks = append(chunks, cur)
		work <- cur
		cur = &headChunk{}
	}
	err := readBucket(ctx, js, HeadsBucket, func(key string, val []byte) error {
		cur.keys = append(cur.keys, key)
		cur.vals = append(cur.vals, val)
		if len(cur.keys) == headChunkSize {
			send()
		}
		return nil
	})
	if len(cur.keys) > 0 {
		send()
	}
	close(work)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	for _, c := range chunks {
		if c.err != nil {
			return nil, c.err
		}
	}
	return chunks, nil
}

// readBucket calls fn with every live key of a bucket and its value, once
// each; a bucket that does not exist has none. It reads the bucket's
// stream, the last message of each key, through a consumer it deletes at
// the end, and calls fn when the read is done: a key written again (or
// deleted) during the read comes again, later in the stream, and only
// its last message counts (fleet list showed such a VM twice, or one
// deleted meanwhile). A read the server cuts short is an error, never a
// part of the bucket.
func readBucket(ctx context.Context, js jetstream.JetStream, bucket string, fn func(key string, val []byte) error) error {
	what := "bucket " + bucket
	err := bounded(ctx, js.Conn(), func(ctx context.Context) error {
		_, err := js.Stream(ctx, "KV_"+bucket)
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return readError(js.Conn(), what, err)
	}
	prefix := "$KV." + bucket + "."
	r := &consumerRead{js: js, stream: "KV_" + bucket, what: what, cut: "nothing is shown of a view cut short",
		first: jetstream.ConsumerConfig{FilterSubjects: []string{prefix + ">"}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy}}
	type entry struct {
		key  string
		val  []byte
		live bool
	}
	var entries []entry    // in the order the keys first came
	at := map[string]int{} // key → its index in entries
	err = r.run(ctx, func(m jetstream.Msg) error {
		if bucketReadHook != nil {
			bucketReadHook()
		}
		op := m.Headers().Get("KV-Operation")
		e := entry{key: strings.TrimPrefix(m.Subject(), prefix), val: m.Data(), live: op != "DEL" && op != "PURGE"}
		// A consumer delivers in stream order: a key that comes again
		// comes with a newer message.
		if i, ok := at[e.key]; ok {
			entries[i] = e
			return nil
		}
		at[e.key] = len(entries)
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.live {
			continue
		}
		if err := fn(e.key, e.val); err != nil {
			return err
		}
	}
	return nil
}

// bucketReadHook, when set (by a test), runs as readBucket reads each
// message, before it calls its callback with any: what a test needs to
// cut a bucket's read in its middle.
var bucketReadHook func()

// Bounds of the fleet's reads. A read asks the server through requests
// (a stream's info, a consumer made and deleted) that each end within
// readRequestTimeout, or at once when the connection drops. A one-shot
// read fetches batches that each end after 2×readHeartbeat (and a
// second) of silence, and ends at once with an error when the connection
// drops; a follow's consumer proves alive every readHeartbeat, and a
// follow whose consumer falls silent for two or whose connection drops
// waits for the server (saying so every followNoticeEvery) and goes on
// where it was.
var (
	readRequestTimeout = 10 * time.Second
	readHeartbeat      = 2 * time.Second
	followRetryMax     = 5 * time.Second
	followNoticeEvery  = 10 * time.Second
	// readInactive is how long the server keeps a consumer of a reader
	// that went away without deleting it (a killed CLI).
	readInactive = time.Minute
)

// serverOf names the NATS server(s) of nc for an error: the one it is
// connected to, else the ones it knows (credentials left out).
func serverOf(nc *nats.Conn) string {
	if u := nc.ConnectedUrl(); u != "" {
		return RedactURLs(u)
	}
	if s := nc.Servers(); len(s) > 0 {
		return RedactURLs(strings.Join(s, ","))
	}
	return "the NATS server"
}

// RedactURLs is a comma-separated list of NATS URLs with every user name,
// password and token left out: a URL's user alone is a token to NATS
// (url.URL.Redacted keeps it).
func RedactURLs(urls string) string {
	var out []string
	for _, s := range strings.Split(urls, ",") {
		s = strings.TrimSpace(s)
		full := s
		if !strings.Contains(full, "://") {
			full = "nats://" + full // as nats.Connect reads it
		}
		if u, err := url.Parse(full); err == nil && u.Host != "" {
			u.User = nil
			s = u.String()
		} else if i := strings.LastIndex(s, "@"); i >= 0 {
			s = s[i+1:] // not a URL: nothing before an @ is shown
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

// readError is err of a read of what (a host's stream, a bucket) with
// the server's address and what to do about it.
func readError(nc *nats.Conn, what string, err error) error {
	hint := "check that the NATS server is up and reachable, and run this again"
	if st := nc.Status(); st != nats.CONNECTED && !strings.Contains(err.Error(), "connection to the server was lost") {
		err = fmt.Errorf("%w (no connection to the server: %v)", err, st)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("fleet: %s at %s: %w", what, serverOf(nc), err)
	case errors.Is(err, nats.ErrPermissionViolation) || errors.Is(nc.LastError(), nats.ErrPermissionViolation):
		hint = fmt.Sprintf("this user may not read it (%v): check the credentials (--fleet-creds) and the user's permissions (README, Fleet)", nc.LastError())
	case errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired):
		hint = "the server refused the credentials: check --fleet-creds"
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		hint = "the server runs without JetStream for this account: start it with -js"
	case errors.Is(err, jetstream.ErrStreamNotFound):
		hint = "no daemon has published there: see lifeline fleet list for the hosts"
	}
	return fmt.Errorf("fleet: %s at %s: %w; %s", what, serverOf(nc), err, hint)
}

// errNotConnected is a read that finds its connection down: a request
// would wait for its whole bound.
func errNotConnected(nc *nats.Conn) error {
	if st := nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("the connection to the server was lost (%v)", st)
	}
	return nil
}

// bounded runs f, one request (or a few) to the server, within
// readRequestTimeout, and ends it at once when the connection is or goes
// down: a request in flight when it drops waits out its timeout
// otherwise.
func bounded(ctx context.Context, nc *nats.Conn, f func(context.Context) error) error {
	rctx, cancel := context.WithTimeout(ctx, readRequestTimeout)
	defer cancel()
	lost := nc.StatusChanged(nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(lost)
	if err := errNotConnected(nc); err != nil {
		return err
	}
	go func() {
		select {
		case <-lost:
			cancel()
		case <-rctx.Done():
		}
	}()
	err := f(rctx)
	if err != nil && ctx.Err() == nil {
		if cerr := errNotConnected(nc); cerr != nil {
			return cerr // err is the request cut short by it
		}
	}
	return err
}

// errCallback is an error of a read's callback: passed on as it is, never
// retried.
type errCallback struct{ err error }

func (e errCallback) Error() string { return e.err.Error() }
func (e errCallback) Unwrap() error { return e.err }

// consumerRead is one read of a stream through consumers the read makes
// and deletes itself (not nats.go's ordered consumer, whose resets retry
// without end, ignore the read's context and leave the last consumer on
// the server for its inactivity threshold).
type consumerRead struct {
	js     jetstream.JetStream
	stream string
	what   string // for errors: host "h1"'s stream LIFELINE_REC_h1
	// first is the first consumer's config (deliver policy, filter); a
	// follow that makes another after an outage starts after the last
	// message read.
	first jetstream.ConsumerConfig
	// end, when not following, is the stream seq that ends the read (its
	// last message when it began); 0: when the consumer has nothing left.
	end    uint64
	follow bool
	// notice, with follow, hears that the server is away and for how
	// long, and that the read went on.
	notice func(string)
	// cut says, when not following, what became of a read cut short.
	cut string
	// read counts the messages read.
	read int
}

// run calls fn with each message in order until the read is done (all
// of it, or ctx ends when following).
func (r *consumerRead) run(ctx context.Context, fn func(jetstream.Msg) error) error {
	nc := r.js.Conn()
	var last uint64 // the stream seq of the last message read
	var away time.Time
	var lastNotice time.Time
	wait := time.Second / 4
	began := time.Now()
	for {
		err := r.once(ctx, last, fn, &last, func() {
			if !away.IsZero() && r.notice != nil {
				r.notice(fmt.Sprintf("fleet: %s at %s: reading again after %v away", r.what, serverOf(nc), time.Since(away).Round(time.Second)))
			}
			away, wait = time.Time{}, time.Second/4
		})
		var cb errCallback
		switch {
		case err == nil:
			return nil
		case errors.As(err, &cb):
			return cb.err
		case ctx.Err() != nil:
			if r.follow {
				return ctx.Err()
			}
			return readError(nc, r.what, ctx.Err())
		case !r.follow && (!settling(nc, err) || time.Since(began) >= readSettle):
			return readError(nc, r.what, fmt.Errorf("%w (after %d messages; %s)", err, r.read, r.cut))
		case nc.IsClosed():
			return readError(nc, r.what, fmt.Errorf("%w: %w", err, nats.ErrConnectionClosed))
		case errors.Is(err, jetstream.ErrStreamNotFound), refused(nc, err):
			return readError(nc, r.what, err)
		}
		now := time.Now()
		if away.IsZero() {
			away = now
		}
		if r.notice != nil && now.Sub(lastNotice) >= followNoticeEvery {
			lastNotice = now
			r.notice(fmt.Sprintf("fleet: %s at %s: %v; waiting for the server for %v (Ctrl-C to stop)", r.what, serverOf(nc), err, now.Sub(away).Round(time.Second)))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, followRetryMax)
	}
}

// readSettle bounds how long a one-shot read goes on through errors of a
// server that is up but settling (settling).
var readSettle = 10 * time.Second

// settling is an error of a server that is up but cannot answer yet: a
// cluster whose node holding the stream's leader died elects another,
// and until then a fetch finds no responder (the fleet view must keep
// answering through it, issue 13). A one-shot read goes on after the
// last message it read, for readSettle at most; a lost connection or a
// refusal ends it at once.
func settling(nc *nats.Conn, err error) bool {
	if nc.Status() != nats.CONNECTED || refused(nc, err) {
		return false
	}
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || (errors.As(err, &apiErr) && apiErr.Code == 503)
}

// refused is an error of a follow that waiting for the server does not
// mend: the user may not read (a permission violation, which the server
// reports apart from the request, so the request itself only times out),
// credentials refused, no JetStream there, or any other answer of the
// JetStream API but "temporarily unavailable" (503). A follow refused
// waited for its context, saying it waited for a server that was up.
func refused(nc *nats.Conn, err error) bool {
	switch {
	case errors.Is(err, nats.ErrPermissionViolation), errors.Is(nc.LastError(), nats.ErrPermissionViolation),
		errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code != 503
}

// once reads through one consumer, from the stream seq after last (the
// first config when last is 0), and deletes it.
func (r *consumerRead) once(ctx context.Context, last uint64, fn func(jetstream.Msg) error, lastp *uint64, reading func()) error {
	cfg := r.first
	if last > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = jetstream.DeliverByStartSequencePolicy, last+1, nil
	}
	cfg.AckPolicy = jetstream.AckNonePolicy
	cfg.MemoryStorage, cfg.Replicas, cfg.InactiveThreshold = true, 1, readInactive
	var c jetstream.Consumer
	err := bounded(ctx, r.js.Conn(), func(ctx context.Context) (err error) {
		c, err = r.js.CreateConsumer(ctx, r.stream, cfg)
		return err
	})
	if err != nil {
		return err
	}
	name := c.CachedInfo().Name
	defer func() {
		// The consumer is deleted even when ctx ended (a Ctrl-C), within a
		// bound; not through a connection that is down (the request would
		// wait for its bound): a consumer left behind goes after
		// readInactive, and a server's restart takes it.
		if errNotConnected(r.js.Conn()) != nil {
			return
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readRequestTimeout/4)
		defer cancel()
		_ = r.js.DeleteConsumer(dctx, r.stream, name)
	}()
	if !r.follow {
		return r.fetchAll(ctx, c, fn, lastp)
	}
	it, err := c.Messages(jetstream.PullMaxMessages(4096), jetstream.PullHeartbeat(readHeartbeat), jetstream.PullExpiry(5*readHeartbeat), jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return err
	}
	defer it.Stop()
	// The iterator waits through a lost connection (its heartbeats stop
	// with it): a lost connection ends this consumer, and ctx ends it.
	lost := r.js.Conn().StatusChanged(nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	defer r.js.Conn().RemoveStatusListener(lost)
	var why error
	var whyMu sync.Mutex
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case st := <-lost:
			whyMu.Lock()
			why = fmt.Errorf("the connection to the server was lost (%v)", st)
			whyMu.Unlock()
		case <-stopped:
			return
		}
		it.Stop()
	}()
	if st := r.js.Conn().Status(); st != nats.CONNECTED {
		return fmt.Errorf("the connection to the server was lost (%v)", st)
	}
	reading()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			whyMu.Lock()
			defer whyMu.Unlock()
			if why != nil {
				return why
			}
			if errors.Is(err, jetstream.ErrNoHeartbeat) {
				return fmt.Errorf("%w: the server sent nothing for %v", err, 2*readHeartbeat)
			}
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return errCallback{fmt.Errorf("fleet: %s: %w", r.what, err)}
		}
		*lastp = md.Sequence.Stream
		r.read++
		if err := fn(m); err != nil {
			return errCallback{err}
		}
	}
}

// fetchAll reads what c has, in batches as large as what is left (a
// fleet list of 10,000 heads is one), until nothing is left or the
// stream seq r.end. It ends at once on ctx or a lost connection; a
// batch the server stops sending ends within its wait.
func (r *consumerRead) fetchAll(ctx context.Context, c jetstream.Consumer, fn func(jetstream.Msg) error, lastp *uint64) error {
	nc := r.js.Conn()
	lost := nc.StatusChanged(nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(lost)
	if st := nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("the connection to the server was lost (%v)", st)
	}
	left := c.CachedInfo().NumPending
	for left > 0 {
		batch, err := c.Fetch(int(min(left, 100000)), jetstream.FetchMaxWait(2*readHeartbeat))
		if err != nil {
			return err
		}
		var last jetstream.Msg
	msgs:
		for {
			select {
			case m, ok := <-batch.Messages():
				if !ok {
					break msgs
				}
				last = m
				r.read++
				if err := fn(m); err != nil {
					return errCallback{err}
				}
			case <-ctx.Done():
				return ctx.Err()
			case st := <-lost:
				return fmt.Errorf("the connection to the server was lost (%v)", st)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if last == nil {
			// Nothing came: a key that expired or a message removed since
			// the read began never does. Done when nothing is left.
			if err := ctx.Err(); err != nil {
				return err
			}
			var info *jetstream.ConsumerInfo
			if err := bounded(ctx, nc, func(ctx context.Context) (err error) {
				info, err = c.Info(ctx)
				return err
			}); err != nil {
				return err
			}
			left = info.NumPending
			continue
		}
		// What is left after the batch's last message (its metadata is
		// parsed once a batch, not once a message).
		md, err := last.Metadata()
		if err != nil {
			return fmt.Errorf("fleet: %s: %w", r.what, err)
		}
		*lastp, left = md.Sequence.Stream, md.NumPending
		if r.end > 0 && md.Sequence.Stream >= r.end {
			return nil
		}
	}
	return nil
}

// Event is one record of one host, as the fleet's streams hold it.
type Event struct {
	Host   string     `json:"host"`
	Record api.Record `json:"record"`
}

// Hosts returns the names of the hosts that have a record stream.
func Hosts(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	var out []string
	err := bounded(ctx, js.Conn(), func(ctx context.Context) error {
		names := js.StreamNames(ctx)
		for n := range names.Name() {
			if h, ok := strings.CutPrefix(n, StreamPrefix); ok {
				out = append(out, untoken(h))
			}
		}
		return names.Err()
	})
	if err != nil {
		return nil, readError(js.Conn(), "list the hosts' streams", err)
	}
	slices.Sort(out)
	return out, nil
}

// Events calls fn with the records of host ("" for every host), oldest
// first per host: what the streams hold now and, with follow, every
// record published later, until ctx ends. Calls of fn never overlap. A
// follow goes on across an outage of the server; notice (if set) hears
// that it waits, every while, and that it reads again.
func Events(ctx context.Context, js jetstream.JetStream, host string, follow bool, notice func(string), fn func(Event) error) error {
	hosts := []string{host}
	if host == "" {
		var err error
		if hosts, err = Hosts(ctx, js); err != nil {
			return err
		}
	}
	if !follow {
		for _, h := range hosts {
			err := readStreamNotice(ctx, js, h, false, nil, "the records above are only the first ones", func(m jetstream.Msg) error {
				var r api.Record
				if err := json.Unmarshal(m.Data(), &r); err != nil {
					return fmt.Errorf("host %q: record: %w", h, err)
				}
				return fn(Event{Host: h, Record: r})
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	if len(hosts) == 0 {
		// A follow of nothing would end at once, saying nothing.
		return fmt.Errorf("fleet: no host has a record stream at %s yet: start a daemon with --fleet, or follow one host with --host H", serverOf(js.Conn()))
	}
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(hosts))
	for _, h := range hosts {
		go func() {
			errs <- readStreamNotice(ctx, js, h, true, notice, "", func(m jetstream.Msg) error {
				var r api.Record
				if err := json.Unmarshal(m.Data(), &r); err != nil {
					return fmt.Errorf("host %q: record: %w", h, err)
				}
				mu.Lock()
				defer mu.Unlock()
				return fn(Event{Host: h, Record: r})
			})
		}()
	}
	var first error
	for range hosts {
		if err := <-errs; err != nil && first == nil && ctx.Err() == nil {
			first = err
			cancel()
		}
	}
	if first == nil && ctx.Err() != nil {
		return nil
	}
	return first
}

// readStream calls fn with each message of host's stream, in order: up
// to its last message now, or, with follow, until ctx ends.
func readStream(ctx context.Context, js jetstream.JetStream, host string, follow bool, fn func(jetstream.Msg) error) error {
	return readStreamNotice(ctx, js, host, follow, nil, "nothing is shown of a read cut short", fn)
}

// readStreamNotice is readStream; a follow tells notice that it waits
// for the server; cut says what became of a read cut short.
func readStreamNotice(ctx context.Context, js jetstream.JetStream, host string, follow bool, notice func(string), cut string, fn func(jetstream.Msg) error) error {
	r := &consumerRead{js: js, stream: StreamName(host), what: fmt.Sprintf("host %q: stream %s", host, StreamName(host)),
		first: jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}, follow: follow, notice: notice, cut: cut}
	if !follow {
		var info *jetstream.StreamInfo
		err := bounded(ctx, js.Conn(), func(ctx context.Context) error {
			s, err := js.Stream(ctx, r.stream)
			if err == nil {
				info, err = s.Info(ctx)
			}
			return err
		})
		if err != nil {
			return readError(js.Conn(), r.what, err)
		}
		if info.State.Msgs == 0 {
			return nil
		}
		r.end = info.State.LastSeq
	}
	return r.run(ctx, fn)
}

// HistoryRecord is a record as a host's stream holds it, with the spec
// it hashed when the message carries it.
type HistoryRecord struct {
	store.Record
	Spec []byte
}

// History returns host's records as its stream holds them, oldest first,
// as the store's records: what a replay of the host reads. It checks that
// they follow each other without a gap (seq 1, 2, ...).
func History(ctx context.Context, js jetstream.JetStream, host string) ([]HistoryRecord, error) {
	var out []HistoryRecord
	err := readStream(ctx, js, host, false, func(m jetstream.Msg) error {
		var r HistoryRecord
		if err := json.Unmarshal(m.Data(), &r.Record); err != nil {
			return fmt.Errorf("fleet: host %q: record %s: %w", host, m.Headers().Get(HeaderSeq), err)
		}
		if want := uint64(len(out)) + 1; r.Seq != want {
			return fmt.Errorf("fleet: host %q: the stream holds seq %d where seq %d belongs: its history is not whole (header %s=%s)", host, r.Seq, want, HeaderSeq, m.Headers().Get(HeaderSeq))
		}
		if hs := m.Headers().Get(HeaderSeq); hs != strconv.FormatUint(r.Seq, 10) {
			return fmt.Errorf("fleet: host %q: record seq %d carries header %s=%s", host, r.Seq, HeaderSeq, hs)
		}
		if v := m.Headers().Get(HeaderSpec); v != "" {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return fmt.Errorf("fleet: host %q: record seq %d: header %s: %w", host, r.Seq, HeaderSpec, err)
			}
			r.Spec = b
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// WriteLog writes host's history into a new log file at path, record for
// record (the same seq, VM seq, boot, time, cause and spec hash), for the
// replay verbs: a host whose disk died can still be explained. The boots
// between are the file's own (their times and host boot ids are not in
// the stream). A create or update whose spec the stream does not carry is
// an error naming it.
func WriteLog(path string, recs []HistoryRecord) error {
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	ctx := context.Background()
	for _, r := range recs {
		for st.Boot() < r.Boot {
			if err := st.Close(); err != nil {
				return err
			}
			if st, err = store.Open(path, store.Options{NoSync: true}); err != nil {
				return err
			}
		}
		if st.Boot() != r.Boot {
			return fmt.Errorf("fleet: record seq %d: boot %d after boot %d: the stream's boots go back", r.Seq, r.Boot, st.Boot())
		}
		if !r.SpecHash.IsZero() && r.Spec == nil {
			return fmt.Errorf("fleet: record seq %d (vm %q, %s): the stream does not carry its spec (larger than %d bytes, or changed before it was published): the rebuilt log would not hash it", r.Seq, r.VM, r.Event, MaxSpecHeader)
		}
		got, err := st.Append(ctx, store.Write{Record: r.Record, Spec: r.Spec})
		if err != nil {
			return fmt.Errorf("fleet: rebuild record seq %d: %w", r.Seq, err)
		}
		if got.Seq != r.Seq || got.VMSeq != r.VMSeq || got.SpecHash != r.SpecHash {
			return fmt.Errorf("fleet: rebuild record seq %d: written as seq %d, vm seq %d (want %d), spec hash %s (want %s)", r.Seq, got.Seq, got.VMSeq, r.VMSeq, got.SpecHash, r.SpecHash)
		}
	}
	return nil
}

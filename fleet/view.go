package fleet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

// readBucket calls fn with every live key of a bucket and its value; a
// bucket that does not exist has none. It reads the bucket's stream with
// an ordered pull consumer, the last message of each key, in batches.
func readBucket(ctx context.Context, js jetstream.JetStream, bucket string, fn func(key string, val []byte) error) error {
	s, err := js.Stream(ctx, "KV_"+bucket)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fleet: bucket %s: %w", bucket, err)
	}
	prefix := "$KV." + bucket + "."
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("fleet: bucket %s: %w", bucket, err)
	}
	// Each message says how many are left; a key that expires or is
	// deleted meanwhile never arrives, so an empty batch asks the
	// consumer again.
	left := uint64(1)
	for left > 0 {
		if left == 1 || left > 1<<20 {
			info, err := c.Info(ctx)
			if err != nil {
				return fmt.Errorf("fleet: bucket %s: %w", bucket, err)
			}
			if left = info.NumPending; left == 0 {
				return nil
			}
		}
		batch, err := c.Fetch(int(min(left, 100000)), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("fleet: bucket %s: %w", bucket, err)
		}
		var last jetstream.Msg
		for m := range batch.Messages() {
			last = m
			if op := m.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				continue
			}
			if err := fn(strings.TrimPrefix(m.Subject(), prefix), m.Data()); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("fleet: bucket %s: %w", bucket, err)
		}
		if last != nil {
			// What is left after the batch's last message (its metadata
			// is parsed once a batch, not once a message).
			if md, err := last.Metadata(); err == nil {
				left = md.NumPending
			}
		} else {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("fleet: bucket %s: %w", bucket, err)
			}
			left = 1 // ask the consumer what is left
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
	names := js.StreamNames(ctx)
	for n := range names.Name() {
		if h, ok := strings.CutPrefix(n, StreamPrefix); ok {
			out = append(out, untoken(h))
		}
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("fleet: list streams: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// Events calls fn with the records of host ("" for every host), oldest
// first per host: what the streams hold now and, with follow, every
// record published later, until ctx ends. Calls of fn never overlap.
func Events(ctx context.Context, js jetstream.JetStream, host string, follow bool, fn func(Event) error) error {
	hosts := []string{host}
	if host == "" {
		var err error
		if hosts, err = Hosts(ctx, js); err != nil {
			return err
		}
	}
	if !follow {
		for _, h := range hosts {
			err := readStream(ctx, js, h, false, func(m jetstream.Msg) error {
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
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(hosts))
	for _, h := range hosts {
		go func() {
			errs <- readStream(ctx, js, h, true, func(m jetstream.Msg) error {
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
	s, err := js.Stream(ctx, StreamName(host))
	if err != nil {
		return fmt.Errorf("fleet: host %q: stream %s: %w", host, StreamName(host), err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("fleet: host %q: stream %s: %w", host, StreamName(host), err)
	}
	end := info.State.LastSeq
	if !follow && info.State.Msgs == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("fleet: host %q: read stream: %w", host, err)
	}
	it, err := c.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return fmt.Errorf("fleet: host %q: read stream: %w", host, err)
	}
	defer it.Stop()
	go func() { <-ctx.Done(); it.Stop() }()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("fleet: host %q: read stream: %w", host, err)
		}
		if err := fn(m); err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("fleet: host %q: read stream: %w", host, err)
		}
		if !follow && md.Sequence.Stream >= end {
			return nil
		}
	}
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

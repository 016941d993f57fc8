package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// fillStream makes host's stream with n records of one VM (seq 1..n,
// as History wants them) published straight to it.
func fillStream(t testing.TB, js jetstream.JetStream, host string, n int) {
	t.Helper()
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: StreamName(host), Subjects: []string{RecordPrefix + token(host) + ".>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	publishRecords(t, js, host, 1, n)
}

// publishRecords publishes records from..to of host's VM "vm".
func publishRecords(t testing.TB, js jetstream.JetStream, host string, from, to int) {
	t.Helper()
	ctx := t.Context()
	var acks []jetstream.PubAckFuture
	for i := from; i <= to; i++ {
		b, err := json.Marshal(store.Record{Seq: uint64(i), VMSeq: uint64(i), VM: "vm", Event: states.Start, From: states.Stopped, To: states.Starting, Boot: 1, Time: time.Unix(int64(i), 0).UTC()})
		if err != nil {
			t.Fatal(err)
		}
		m := &nats.Msg{Subject: RecordSubject(host, "vm"), Header: nats.Header{}, Data: b}
		m.Header.Set(HeaderSeq, strconv.Itoa(i))
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, f)
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

// fillBucket puts n keys in bucket, each an empty head.
func fillBucket(t testing.TB, js jetstream.JetStream, bucket string, n int) {
	t.Helper()
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := kv.Put(t.Context(), fmt.Sprintf("h.vm-%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
}

// consumers is how many consumers stream has.
func consumers(t testing.TB, js jetstream.JetStream, stream string) int {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}

// within runs f and fails unless it returns within d; it returns f's
// error.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s: still running after %v", what, d)
		return nil
	}
}

// wantReadError fails unless err names the server, the object and
// says what to do.
func wantReadError(t *testing.T, err error, url string, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, p := range append([]string{url}, parts...) {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

// TestStreamReadEndsWhenTheServerGoesAwayMidRead: a read of a host's
// stream (History, fleet events, replay --fleet) whose server shuts down
// after its first message ends at once with an error that names the
// server and the stream and says what to do. Before, it waited for its
// context (a bare "context deadline exceeded" after the CLI's 5 minutes
// for replay, never for fleet events).
func TestStreamReadEndsWhenTheServerGoesAwayMidRead(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	url := srv.ClientURL()
	js := jsOf(t, url)
	fillStream(t, js, "h1", 20000)
	n := 0
	err := within(t, 15*time.Second, "read of a stream whose server went away", func() error {
		return readStream(t.Context(), js, "h1", false, func(jetstream.Msg) error {
			if n++; n == 1 {
				srv.Shutdown()
			}
			return nil
		})
	})
	if n >= 20000 {
		t.Fatalf("read all %d messages: the server did not go away mid-read", n)
	}
	wantReadError(t, err, url, StreamName("h1"), "nothing is shown", "check that the NATS server is up")
}

// TestBucketReadEndsWhenTheServerGoesAwayMidRead: fleet list's read of
// the heads bucket whose server shuts down after its first key ends at
// once, with an error naming the server and the bucket; no part of the
// bucket is returned as the fleet. Before, the error was nats.go's bare
// "nats: server shutdown", or, between two batches, the ordered
// consumer's reset retried without end, past its context.
func TestBucketReadEndsWhenTheServerGoesAwayMidRead(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	url := srv.ClientURL()
	js := jsOf(t, url)
	fillBucket(t, js, HeadsBucket, 5000)
	n := 0
	bucketReadHook = func() {
		if n++; n == 1 {
			srv.Shutdown()
		}
	}
	defer func() { bucketReadHook = nil }()
	passed := 0
	err := within(t, 15*time.Second, "read of a bucket whose server went away", func() error {
		return readBucket(t.Context(), js, HeadsBucket, func(string, []byte) error {
			passed++
			return nil
		})
	})
	if passed > 0 {
		t.Errorf("a bucket read cut short passed %d keys on; want none (nothing of a view cut short)", passed)
	}
	wantReadError(t, err, url, "bucket "+HeadsBucket, "check that the NATS server is up")
}

// TestReadsEndWhenTheServerIsDown: with the server gone before the read
// (fleet list, fleet events, replay --fleet) each read ends within a
// bound (at once: no request waits out its timeout on a connection that
// is down) with an error naming the server; a connection to a server that
// never ran fails at once and says to start one.
func TestReadsEndWhenTheServerIsDown(t *testing.T) {
	port := freePort(t)
	_, err := Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
	wantReadError(t, err, fmt.Sprintf("127.0.0.1:%d", port), "is a NATS server with JetStream (-js) running there?")

	srv := startNATS(t, t.TempDir(), 0)
	url := srv.ClientURL()
	js := jsOf(t, url)
	fillStream(t, js, "h1", 10)
	fillBucket(t, js, HeadsBucket, 10)
	srv.Shutdown()
	srv.WaitForShutdown()
	err = within(t, 5*time.Second, "List", func() error { _, err := List(t.Context(), js); return err })
	wantReadError(t, err, url, "bucket", "check that the NATS server is up")
	err = within(t, 5*time.Second, "History", func() error { _, err := History(t.Context(), js, "h1"); return err })
	wantReadError(t, err, url, StreamName("h1"), "check that the NATS server is up")
	err = within(t, 5*time.Second, "Events", func() error {
		return Events(t.Context(), js, "", false, nil, func(Event) error { return nil })
	})
	wantReadError(t, err, url, "streams", "check that the NATS server is up")
}

// TestReadsDeleteTheirConsumers: History, List, Events and a follow
// ended by its context leave no consumer on the server. Before, the
// ordered consumer each made stayed until its inactivity threshold (5
// minutes): a fleet list every few seconds kept hundreds.
func TestReadsDeleteTheirConsumers(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	js := jsOf(t, srv.ClientURL())
	fillStream(t, js, "h1", 100)
	fillBucket(t, js, HeadsBucket, 100)
	fillBucket(t, js, HostsBucket, 0)
	if _, err := History(t.Context(), js, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := List(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	if err := Events(t.Context(), js, "h1", false, nil, func(Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	if err := streamFrom(ctx, js, "h1", 1, "", nil, func(jetstream.Msg) error {
		if n++; n == 100 {
			cancel()
		}
		return nil
	}); err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
	for _, s := range []string{StreamName("h1"), "KV_" + HeadsBucket, "KV_" + HostsBucket} {
		if n := consumers(t, js, s); n != 0 {
			t.Errorf("stream %s: %d consumers left after the reads", s, n)
		}
	}
}

// TestFollowGoesOnAcrossAServerRestart: fleet events --follow whose
// server restarts says it waits (and for how long), reads again when the
// server is back, with no record lost or repeated, and ends on its
// context.
func TestFollowGoesOnAcrossAServerRestart(t *testing.T) {
	defer func(d time.Duration) { followNoticeEvery = d }(followNoticeEvery)
	followNoticeEvery = 500 * time.Millisecond
	dir, port := t.TempDir(), freePort(t)
	srv := startNATS(t, dir, port)
	url := srv.ClientURL()
	js := jsOf(t, url)
	fillStream(t, js, "h1", 10)
	var mu sync.Mutex
	var seqs []uint64
	var notices []string
	got := func() (int, []string) {
		mu.Lock()
		defer mu.Unlock()
		return len(seqs), slices.Clone(notices)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Events(ctx, js, "h1", true, func(s string) {
			mu.Lock()
			defer mu.Unlock()
			notices = append(notices, s)
		}, func(ev Event) error {
			mu.Lock()
			defer mu.Unlock()
			seqs = append(seqs, ev.Record.Seq)
			return nil
		})
	}()
	eventually(t, 10*time.Second, "the first 10 records", func() bool { n, _ := got(); return n == 10 })
	srv.Shutdown()
	srv.WaitForShutdown()
	eventually(t, 10*time.Second, "a notice that the follow waits", func() bool {
		_, ns := got()
		return len(ns) >= 2 && strings.Contains(ns[len(ns)-1], "waiting for the server for") && strings.Contains(ns[len(ns)-1], url)
	})
	startNATS(t, dir, port)
	publishRecords(t, jsOf(t, url), "h1", 11, 15)
	eventually(t, 30*time.Second, "records 11-15 after the restart", func() bool { n, _ := got(); return n >= 15 })
	mu.Lock()
	want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if !slices.Equal(seqs, want) {
		t.Errorf("records %v, want %v", seqs, want)
	}
	if !strings.Contains(notices[len(notices)-1], "reading again after") {
		t.Errorf("notices %q: the last does not say the follow reads again", notices)
	}
	mu.Unlock()
	cancel()
	if err := within(t, 5*time.Second, "a cancelled follow", func() error { return <-done }); err != nil {
		t.Errorf("a follow ended by its context: %v", err)
	}
	if n := consumers(t, jsOf(t, url), StreamName("h1")); n != 0 {
		t.Errorf("%d consumers left after the follow", n)
	}
}

// TestFollowEndsOnItsContextWhileTheServerIsAway: a follow waiting for a
// server that is down ends as soon as its context does (Ctrl-C).
func TestFollowEndsOnItsContextWhileTheServerIsAway(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	js := jsOf(t, srv.ClientURL())
	fillStream(t, js, "h1", 3)
	ctx, cancel := context.WithCancel(t.Context())
	notices := make(chan string, 100)
	done := make(chan error, 1)
	n := 0
	go func() {
		done <- streamFrom(ctx, js, "h1", 1, "", func(s string) { notices <- s }, func(jetstream.Msg) error {
			if n++; n == 3 {
				srv.Shutdown()
			}
			return nil
		})
	}()
	select {
	case <-notices:
	case <-time.After(10 * time.Second):
		t.Fatal("no notice that the follow waits within 10s")
	}
	cancel()
	err := within(t, 2*time.Second, "a follow cancelled while waiting", func() error { return <-done })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled follow: %v, want context.Canceled", err)
	}
}

// TestCommandWhileTheServerIsAwayNamesTheServer: a remote command (the
// CLI's --fleet --host) whose NATS server is down ends after its
// timeout, once, with an error naming the server, not the host's
// silence. Before, it said the host gave "no reply", and a read was
// sent again to wait as long again.
func TestCommandWhileTheServerIsAwayNamesTheServer(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	url := srv.ClientURL()
	nc, err := Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	srv.Shutdown()
	srv.WaitForShutdown()
	start := time.Now()
	err = within(t, 10*time.Second, "a command", func() error {
		_, err := doWithTimeout(t.Context(), nc, "h1", "GET", "/v1/vms", nil, time.Second)
		return err
	})
	wantReadError(t, err, url, `host "h1"`, "no connection to the NATS server", "check that the server is up")
	if d := time.Since(start); d >= 2*time.Second {
		t.Errorf("the command took %v: sent again while the server was away", d)
	}
}

// TestFollowOfAFleetWithNoHostSaysSo: fleet events --follow of a fleet
// where no host has a stream yet is an error that says so and what to
// do. Before, it ended at once with nothing said and exit 0.
func TestFollowOfAFleetWithNoHostSaysSo(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	js := jsOf(t, srv.ClientURL())
	err := within(t, 10*time.Second, "a follow of no host", func() error {
		return Events(t.Context(), js, "", true, nil, func(Event) error { return nil })
	})
	wantReadError(t, err, srv.ClientURL(), "no host has a record stream", "--host H")
}

// TestReadRefusedByPermissionsSaysSo: a user the server does not let read
// the fleet gets, from fleet list, an error that names the server and
// says the user may not read it and to check its credentials and
// permissions, within the read's bound. Before, it was a bare "context
// deadline exceeded" after the CLI's 30 s.
func TestReadRefusedByPermissionsSaysSo(t *testing.T) {
	defer func(d time.Duration) { readRequestTimeout = d }(readRequestTimeout)
	readRequestTimeout = time.Second
	srv := runNATS(t, &natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: []*natsserver.User{
			{Username: "nobody", Password: "n", Permissions: &natsserver.Permissions{
				Publish:   &natsserver.SubjectPermission{Allow: []string{"$JS.API.INFO"}},
				Subscribe: &natsserver.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
		}})
	nc, err := Connect(srv.ClientURL(), nats.UserInfo("nobody", "n"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js := jsOfConn(t, nc)
	err = within(t, 10*time.Second, "a refused List", func() error { _, err := List(t.Context(), js); return err })
	wantReadError(t, err, srv.ClientURL(), "bucket", "may not read it", "--fleet-creds")
	t.Log(err)
}

// TestErrorsLeaveOutCredentials: no error of a connection or a read
// prints a password or a token: Connect printed the URL as given (a
// password), and the reads' errors used the connected URL with only its
// password redacted, while a URL's user alone is a NATS token.
func TestErrorsLeaveOutCredentials(t *testing.T) {
	_, err := Connect(fmt.Sprintf("nats://alice:s3cret@127.0.0.1:%d", freePort(t)))
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "alice") || !strings.Contains(err.Error(), "127.0.0.1:") {
		t.Errorf("connect to a server that is not there: %v; want its address without the user and password", err)
	}
	srv := runNATS(t, &natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true, Authorization: "tok3n"})
	nc, err := Connect(strings.Replace(srv.ClientURL(), "nats://", "nats://tok3n@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, err = History(t.Context(), jsOfConn(t, nc), "nohost")
	if err == nil || strings.Contains(err.Error(), "tok3n") || !strings.Contains(err.Error(), srv.ClientURL()) {
		t.Errorf("read of a stream that is not there: %v; want the server's address %s without the token", err, srv.ClientURL())
	}
	for in, want := range map[string]string{
		"nats://u:p@h:4222,tls://tok@h2:4443": "nats://h:4222,tls://h2:4443",
		"u:p@h:4222":                          "nats://h:4222",
		"h:4222":                              "nats://h:4222",
		"nats://h:4222":                       "nats://h:4222",
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBucketKeyWrittenDuringTheReadCountsOnce: a key written again while
// a bucket is read comes again later in the stream; only its last value
// counts, once (fleet list showed such a VM twice), and a key deleted
// during the read is not passed.
func TestBucketKeyWrittenDuringTheReadCountsOnce(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	js := jsOf(t, srv.ClientURL())
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: HeadsBucket})
	if err != nil {
		t.Fatal(err)
	}
	const keys = 3000
	for i := range keys {
		if _, err := kv.Put(t.Context(), fmt.Sprintf("h.vm-%d", i), fmt.Appendf(nil, `{"name":"vm-%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = kv.Put(context.Background(), fmt.Sprintf("h.vm-%d", i%10), []byte(`{"name":"updated"}`))
		}
	}()
	seen := map[string]int{}
	err = readBucket(t.Context(), js, HeadsBucket, func(key string, val []byte) error {
		seen[key]++
		return nil
	})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	for k, c := range seen {
		if c > 1 {
			t.Errorf("key %s passed %d times, want once", k, c)
		}
	}
	if len(seen) != keys {
		t.Errorf("%d keys passed, want %d", len(seen), keys)
	}
	// The same without a race: a key written again as the read passes its
	// first key.
	clear(seen)
	wrote := false
	if err := readBucket(t.Context(), js, HeadsBucket, func(key string, val []byte) error {
		if !wrote {
			wrote = true
			if _, err := kv.Put(t.Context(), "h.vm-2999", []byte(`{"name":"again"}`)); err != nil {
				return err
			}
		}
		seen[key]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen["h.vm-2999"] != 1 || len(seen) != keys {
		t.Errorf("a key written as the read went: passed %d times, %d keys; want once and %d", seen["h.vm-2999"], len(seen), keys)
	}
	// A key written and then deleted: the delete is its last message.
	if err := kv.Delete(t.Context(), "h.vm-5"); err != nil {
		t.Fatal(err)
	}
	clear(seen)
	if err := readBucket(t.Context(), js, HeadsBucket, func(key string, val []byte) error {
		seen[key]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen["h.vm-5"] != 0 || len(seen) != keys-1 {
		t.Errorf("after a delete: h.vm-5 passed %d times, %d keys; want 0 and %d", seen["h.vm-5"], len(seen), keys-1)
	}
}

// TestFollowRefusedByPermissionsEnds: a follow the server refuses (a
// user who may not make a consumer) ends with an error that says so; it
// waited for its context, saying it waited for the server, which was up.
func TestFollowRefusedByPermissionsEnds(t *testing.T) {
	defer func(d time.Duration) { readRequestTimeout = d }(readRequestTimeout)
	readRequestTimeout = time.Second
	srv := runNATS(t, &natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: []*natsserver.User{
			{Username: "admin", Password: "a"},
			{Username: "nobody", Password: "n", Permissions: &natsserver.Permissions{
				Publish:   &natsserver.SubjectPermission{Allow: []string{"$JS.API.INFO", "$JS.API.STREAM.INFO.>", "$JS.API.STREAM.NAMES"}},
				Subscribe: &natsserver.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
		}})
	anc, err := Connect(srv.ClientURL(), nats.UserInfo("admin", "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer anc.Close()
	fillStream(t, jsOfConn(t, anc), "h1", 3)
	nc, err := Connect(srv.ClientURL(), nats.UserInfo("nobody", "n"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var notices []string
	err = Events(ctx, jsOfConn(t, nc), "h1", true, func(s string) { notices = append(notices, s) }, func(Event) error { return nil })
	if ctx.Err() != nil || err == nil || !strings.Contains(err.Error(), "may not read") {
		t.Errorf("a follow the server refuses: %v (context: %v), notices %q; want it to end saying the user may not read", err, ctx.Err(), notices)
	}
}

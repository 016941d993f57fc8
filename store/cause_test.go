package store

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// oldSentences are reasons as engines before record version 2 wrote them,
// each with the cause ParseReason must find in it.
var oldSentences = []struct {
	ev   states.Event
	text string
	want Cause
}{
	{states.Create, "", Cause{Kind: CauseRequested}},
	{states.Start, "", Cause{Kind: CauseRequested}},
	{states.Spawned, "", Cause{}},
	{states.EventRunning, "", Cause{}},
	{states.Update, "spec updated", Cause{Kind: CauseRequested}},
	{states.Stop, "stop requested", Cause{Kind: CauseRequested}},
	{states.Stop, "e2e", Cause{Kind: CauseRequested, Detail: "e2e"}},
	{states.ForceStop, "force stop requested", Cause{Kind: CauseRequested}},
	{states.Exited, "force stop requested", Cause{Kind: CauseRequested}},
	{states.Reset, "reset requested", Cause{Kind: CauseRequested}},
	{states.Delete, "delete requested", Cause{Kind: CauseRequested}},
	{states.Stop, "daemon shutdown", Cause{Kind: CauseShutdown}},
	{states.Stop, "spec updated: restart to apply it", Cause{Kind: CauseUpdate}},
	{states.Start, "restart to apply the updated spec", Cause{Kind: CauseUpdate}},
	{states.Start, "restart to apply the updated spec, resumed after a daemon restart", Cause{Kind: CauseUpdateResumed}},
	{states.Backoff, "restart 2 of 5 in 10m0s, after 2s", Cause{Kind: CauseRestartPolicy, N: 2, Limit: 5, Window: 10 * time.Minute, Backoff: 2 * time.Second}},
	{states.Restart, "restart policy: restart 1 of 5 in 10s, after 200ms", Cause{Kind: CauseRestartPolicy, N: 1, Limit: 5, Window: 10 * time.Second, Backoff: 200 * time.Millisecond}},
	{states.Backoff, "restart limit reached: 5 restarts in 10m0s", Cause{Kind: CauseRestartLimit, N: 5, Window: 10 * time.Minute}},
	{states.Backoff, "restart given up: vm \"a\": restart: agent pid 4 is alive: still alive", Cause{Kind: CauseRestartGivenUp, Err: "vm \"a\": restart: agent pid 4 is alive: still alive"}},
	{states.StartFailed, "agent exited while starting: exit status 1 (boom)", Cause{Kind: CauseAgentExit, Code: -1, Detail: "exit status 1 (boom)"}},
	{states.Crashed, "agent exited unasked: exit status 1, without \"exiting\"", Cause{Kind: CauseAgentExit, Code: -1, Detail: "exit status 1, without \"exiting\""}},
	{states.Exited, "agent exited: exit status 0 (interrupted)", Cause{Kind: CauseAgentExit, Code: -1, Detail: "exit status 0 (interrupted)"}},
	{states.StartFailed, "agent reported an error while starting: no disk", Cause{Kind: CauseAgentError, Err: "no disk"}},
	{states.StartFailed, "spawn: fork: out of memory", Cause{Kind: CauseSpawnFailed, Err: "fork: out of memory"}},
	{states.StartFailed, "define: write lima.yaml: read-only", Cause{Kind: CauseDefineFailed, Err: "write lima.yaml: read-only"}},
	{states.StartFailed, `vm "a": load spec: unexpected EOF`, Cause{Kind: CauseSpecInvalid, Err: `vm "a": load spec: unexpected EOF`}},
	{states.StartFailed, "start timeout: not running by the deadline 2000-01-01T00:10:00.000Z", Cause{Kind: CauseStartDeadline, Deadline: time.Date(2000, 1, 1, 0, 10, 0, 0, time.UTC)}},
	{states.StopTimeout, "graceful deadline 2000-01-01T00:00:09.000Z passed: agent pid 1000 ignored the interrupt", Cause{Kind: CauseGracefulDeadline, Deadline: time.Date(2000, 1, 1, 0, 0, 9, 0, time.UTC), PID: 1000}},
	{states.StopTimeout, "graceful deadline 2000-01-01T00:00:09.500Z passed: agent pid 7 could not be interrupted (no such process)", Cause{Kind: CauseGracefulDeadline, Deadline: time.Date(2000, 1, 1, 0, 0, 9, 5e8, time.UTC), PID: 7, Err: "no such process"}},
	{states.Exited, "agent pid 1000 outlived SIGTERM", Cause{Kind: CauseTerminateDeadline, PID: 1000}},
	{states.KillFailed, "kill tree: kill tree of pid 1000: process survived SIGKILL", Cause{Kind: CauseKillFailed, Err: "kill tree of pid 1000: process survived SIGKILL"}},
	{states.KillFailed, "cleanup after kill: remove: busy", Cause{Kind: CauseCleanupFailed, Err: "remove: busy"}},
	{states.Adopted, "recovery: agent alive", Cause{Kind: CauseRecoveryAlive}},
	{states.Lost, "recovery: agent pid 4242 is gone", Cause{Kind: CauseRecoveryGone, PID: 4242}},
	{states.Lost, "recovery: agent pid 4242 is gone; its VM driver pid 4250 is left, to be killed", Cause{Kind: CauseRecoveryGone, PID: 4242, VMProcessPID: 4250}},
	{states.Exited, "recovery: agent gone", Cause{Kind: CauseRecoveryGone}},
	{states.Lost, "recovery failed: look up agent pid 4242: permission denied", Cause{Kind: CauseLookupFailed, PID: 4242, Err: "permission denied"}},
	{states.KillFailed, "recovery failed: look up agent pid 0: context deadline exceeded", Cause{Kind: CauseLookupFailed, Err: "context deadline exceeded"}},
	{states.Lost, "recovery failed: vm \"a\": lost: record Running→Broken: closed", Cause{Kind: CauseRecoveryFailed, Err: "vm \"a\": lost: record Running→Broken: closed"}},
	{states.Exited, "recovery: force stop resumed", Cause{Kind: CauseForceStopResumed}},
	{states.Spawned, "a process appeared while stopping", Cause{Kind: CauseAppeared}},
	{states.Spawned, "agent found without a spawn record", Cause{Kind: CauseFoundUnrecorded}},
	{states.Exited, "no agent was recorded or found", Cause{Kind: CauseNoAgent}},
}

// unknownSentences are reasons no engine wrote with their event, or
// almost: each must read back as CauseUnknown with its text, never as
// another cause.
var unknownSentences = []struct {
	ev   states.Event
	text string
}{
	{states.Create, "user: create"},
	{states.KillFailed, "tree survived SIGKILL"},
	{states.Exited, "e2e"},
	{states.Crashed, "agent exited while starting: x"}, // the starting sentence with crashed
	{states.StartFailed, "start timeout: not running by the deadline 2000-01-01T01:10:00.000+01:00"},
	{states.StartFailed, "something new"},
	{states.StopTimeout, "graceful deadline tomorrow passed: agent pid 1 ignored the interrupt"},
	{states.Backoff, "restart 1 of five in 10s, after 1s"},
	{states.Backoff, "restart 1 of 5 in 10m, after 1s"}, // not how a Duration prints
	{states.Lost, "recovery: agent pid x is gone"},
	{states.Reset, "reset by hand"},
	{states.Adopted, "adopted"},
}

// TestParseReasonReadsEveryOldSentence: each sentence an old engine wrote
// maps to its cause, and that cause renders the very same sentence in the
// version-1 wording (renderV1), whatever Render says today.
func TestParseReasonReadsEveryOldSentence(t *testing.T) {
	kinds := map[CauseKind]bool{}
	for _, c := range oldSentences {
		got := ParseReason(c.ev, c.text)
		if got != c.want {
			t.Errorf("ParseReason(%s, %q) = %+v, want %+v", c.ev, c.text, got, c.want)
		}
		if r := got.renderV1(c.ev); r != c.text {
			t.Errorf("%s %+v renders %q in the version-1 wording, not the sentence %q", c.ev, got, r, c.text)
		}
		kinds[got.Kind] = true
	}
	for _, c := range unknownSentences {
		if got := ParseReason(c.ev, c.text); got != (Cause{Kind: CauseUnknown, Detail: c.text}) {
			t.Errorf("ParseReason(%s, %q) = %+v, want it kept as unknown", c.ev, c.text, got)
		}
	}
	// Every kind an old engine wrote is read back from its sentence.
	for _, k := range AllCauseKinds() {
		switch k {
		case CauseUnknown, CausePIDRecycled, CauseHostRebooted, CauseStoppedOutside, CauseStartedOutside, CauseDeletedOutside,
			CauseImported, CauseReleased, CauseAutostart:
			continue // never written as a version-1 sentence
		}
		if !kinds[k] {
			t.Errorf("no old sentence reads as %s", k)
		}
	}
}

// FuzzParseReason: whatever the text, ParseReason never panics and its
// cause renders the text back in the version-1 wording; nothing read from
// an old file changes.
func FuzzParseReason(f *testing.F) {
	for _, c := range oldSentences {
		f.Add(uint8(c.ev), c.text)
	}
	for _, c := range unknownSentences {
		f.Add(uint8(c.ev), c.text)
	}
	f.Fuzz(func(t *testing.T, ev uint8, text string) {
		c := ParseReason(states.Event(ev), text)
		if r := c.renderV1(states.Event(ev)); r != text {
			t.Fatalf("ParseReason(%d, %q) = %+v, which renders %q", ev, text, c, r)
		}
	})
}

// TestRenderEveryKind: every declared kind has its own sentence with
// every event (never the fallback that names the kind's number).
func TestRenderEveryKind(t *testing.T) {
	c := Cause{Code: 1, Signal: 9, Deadline: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), PID: 1, VMProcessPID: 2, Err: "e", Detail: "d", N: 1, Limit: 2, Window: time.Second, Backoff: time.Second}
	for _, k := range AllCauseKinds() {
		c.Kind = k
		for _, ev := range states.AllEvents() {
			r := c.Render(ev)
			if strings.Contains(r, "CauseKind(") || (r == "" && k != CauseNone && k != CauseRequested) {
				t.Errorf("%s with %s renders %q", k, ev, r)
			}
		}
		var back CauseKind
		if err := back.UnmarshalText([]byte(k.String())); err != nil || back != k {
			t.Errorf("kind %s does not parse back: %v, %v", k, back, err)
		}
	}
	if s := CauseKind(200).String(); s != "CauseKind(200)" {
		t.Errorf("undeclared kind prints %q", s)
	}
}

// TestAppendRendersAndValidatesCause: the store fills Reason from the
// cause, and refuses a reason that is not its cause's sentence and an
// undeclared kind: nothing that reads back differently is written.
func TestAppendRendersAndValidatesCause(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	create := Record{VM: "a", Event: states.Create, From: states.Absent, To: states.Stopped, Time: time.Now()}
	for _, bad := range []Record{
		func() Record { r := create; r.Reason = "made by hand"; return r }(),
		func() Record { r := create; r.Cause = Cause{Kind: CauseKind(250)}; return r }(),
		func() Record { r := create; r.Cause = Cause{Kind: CauseRestartPolicy, N: -1}; return r }(),
	} {
		if _, err := s.Append(ctx, Write{Record: bad}); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Append(%+v) = %v, want ErrInvalidRecord", bad.Cause, err)
		}
	}
	r := create
	r.Cause = Cause{Kind: CauseRequested}
	if _, err := s.Append(ctx, Write{Record: r}); err != nil {
		t.Fatal(err)
	}
	stop := Record{VM: "a", Event: states.Start, From: states.Stopped, To: states.Starting, Time: time.Now(), Cause: Cause{Kind: CauseUpdate}}
	got, err := s.Append(ctx, Write{Record: stop})
	if err != nil || got.Reason != "restart to apply the updated spec" {
		t.Fatalf("Append = %q, %v; want the update's sentence", got.Reason, err)
	}
	h, _, err := s.Head("a")
	if err != nil || h.Cause != stop.Cause || h.Reason != got.Reason {
		t.Fatalf("head %+v, %v", h, err)
	}
}

// TestDecodeVersionPerKind: each kind of value has its own newest layout:
// a record, head or boot of its newest version (2 for each) reads, and no
// kind reads a version past its newest.
func TestDecodeVersionPerKind(t *testing.T) {
	r := Record{Seq: 1, VMSeq: 1, VM: "a", Event: states.Create, To: states.Stopped, Cause: Cause{Kind: CauseRequested}}
	h := Head{}.Apply(r)
	bt := Boot{Number: 1, PID: 1}
	withVersion := func(v []byte, ver byte) []byte {
		w := append([]byte{ver}, v[1:len(v)-checksumLen]...)
		return appendChecksum(w, 0)
	}
	var d decoder
	for ver := byte(0); ver < 5; ver++ {
		if ver == encodingVersion {
			continue // another layout: the golden files read it
		}
		rv := withVersion(appendRecord(nil, &r, 0), ver)
		var got Record
		if reason := d.record(rv, &got); (reason == "") != (ver == recordVersion) {
			t.Errorf("record of version %d: %q", ver, reason)
		}
		hv := withVersion(appendHead(nil, &h), ver)
		var gh Head
		if reason := d.head(hv, &gh); (reason == "") != (ver == headVersion) {
			t.Errorf("head of version %d: %q", ver, reason)
		}
		// The version-1 boot's layout is another: TestDecodeBootVersions
		// and the golden files read it.
		bv := withVersion(appendBoot(nil, &bt), ver)
		var gb Boot
		okBoot := ver == bootVersion
		if reason := d.boot(bv, &gb); (reason == "") != okBoot {
			t.Errorf("boot of version %d: %q", ver, reason)
		}
		if got := checksumReason(bv, bootVersion); (got == "") != okBoot {
			t.Errorf("open check of a boot of version %d: %q", ver, got)
		}
	}
}

// TestCheckFindsUndeclaredCauseKind: a record whose cause is of a kind
// this build does not declare (a newer build's, or damage that kept the
// checksum) decodes as stored, and Check reports it.
func TestCheckFindsUndeclaredCauseKind(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "lifeline.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec, err := s.Append(context.Background(), create("a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	rec.Cause = Cause{Kind: 250}
	h := Head{}.Apply(rec)
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketKeyRecords).Put(seqKey(rec.Seq), appendRecord(nil, &rec, 0)); err != nil {
			return err
		}
		return tx.Bucket(bucketKeyHeads).Put([]byte("a"), appendHead(nil, &h))
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `record #1 (vm "a" vmseq 1): undeclared cause kind 250`
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Check = %v; want it to report %q", err, want)
	}
}

// A stop requested with its own grace says so.
func TestRenderStopGrace(t *testing.T) {
	for _, tc := range []struct {
		c    Cause
		want string
	}{
		{Cause{Kind: CauseRequested, Grace: 5 * time.Second}, "stop requested, with a grace of 5s"},
		{Cause{Kind: CauseRequested, Detail: "maintenance", Grace: 2 * time.Minute}, "maintenance, with a grace of 2m0s"},
	} {
		if got := tc.c.Render(states.Stop); got != tc.want {
			t.Errorf("%+v renders %q, want %q", tc.c, got, tc.want)
		}
	}
}

// TestReasonHoldsNoAbsoluteTime: no sentence Render makes holds an absolute
// time, whatever the cause's deadline: a reason printed next to the CLI's
// local times must not carry a UTC one (issue 12 item 9). The deadline
// stays in the cause for the CLI to print in its own format.
func TestReasonHoldsNoAbsoluteTime(t *testing.T) {
	deadline := time.Date(2031, 7, 9, 23, 59, 58, 123e6, time.UTC)
	stamps := []string{"2031", "23:59", "59:58", "T23"}
	for _, k := range AllCauseKinds() {
		c := Cause{Kind: k, Deadline: deadline, PID: 7, Err: "e", Detail: "d", N: 1, Limit: 2, Window: time.Second, Backoff: time.Second}
		for _, ev := range states.AllEvents() {
			r := c.Render(ev)
			for _, st := range stamps {
				if strings.Contains(r, st) {
					t.Errorf("%s with %s renders %q, which holds the deadline's time", k, ev, r)
					break
				}
			}
		}
	}
	for ev, want := range map[states.Event]Cause{
		states.StartFailed: {Kind: CauseStartDeadline, Deadline: deadline},
		states.StopTimeout: {Kind: CauseGracefulDeadline, Deadline: deadline, PID: 7},
	} {
		if got := want.Render(ev); !strings.Contains(got, "deadline") {
			t.Errorf("%s renders %q, which no longer says a deadline passed", want.Kind, got)
		}
	}
}

// TestAppendAcceptsEarlierWording: a record copied from an earlier build's
// output (a fleet stream's JSON) carries the sentence that build rendered
// of its cause, with the deadline in it; the store takes it, stores the
// cause, and reads it back with today's sentence. A sentence that is
// neither wording of its cause is still refused.
func TestAppendAcceptsEarlierWording(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, r := range []Record{
		{VM: "a", Event: states.Create, From: states.Absent, To: states.Stopped, Time: t0, Cause: Cause{Kind: CauseRequested}},
		{VM: "a", Event: states.Start, From: states.Stopped, To: states.Starting, Time: t0, Deadline: t0.Add(time.Minute), Cause: Cause{Kind: CauseRequested}},
	} {
		if _, err := s.Append(ctx, Write{Record: r}); err != nil {
			t.Fatal(err)
		}
	}
	failed := Record{VM: "a", Event: states.StartFailed, From: states.Starting, To: states.Broken, Time: t0.Add(time.Minute),
		Cause: Cause{Kind: CauseStartDeadline, Deadline: t0.Add(time.Minute)}}
	bad := failed
	bad.Reason = "start timeout: not running by the deadline 2030-01-02T03:05:06.000Z" // a second off
	if _, err := s.Append(ctx, Write{Record: bad}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("Append with another deadline in its sentence = %v, want ErrInvalidRecord", err)
	}
	failed.Reason = "start timeout: not running by the deadline 2030-01-02T03:05:05.000Z"
	got, err := s.Append(ctx, Write{Record: failed})
	if err != nil {
		t.Fatalf("Append with the earlier wording: %v", err)
	}
	if want := failed.Cause.Render(states.StartFailed); got.Reason != want || got.Cause != failed.Cause {
		t.Errorf("Append = %q %+v, want %q %+v", got.Reason, got.Cause, want, failed.Cause)
	}
}

// TestCauseJSONDurationsNameTheirUnit: the store's cause (replay export,
// the timeline's JSON, a fleet stream) writes its durations in
// milliseconds under names that say so, and reads the nanoseconds of
// earlier versions too; every kind's facts survive the round trip.
func TestCauseJSONDurationsNameTheirUnit(t *testing.T) {
	c := Cause{Kind: CauseRestartPolicy, N: 2, Limit: 5, Window: 10 * time.Minute, Backoff: 200 * time.Millisecond, Grace: 1234567 * time.Nanosecond,
		Deadline: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC), Code: 1, Signal: 9, Exiting: true, PID: 7, VMProcessPID: 8, Err: "e", Detail: "d"}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"windowMs":600000`, `"backoffMs":200`, `"graceMs":1.234567`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("%s lacks %s", b, key)
		}
	}
	for _, bare := range []string{`"window"`, `"backoff"`, `"grace"`} {
		if strings.Contains(string(b), bare) {
			t.Errorf("%s has the unitless %s", b, bare)
		}
	}
	var back Cause
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Errorf("reads back %+v, %v; want %+v", back, err, c)
	}
	old := `{"kind":"restart_policy","n":2,"limit":5,"window":600000000000,"backoff":200000000}`
	if err := json.Unmarshal([]byte(old), &back); err != nil || back != (Cause{Kind: CauseRestartPolicy, N: 2, Limit: 5, Window: 10 * time.Minute, Backoff: 200 * time.Millisecond}) {
		t.Errorf("an earlier version's cause reads %+v, %v", back, err)
	}
}

// TestRenderFoundUnrecordedVMProcess: recovery that knows the agent and
// finds only its VM driver process newly says so; the records written
// before (the agent's pid, or none) keep their sentence.
func TestRenderFoundUnrecordedVMProcess(t *testing.T) {
	for _, tc := range []struct {
		c    Cause
		want string
	}{
		{Cause{Kind: CauseFoundUnrecorded, VMProcessPID: 4250}, "recovery: VM driver pid 4250 found, which no record named (its agent's was recorded)"},
		{Cause{Kind: CauseFoundUnrecorded, PID: 4242}, "agent found without a spawn record"},
		{Cause{Kind: CauseFoundUnrecorded}, "agent found without a spawn record"},
	} {
		if got := tc.c.Render(states.Spawned); got != tc.want {
			t.Errorf("%+v renders %q, want %q", tc.c, got, tc.want)
		}
	}
}

package replay_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/replay/recheck"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

var t0 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func sec(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func TestAt(t *testing.T) {
	db := openUTC(t, fixture(t, "incident"))
	// Right after vm1's stop, before the crash: the daemon of boot 1.
	got := render(t, func(b *bytes.Buffer) error { _, err := db.At(b, replay.AtOptions{Seq: 13}); return err })
	checkGolden(t, "incident.at-seq-13", got)
	// At 00:00:20: vm1 Broken since 00:00:12, vm2 and vm3 adopted.
	got = render(t, func(b *bytes.Buffer) error { _, err := db.At(b, replay.AtOptions{Time: sec(20)}); return err })
	checkGolden(t, "incident.at-00-00-20", got)
	// At 00:00:52 the daemon was down between boots 2 and 3.
	res, err := db.At(&bytes.Buffer{}, replay.AtOptions{Time: sec(52), JSON: true})
	if err != nil || !strings.HasPrefix(res.Daemon, "down (boot 2 closed cleanly") || res.Seq != 26 {
		t.Errorf("at 00:00:52: %+v, %v", res, err)
	}
	// JSON: the VMs in the one shape of a VM, the daemon's (api.VM).
	var b bytes.Buffer
	if _, err := db.At(&b, replay.AtOptions{Time: sec(61), JSON: true}); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Seq uint64 `json:"seq"`
		VMs []struct {
			VM    string       `json:"name"`
			State states.State `json:"state"`
		} `json:"vms"`
	}
	if err := json.Unmarshal(b.Bytes(), &parsed); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if parsed.Seq != 27 || len(parsed.VMs) != 3 || parsed.VMs[0].State != states.Broken || parsed.VMs[1].State != states.Absent || parsed.VMs[2].State != states.Stopped {
		t.Errorf("at the end: %+v", parsed)
	}
	// Before anything.
	res, err = db.At(&bytes.Buffer{}, replay.AtOptions{Time: t0.Add(-time.Hour)})
	if err != nil || len(res.VMs) != 0 || res.Daemon != "not started yet" {
		t.Errorf("before the first record: %+v, %v", res, err)
	}
}

func TestTimelineFilters(t *testing.T) {
	db := openUTC(t, fixture(t, "incident"))
	tl := func(o replay.TimelineOptions) string {
		return render(t, func(b *bytes.Buffer) error { return db.Timeline(b, o) })
	}
	records := func(s string) []string {
		var out []string
		for line := range strings.Lines(s) {
			if !strings.HasPrefix(line, "──") {
				f := strings.Fields(line)
				out = append(out, f[2]+" "+f[3]) // time, zone, #seq, vm
			}
		}
		return out
	}
	// One VM: its records only, and the boots around them.
	got := tl(replay.TimelineOptions{VMs: []string{"vm1"}})
	if r := records(got); strings.Join(r, ",") != "#1 vm1,#4 vm1,#5 vm1,#6 vm1,#13 vm1,#16 vm1,#17 vm1" {
		t.Errorf("vm1's records: %v", r)
	}
	for _, want := range []string{"── boot 1 never closed: DAEMON CRASH (pid 4101 died after record #13) ──", "── boot 3 (pid 4103) started", "── boot 3 closed cleanly"} {
		if !strings.Contains(got, want) {
			t.Errorf("vm1's timeline lacks %q:\n%s", want, got)
		}
	}
	// By sequence: #16 is 7s after vm1's stop (#13), although #13 is out of range.
	got = tl(replay.TimelineOptions{SinceSeq: 14, UntilSeq: 17})
	if r := records(got); strings.Join(r, ",") != "#14 vm2,#15 vm3,#16 vm1,#17 vm1" {
		t.Errorf("#14 to #17: %v\n%s", r, got)
	}
	if !strings.HasPrefix(got, "── boot 2 (pid 4102)") || strings.Contains(got, "boot 1") || strings.Contains(got, "closed cleanly") {
		t.Errorf("boots of #14 to #17:\n%s", got)
	}
	if strings.Contains(got, "+7s") || !strings.Contains(got, "+3s") {
		t.Errorf("durations with --since-seq (the first record of each VM has none):\n%s", got)
	}
	// By time.
	got = tl(replay.TimelineOptions{Since: sec(40), Until: sec(45)})
	if r := records(got); strings.Join(r, ",") != "#19 vm2,#20 vm2,#21 vm3,#22 vm3,#23 vm3,#24 vm3" {
		t.Errorf("00:00:40 to 00:00:45: %v", r)
	}
	if !strings.Contains(got, "+35s") {
		t.Errorf("vm2's stop came 35s after its adoption:\n%s", got)
	}
	// JSON lines parse, and records keep store.Record's field names.
	got = tl(replay.TimelineOptions{JSON: true, VMs: []string{"vm1"}})
	kinds := map[string]int{}
	for line := range strings.Lines(got) {
		var v struct {
			Kind string `json:"kind"`
			store.Record
			SincePreviousMs *float64 `json:"sincePreviousMs"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		kinds[v.Kind]++
		if v.Kind == "record" && v.Seq == 16 && (v.SincePreviousMs == nil || *v.SincePreviousMs != 7000 || v.Event != states.StopTimeout) {
			t.Errorf("record #16 as JSON: %s", line)
		}
	}
	if kinds["record"] != 7 || kinds["boot"] != 3 || kinds["crash"] != 1 || kinds["bootEnd"] != 2 {
		t.Errorf("JSON line kinds %v", kinds)
	}
}

func TestExportRoundTrip(t *testing.T) {
	path := fixture(t, "incident")
	db := openUTC(t, path)
	got := render(t, func(b *bytes.Buffer) error { return db.Export(b, "jsonl") })
	want, _ := readRecords(t, path)
	var i int
	for line := range strings.Lines(got) {
		var r store.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		w := want[i]
		if r.Seq != w.Seq || r.VM != w.VM || r.Event != w.Event || r.From != w.From || r.To != w.To || !r.Time.Equal(w.Time) ||
			!r.Deadline.Equal(w.Deadline) || r.Agent != w.Agent || r.VMProcess != w.VMProcess || r.Reason != w.Reason || r.SpecHash != w.SpecHash || r.Boot != w.Boot {
			t.Errorf("line %d: %+v, want %+v", i+1, r, w)
		}
		i++
	}
	if i != len(want) {
		t.Errorf("%d lines for %d records", i, len(want))
	}
	if err := db.Export(&bytes.Buffer{}, "csv"); err == nil {
		t.Error("export --format csv succeeded")
	}
}

func TestUnknownVM(t *testing.T) {
	db := openUTC(t, fixture(t, "incident"))
	if err := db.Explain(&bytes.Buffer{}, "nope"); !errors.Is(err, replay.ErrNoSuchVM) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("explain nope: %v", err)
	}
	if err := db.Graph(&bytes.Buffer{}, "nope", "dot"); !errors.Is(err, replay.ErrNoSuchVM) {
		t.Errorf("graph nope: %v", err)
	}
	if err := db.Graph(&bytes.Buffer{}, "vm1", "png"); err == nil {
		t.Error("graph --format png succeeded")
	}
}

func TestParseTime(t *testing.T) {
	ref := time.Date(2025, 11, 25, 9, 30, 0, 0, time.UTC)
	paris, _ := time.LoadLocation("Europe/Paris")
	cases := []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"2025-11-25T09:00:05Z", time.UTC, time.Date(2025, 11, 25, 9, 0, 5, 0, time.UTC)},
		{"2025-11-25 09:00:05.25", time.UTC, time.Date(2025, 11, 25, 9, 0, 5, 250e6, time.UTC)},
		{"09:45:00", time.UTC, time.Date(2025, 11, 25, 9, 45, 0, 0, time.UTC)},
		{"08:00", time.UTC, time.Date(2025, 11, 26, 8, 0, 0, 0, time.UTC)}, // before ref: the next day
		{"2025-11-25 10:30:00", paris, time.Date(2025, 11, 25, 9, 30, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		if c.loc == nil {
			continue
		}
		got, err := replay.ParseTime(c.in, c.loc, ref)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"yesterday", "25:00", ""} {
		if _, err := replay.ParseTime(bad, time.UTC, ref); err == nil {
			t.Errorf("ParseTime(%q) succeeded", bad)
		}
	}
}

// TestEmptyDatabase: a database a daemon opened and closed without a
// record reads with every verb.
func TestEmptyDatabase(t *testing.T) {
	path := t.TempDir() + "/empty.db"
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db := openUTC(t, path)
	got := render(t, func(b *bytes.Buffer) error { return db.Timeline(b, replay.TimelineOptions{}) })
	if !strings.Contains(got, "── boot 1 (pid") || !strings.Contains(got, "── boot 1 closed cleanly") {
		t.Errorf("timeline of an empty database:\n%s", got)
	}
	if res, err := db.Verify(&bytes.Buffer{}); err != nil || res.Records != 0 || res.Boots != 1 {
		t.Errorf("verify: %+v, %v", res, err)
	}
	if res, err := db.At(&bytes.Buffer{}, replay.AtOptions{Seq: 1}); err != nil || len(res.VMs) != 0 {
		t.Errorf("at: %+v, %v", res, err)
	}
	if err := db.Report(&bytes.Buffer{}, replay.ReportOptions{}); err != nil {
		t.Errorf("report: %v", err)
	}
	if res, err := recheck.Check(db, &bytes.Buffer{}, recheck.Options{}); err != nil || res.Records != 0 {
		t.Errorf("check: %+v, %v", res, err)
	}
	if err := db.Timeline(&bytes.Buffer{}, replay.TimelineOptions{VMs: []string{"vm1"}}); !errors.Is(err, replay.ErrNoSuchVM) {
		t.Errorf("timeline of an unknown vm: %v", err)
	}
}

// TestVerbsOnADamagedDatabase: the verbs that read records stop at a
// corrupt one with an error that says where, after what they could read;
// check refuses a history that does not read cleanly.
func TestVerbsOnADamagedDatabase(t *testing.T) {
	path := fixture(t, "incident")
	editDB(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("records"))
		v := bytes.Clone(b.Get(seqKey(10)))
		v[len(v)/2] ^= 1
		return b.Put(seqKey(10), v)
	})
	db := openUTC(t, path)
	var out bytes.Buffer
	err := db.Timeline(&out, replay.TimelineOptions{})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "record seq 10") || !strings.Contains(out.String(), "#9 ") {
		t.Errorf("timeline: %v\n%s", err, out.String())
	}
	if err := db.Export(&bytes.Buffer{}, ""); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("export: %v", err)
	}
	if _, err := db.At(&bytes.Buffer{}, replay.AtOptions{Seq: 20}); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("at past the damage: %v", err)
	}
	if _, err := db.At(&bytes.Buffer{}, replay.AtOptions{Seq: 5}); err != nil {
		t.Errorf("at before the damage: %v", err)
	}
	if _, err := recheck.Check(db, &bytes.Buffer{}, recheck.Options{}); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "run verify") {
		t.Errorf("check: %v", err)
	}
	if err := db.Explain(&bytes.Buffer{}, "vm3"); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("explain of the damaged VM: %v", err)
	}
	if err := db.Explain(&bytes.Buffer{}, "vm1"); err != nil {
		t.Errorf("explain of an intact VM: %v", err)
	}
}

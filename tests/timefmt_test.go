package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// kolkata is the zone the test runs the CLI in: +05:30, neither UTC nor
// a whole hour away, so a time printed in the wrong zone shows.
const kolkata = "Asia/Kolkata"

// timeRE finds a time printed for people: a time of day, with its date
// before it when there is one, and what follows it (its zone, if any).
var timeRE = regexp.MustCompile(`(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d(\.\d{3})?( [A-Z][A-Za-z]{1,5}\b|[+-]\d\d(:?\d\d)?\b)?`)

// rfc3339InTextRE finds an RFC 3339 time, which text output must not hold.
var rfc3339InTextRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d`)

// seqRE finds the record a line is about, "#12".
var seqRE = regexp.MustCompile(`#(\d+)\b`)

// unitlessNumbers are the JSON number fields that are not durations
// (counts, sequences, pids, codes); every other number must name its unit.
var unitlessNumbers = map[string]bool{
	"seq": true, "vmSeq": true, "boot": true, "pid": true, "startTime": true, "group": true,
	"hostAgentPID": true, "driverPID": true, "exitCode": true, "signal": true, "n": true, "limit": true,
	"lastSeq": true, "nextBoot": true, "exit": true, "records": true, "vms": true, "boots": true,
	"problems": true, "warnings": true,
}

// TestOneTimeFormat runs every verb that prints a time, in a zone that is
// not UTC (Asia/Kolkata, +05:30) and with --utc: each time printed for
// people carries its zone (IST, or UTC with --utc), a time on a record's
// line is that record's, no text holds an RFC 3339 time (a reason used to
// hold its deadline in UTC); in JSON every time is RFC 3339 and the
// record's, and every number that is a duration names its unit
// (sincePreviousMs, windowMs). Issue 12 item 9, and issue 13's fleet list
// and fleet events.
func TestOneTimeFormat(t *testing.T) {
	ist, err := time.LoadLocation(kolkata)
	if err != nil {
		t.Fatalf("no zone data for %s on this machine (the CLI under test needs it too): %v", kolkata, err)
	}
	nats, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go nats.Start()
	if !nats.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready within 10s")
	}
	t.Cleanup(func() { nats.Shutdown(); nats.WaitForShutdown() })

	home := shortTemp(t)
	d := startFleetDaemon(t, home, nats.ClientURL(), "h1")
	ctx := context.Background()
	// ig ignores SIGINT: its stop is forced at the graceful deadline, a
	// record whose cause names a deadline.
	for _, vm := range []struct {
		name string
		spec api.Spec
	}{
		{"ig", api.Spec{Ready: api.ReadyAgent, GracefulTimeout: time.Second, Env: map[string]string{"LIFELINE_SIM_IGNORE_SIGINT": "1"}}},
		{"a", api.Spec{Ready: api.ReadyAgent}},
	} {
		if _, err := d.c.Create(ctx, vm.name, vm.spec); err != nil {
			t.Fatal(err)
		}
		r, err := d.c.Start(ctx, vm.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.c.Wait(ctx, vm.name, api.Running, client.WaitOptions{Since: r.Seq, Timeout: settleWait}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := d.c.Stop(ctx, "ig", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Wait(ctx, "ig", api.Stopped, client.WaitOptions{Since: r.Seq, Timeout: settleWait}); err != nil {
		t.Fatal(err)
	}
	recs := map[uint64]api.Record{}
	forced := false
	if err := d.c.Events(ctx, client.EventsOptions{}, func(r api.Record) error {
		recs[r.Seq] = r
		forced = forced || r.Event == api.EventStopTimeout
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !forced {
		t.Fatalf("ig's stop was not forced: %v", recs)
	}
	var last uint64
	for seq := range recs {
		last = max(last, seq)
	}
	copyDB := filepath.Join(home, "copy.db")
	run(t, home, nil, "backup", copyDB)

	// The fleet view has the host's VMs once its publisher caught up.
	deadline := time.Now().Add(settleWait)
	for !strings.Contains(run(t, home, nil, "fleet", "list", "--fleet", nats.ClientURL()), "Stopped") {
		if time.Now().After(deadline) {
			t.Fatalf("fleet list shows no Stopped ig after %s", settleWait)
		}
		time.Sleep(50 * time.Millisecond)
	}

	verbs := [][]string{
		{"list"},
		{"status", "ig"},
		{"status", "a"},
		{"events"},
		{"events", "ig"},
		{"wait", "a", "--for=state=Running"},
		{"fleet", "list", "--fleet", nats.ClientURL()},
		{"fleet", "events", "--fleet", nats.ClientURL()},
		{"replay", "timeline", "--db", copyDB},
		{"replay", "explain", "ig", "--db", copyDB},
		{"replay", "at", "--seq", strconv.FormatUint(last, 10), "--db", copyDB},
		{"replay", "verify", "--db", copyDB},
		{"replay", "check", "--db", copyDB},
	}
	jsonVerbs := [][]string{
		{"list", "-o", "json"},
		{"status", "ig", "-o", "json"},
		{"events", "-o", "json"},
		{"wait", "a", "--for=state=Running", "-o", "json"},
		{"fleet", "list", "--fleet", nats.ClientURL(), "-o", "json"},
		{"fleet", "events", "--fleet", nats.ClientURL(), "-o", "json"},
		{"replay", "export", "--db", copyDB},
		{"replay", "timeline", "--db", copyDB, "-o", "json"},
		{"replay", "at", "--seq", strconv.FormatUint(last, 10), "--db", copyDB, "-o", "json"},
	}
	for _, c := range []struct {
		zone string // what every time must say
		loc  *time.Location
		flag []string
	}{
		{"IST", ist, nil},
		{"UTC", time.UTC, []string{"--utc"}},
	} {
		for _, args := range verbs {
			args = append(append([]string(nil), args...), c.flag...)
			out := run(t, home, []string{"TZ=" + kolkata}, args...)
			checkTextTimes(t, strings.Join(args, " "), out, c.zone, c.loc, recs)
		}
		for _, args := range jsonVerbs {
			args = append(append([]string(nil), args...), c.flag...)
			out := run(t, home, []string{"TZ=" + kolkata}, args...)
			checkJSONTimes(t, strings.Join(args, " "), out, recs)
		}
		// The report: its page names the zone, and every time on it says it.
		page := filepath.Join(t.TempDir(), "report.html")
		run(t, home, []string{"TZ=" + kolkata}, append([]string{"replay", "report", "--db", copyDB, "--html", page}, c.flag...)...)
		html, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		name, off := time.Now().In(c.loc).Zone()
		if want := fmt.Sprintf("times in %s (UTC%+03d:%02d)", name, off/3600, (off%3600)/60); !bytes.Contains(html, []byte(want)) {
			t.Errorf("report %v does not say %q", c.flag, want)
		}
		for _, m := range regexp.MustCompile(`\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d\.\d{3})? ?([A-Z]{2,5})?<`).FindAllStringSubmatch(string(html), -1) {
			if m[2] != c.zone {
				t.Errorf("report %v: %q does not name the zone %s", c.flag, m[0], c.zone)
			}
		}
		for _, m := range regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}( ([A-Z]{2,5}|[+-]\d{2,4})\b)?`).FindAllStringSubmatch(string(html), -1) {
			if m[2] != c.zone {
				t.Errorf("report %v: %q does not name the zone %s", c.flag, m[0], c.zone)
			}
		}
	}

	// lifeline logs passes the agent's own log through: logrus JSON, its
	// times RFC 3339 with their offset.
	out := run(t, home, []string{"TZ=" + kolkata}, "logs", "a")
	sc := bufio.NewScanner(strings.NewReader(out))
	n := 0
	for sc.Scan() {
		var line struct {
			Time string `json:"time"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("logs a: %v: %s", err, sc.Text())
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, line.Time); err != nil {
			t.Errorf("logs a: time %q: %v", line.Time, err)
		}
		n++
	}
	if n == 0 {
		t.Errorf("logs a printed no line")
	}

	// A command's outcome in JSON (its deadline) and in text (when its
	// next step comes).
	checkJSONTimes(t, "stop a -o json", run(t, home, []string{"TZ=" + kolkata}, "stop", "a", "-o", "json"), recs)
	checkJSONTimes(t, "wait a --for=state=Stopped -o json", run(t, home, []string{"TZ=" + kolkata}, "wait", "a", "--for=state=Stopped", "-o", "json"), recs)
	checkTextTimes(t, "start a", run(t, home, []string{"TZ=" + kolkata}, "start", "a"), "IST", ist, recs)
}

// run runs the CLI against home's daemon with env added, and returns its
// standard output.
func run(t *testing.T, home string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(lifelineBin, append([]string{"--data-dir", home}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lifeline %v: %v\n%s%s", args, err, out, stderr.String())
	}
	if s := stderr.String(); s != "" {
		checkTextTimesOnly(t, "stderr of "+strings.Join(args, " "), s)
	}
	return string(out)
}

// checkTextTimesOnly: text holds no RFC 3339 time.
func checkTextTimesOnly(t *testing.T, what, s string) {
	t.Helper()
	if m := rfc3339InTextRE.FindString(s); m != "" {
		t.Errorf("%s holds an RFC 3339 time %q:\n%s", what, m, s)
	}
}

// checkTextTimes: every time in out names zone; the first on a line about
// a record (#seq) is that record's time, in loc, as printed; out holds no
// RFC 3339 time.
func checkTextTimes(t *testing.T, what, out, zone string, loc *time.Location, recs map[uint64]api.Record) {
	t.Helper()
	checkTextTimesOnly(t, what, out)
	found := 0
	for line := range strings.Lines(out) {
		ms := timeRE.FindAllStringSubmatch(line, -1)
		for _, m := range ms {
			found++
			if strings.TrimSpace(m[3]) != zone {
				t.Errorf("%s: %q does not name the zone %s:\n%s", what, m[0], zone, line)
			}
		}
		// A line about a record: its first time is the record's (events,
		// the timeline, fleet events; at's rows: the time the VM entered
		// the state the record #N put it in). A line that names a record
		// in a sentence (a boot's note) is not one.
		sm := seqRE.FindStringSubmatch(line)
		if len(ms) == 0 || sm == nil || strings.ContainsAny(line[:strings.Index(line, ms[0][0])], ":(") {
			continue
		}
		seq, _ := strconv.ParseUint(sm[1], 10, 64)
		r, ok := recs[seq]
		if !ok {
			continue
		}
		layout := "15:04:05"
		if ms[0][1] != "" {
			layout = "2006-01-02 " + layout
		}
		if ms[0][2] != "" {
			layout += ".000"
		}
		layout += " MST"
		if want := r.Time.In(loc).Format(layout); ms[0][0] != want {
			t.Errorf("%s: record #%d's time prints as %q, want %q:\n%s", what, seq, ms[0][0], want, line)
		}
	}
	quiet := false // verbs whose text may hold no time
	for _, p := range []string{"list", "wait", "replay verify", "replay check"} {
		quiet = quiet || strings.HasPrefix(what, p)
	}
	if found == 0 && !quiet {
		t.Errorf("%s printed no time:\n%s", what, out)
	}
}

// checkJSONTimes: out (one JSON value or JSON lines) holds times as RFC
// 3339 only, a record's time is the record's, and every number that is
// not a count, a sequence or an id names its unit.
func checkJSONTimes(t *testing.T, what, out string, recs map[uint64]api.Record) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	n := 0
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		walkJSON(t, what, "", v, recs)
		n++
	}
	if n == 0 {
		t.Errorf("%s printed nothing", what)
	}
}

func walkJSON(t *testing.T, what, key string, v any, recs map[uint64]api.Record) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if s, ok := v["time"].(string); ok {
			if seq, ok := v["seq"].(float64); ok && v["event"] != nil {
				tm, err := time.Parse(time.RFC3339Nano, s)
				if r, known := recs[uint64(seq)]; known && (err != nil || !tm.Equal(r.Time)) {
					t.Errorf("%s: record #%d's time is %q, want %s", what, uint64(seq), s, r.Time.Format(time.RFC3339Nano))
				}
			}
		}
		for k, e := range v {
			walkJSON(t, what, k, e, recs)
		}
	case []any:
		for _, e := range v {
			walkJSON(t, what, key, e, recs)
		}
	case string:
		if len(v) >= 10 && regexp.MustCompile(`^\d{4}-\d\d-\d\d`).MatchString(v) {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				t.Errorf("%s: %q: %q is not RFC 3339", what, key, v)
			}
		}
		if timeRE.MatchString(v) && !strings.Contains(v, "T") && key != "reason" && key != "detail" && key != "error" {
			t.Errorf("%s: %q: %q is a time for people in JSON", what, key, v)
		}
		if rfc3339InTextRE.MatchString(v) && (key == "reason" || key == "detail") {
			t.Errorf("%s: %q holds a time: %q", what, key, v)
		}
	case float64:
		if !unitlessNumbers[key] && !strings.HasSuffix(key, "Ms") {
			t.Errorf("%s: the number %q (%v) does not name its unit", what, key, v)
		}
	}
}

// startFleetDaemon starts a daemon on home that is host on the fleet at
// url, as startDaemon does otherwise.
func startFleetDaemon(t *testing.T, home, url, host string) *daemonProc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(home, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(lifelineBin, "daemon", "--data-dir", home,
		"--lima-home", filepath.Join(home, "lima"),
		"--hostagent-cmd", lifelineBin+" agent-sim",
		"--log-format", "json", "--fleet", url, "--fleet-host", host)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{cmd: cmd, home: home, c: client.New(filepath.Join(home, api.SocketName)), exited: make(chan error, 1)}
	done := make(chan struct{})
	go func() { d.exited <- cmd.Wait(); close(done) }()
	// The daemon stops its VMs at SIGINT and leaves no process behind; one
	// that will not go is killed, and then its agents (which outlive a
	// daemon by design) are killed too, so that none outlives the test
	// and its temp dir.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
			killLeftovers(t, home, true)
		case <-time.After(settleWait):
			_ = cmd.Process.Kill()
			<-done
			t.Logf("the daemon did not stop within %v of SIGINT: killed", settleWait)
			killLeftovers(t, home, false)
		}
	})
	deadline := time.Now().Add(daemonWait)
	for {
		info, err := d.c.Info(context.Background())
		if err == nil && info.PID == cmd.Process.Pid {
			return d
		}
		select {
		case err := <-d.exited:
			t.Fatalf("daemon exited at start: %v\n%s", err, readLog(home))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not up after %v\n%s", daemonWait, readLog(home))
		}
	}
}

package daemoncmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonLogColourOnlyOnATerminal is issue 12 item 12: the console log
// is coloured only on a terminal (a daemon's log redirected to a file held
// ANSI escapes), NO_COLOR keeps working, and LIFELINE_LOG_FORMAT (or
// --log-format) picks console, logfmt or json.
func TestDaemonLogColourOnlyOnATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatal("a regular file counts as a terminal")
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Fatal("a buffer counts as a terminal")
	}
	log, err := newLogger(f, "info", "console", isTerminal(f))
	if err != nil {
		t.Fatal(err)
	}
	log.Warn().Str("vm", "db").Msg("transition")
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(b, 0x1b) >= 0 || !strings.Contains(string(b), "WRN transition vm=db") {
		t.Errorf("console log to a file: %q, want no ESC and the plain line", b)
	}

	render := func(format string, colour bool) string {
		t.Helper()
		var buf bytes.Buffer
		log, err := newLogger(&buf, "info", format, colour)
		if err != nil {
			t.Fatal(err)
		}
		log.Debug().Msg("hidden")
		log.Warn().Uint64("boot", 2).Str("reason", "a b").Msg("previous daemon crashed")
		return buf.String()
	}
	t.Setenv("NO_COLOR", "")
	if got := render("console", true); !strings.Contains(got, "\x1b[") {
		t.Errorf("console on a terminal is not coloured: %q", got)
	}
	t.Setenv("NO_COLOR", "1")
	if got := render("console", true); strings.Contains(got, "\x1b") {
		t.Errorf("NO_COLOR=1 on a terminal still coloured: %q", got)
	}
	got := render("logfmt", true)
	if strings.Contains(got, "\x1b") || !strings.Contains(got, ` level=warn msg="previous daemon crashed" boot=2 reason="a b"`) || !strings.HasPrefix(got, "time=") || strings.Contains(got, "hidden") {
		t.Errorf("logfmt: %q", got)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(render("json", true)), &line); err != nil || line["level"] != "warn" || line["boot"] != 2.0 {
		t.Errorf("json: %v %v", line, err)
	}
	if _, err := newLogger(&bytes.Buffer{}, "info", "yaml", false); !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "want console, logfmt, json") {
		t.Errorf("--log-format yaml: %v, want a usage error naming the formats", err)
	}
	t.Setenv("LIFELINE_LOG_FORMAT", "json")
	if got := DefaultLogFormat(); got != "json" {
		t.Errorf("LIFELINE_LOG_FORMAT=json: default format %q", got)
	}
}

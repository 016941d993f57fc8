package replay_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/replay"
)

// checkGolden compares got with testdata/name, rewriting it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./replay -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden (go test ./replay -run %s -update to accept):\n--- got\n%s--- want\n%s", name, t.Name(), got, want)
	}
}

// openUTC opens path for replay with times in UTC.
func openUTC(t *testing.T, path string) *replay.DB {
	t.Helper()
	db, err := replay.Open(path, replay.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// render runs one verb into a string.
func render(t *testing.T, f func(*bytes.Buffer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return b.String()
}

func TestGoldens(t *testing.T) {
	for _, fx := range []string{"lifecycle", "incident", "restarts"} {
		t.Run(fx, func(t *testing.T) {
			db := openUTC(t, fixture(t, fx))
			checkGolden(t, fx+".timeline", render(t, func(b *bytes.Buffer) error { return db.Timeline(b, replay.TimelineOptions{}) }))
			checkGolden(t, fx+".timeline.jsonl", render(t, func(b *bytes.Buffer) error { return db.Timeline(b, replay.TimelineOptions{JSON: true}) }))
			checkGolden(t, fx+".export.jsonl", render(t, func(b *bytes.Buffer) error { return db.Export(b, "jsonl") }))
			vms := map[string][]string{"lifecycle": {"vm1"}, "incident": {"vm1", "vm2", "vm3"}, "restarts": {"vm1"}}[fx]
			for _, vm := range vms {
				checkGolden(t, fx+"."+vm+".explain", render(t, func(b *bytes.Buffer) error { return db.Explain(b, vm) }))
				for _, format := range []string{"mermaid", "dot"} {
					got := render(t, func(b *bytes.Buffer) error { return db.Graph(b, vm, format) })
					checkGolden(t, fx+"."+vm+".graph."+map[string]string{"mermaid": "mmd", "dot": "dot"}[format], got)
					for range 10 {
						if again := render(t, func(b *bytes.Buffer) error { return db.Graph(b, vm, format) }); again != got {
							t.Fatalf("graph %s %s is not byte-stable", vm, format)
						}
					}
				}
			}
		})
	}
}

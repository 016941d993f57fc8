package replay_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/store"
)

// A file cut in half: replay refuses it with an error naming the file, the
// damage and the salvage (it printed a runtime error naming neither), and
// the salvage copies out what verifies into a file verify passes.
func TestReplayDamagedFileSalvage(t *testing.T) {
	path := fixture(t, "incident")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	// Cut after the meta pages and one more page: the rest is lost.
	if err := os.WriteFile(path, data[:3*ps], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = replay.Open(path, replay.Options{})
	var d *store.DamagedError
	if !errors.As(err, &d) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "cut short") ||
		!strings.Contains(err.Error(), "lifeline replay salvage --db "+path) {
		t.Fatalf("replay.Open = %v, want a DamagedError naming the file, the damage and the salvage", err)
	}
	out := filepath.Join(t.TempDir(), "salvaged.db")
	var b bytes.Buffer
	rep, err := replay.Salvage(&b, path, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("salvage output:\n%s", b.String())
	for _, want := range []string{"salvage " + path + " -> " + out, "lost (", "is untouched", "mv " + out + " " + path} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("salvage output lacks %q", want)
		}
	}
	if len(rep.Lost) == 0 {
		t.Error("salvage of a cut file reports nothing lost")
	}
	// What survived: every record (they sat in the page kept), not the
	// specs (in pages cut off): verify says so, and nothing else.
	if rep.Records != 27 || rep.VMs != 3 {
		t.Errorf("salvaged %d records of %d VMs, want all 27 of 3", rep.Records, rep.VMs)
	}
	res, vout, _ := verify(t, out)
	specsLost := strings.Count(strings.Join(rep.Lost, "\n"), "spec (hash")
	if res.Problems != specsLost || strings.Count(vout, "missing, although its records set one") != specsLost {
		t.Fatalf("verify of the salvaged file: %d problems, want the %d lost specs only:\n%s", res.Problems, specsLost, vout)
	}
}

// A zeroed meta page leaves the file readable: replay opens it and verify
// reports the page, which nothing else reads.
func TestReplayVerifyReportsZeroedMetaPage(t *testing.T) {
	path := fixture(t, "lifecycle")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(data[os.Getpagesize() : 2*os.Getpagesize()])
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, out, err := verify(t, path)
	if !errors.Is(err, replay.ErrProblems) || res.Problems != 1 || !strings.Contains(out, "bbolt meta page 1 is damaged") {
		t.Fatalf("verify = %v, %d problems:\n%s", err, res.Problems, out)
	}
}

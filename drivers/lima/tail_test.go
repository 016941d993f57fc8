package lima

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ha.stdout.log")
	tl := &tail{path: path}
	defer tl.close()
	expect := func(want ...string) {
		t.Helper()
		lines, err := tl.lines()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range lines {
			got = append(got, string(l))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("lines %q, want %q", got, want)
		}
	}
	appendTo := func(s string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	expect() // no file yet
	appendTo("a\nb")
	expect("a") // b is half written
	appendTo("c\n\nd\n")
	expect("bc", "", "d")
	expect()
	// Truncated and rewritten (shorter than what was read): from the top.
	if err := os.WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("x")
	// Replaced by a new file: the rest of the old one, then the new one.
	appendTo("y\n")
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("y", "new")
	// A line longer than maxLine is dropped, the next one is not.
	appendTo(strings.Repeat("z", maxLine+10))
	expect()
	appendTo("\nafter\n")
	expect("after")
}

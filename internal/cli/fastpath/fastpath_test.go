package fastpath

import (
	"strings"
	"testing"
)

// TestStatusArgs: the command lines the fast path answers are exactly
// `status NAME` with one -o json|text in a form the tree parses; any
// other is the tree's.
func TestStatusArgs(t *testing.T) {
	for _, c := range []struct {
		args, name, output string
		ok                 bool
	}{
		{"status vm1", "vm1", "text", true},
		{"status vm1 -o json", "vm1", "json", true},
		{"status -o json vm1", "vm1", "json", true},
		{"status vm1 -ojson", "vm1", "json", true},
		{"status vm1 -o=json", "vm1", "json", true},
		{"status vm1 --output json", "vm1", "json", true},
		{"status vm1 --output=text", "vm1", "text", true},
		{"status", "", "", false},
		{"status vm1 -o", "", "", false},
		{"status vm1 -o yaml", "", "", false},
		{"status vm1 -o json -o json", "", "", false},
		{"status vm1 vm2", "", "", false},
		{"status vm1 --utc", "", "", false},
		{"status -- vm1", "", "", false},
		{"status -h", "", "", false},
		{"status -o json", "", "", false},
		{"stat vm1", "", "", false},
		{"-o json status vm1", "", "", false},
	} {
		name, output, ok := StatusArgs(strings.Fields(c.args))
		if name != c.name || output != c.output || ok != c.ok {
			t.Errorf("StatusArgs(%q) = %q, %q, %v; want %q, %q, %v", c.args, name, output, ok, c.name, c.output, c.ok)
		}
	}
}

// TestPlainName: a name goes into the request as it is only when
// url.PathEscape would leave it so.
func TestPlainName(t *testing.T) {
	for name, want := range map[string]bool{"vm1": true, "a.b_c-D9": true, "": false, "a b": false, "a/b": false, "a%b": false, "é": false, "a~b": false} {
		if got := plainName(name); got != want {
			t.Errorf("plainName(%q) = %v", name, got)
		}
	}
}

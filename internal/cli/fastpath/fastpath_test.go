package fastpath

import (
	"strings"
	"testing"
)

// TestParseArgs: the command lines the fast path answers are exactly
// `status NAME` and `list` (ls, ps) with at most one -o json|text in a
// form the tree parses, one --utc and for list one -q; any other is the
// tree's.
func TestParseArgs(t *testing.T) {
	for _, c := range []struct {
		args string
		want Args
		ok   bool
	}{
		{"status vm1", Args{Name: "vm1"}, true},
		{"status vm1 -o json", Args{Name: "vm1", JSON: true}, true},
		{"status -o json vm1", Args{Name: "vm1", JSON: true}, true},
		{"status vm1 -ojson", Args{Name: "vm1", JSON: true}, true},
		{"status vm1 -o=json", Args{Name: "vm1", JSON: true}, true},
		{"status vm1 --output json", Args{Name: "vm1", JSON: true}, true},
		{"status vm1 --output=text", Args{Name: "vm1"}, true},
		{"status --utc vm1", Args{Name: "vm1", UTC: true}, true},
		{"status vm1 -o json --utc", Args{Name: "vm1", JSON: true, UTC: true}, true},
		{"list", Args{List: true}, true},
		{"ls -o json", Args{List: true, JSON: true}, true},
		{"ps -q", Args{List: true, Quiet: true}, true},
		{"list --quiet --utc -o text", Args{List: true, Quiet: true, UTC: true}, true},
		{"status", Args{}, false},
		{"status vm1 -o", Args{}, false},
		{"status vm1 -o yaml", Args{}, false},
		{"status vm1 -o json -o json", Args{}, false},
		{"status vm1 --utc --utc", Args{}, false},
		{"status vm1 --utc=false", Args{}, false},
		{"status vm1 -q", Args{}, false},
		{"status vm1 vm2", Args{}, false},
		{"status -- vm1", Args{}, false},
		{"status -h", Args{}, false},
		{"status -o json", Args{}, false},
		{"list vm1", Args{}, false},
		{"list -q -q", Args{}, false},
		{"list -qo json", Args{}, false},
		{"list --help", Args{}, false},
		{"stat vm1", Args{}, false},
		{"-o json status vm1", Args{}, false},
		{"", Args{}, false},
	} {
		got, ok := ParseArgs(strings.Fields(c.args))
		if got != c.want || ok != c.ok {
			t.Errorf("ParseArgs(%q) = %+v, %v; want %+v, %v", c.args, got, ok, c.want, c.ok)
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

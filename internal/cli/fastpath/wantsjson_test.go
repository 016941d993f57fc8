package fastpath

import "testing"

// TestWantsJSON: lifeline's errors are JSON in every form of -o json
// the command tree parses, and not for text, another flag's value or an
// argument after --.
func TestWantsJSON(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"start", "vm1", "-o", "json"}, true},
		{[]string{"-ojson", "list"}, true},
		{[]string{"stop", "-o=json", "a"}, true},
		{[]string{"stop", "--output=json", "a"}, true},
		{[]string{"--output", "json", "status", "a"}, true},
		{[]string{"status", "a", "-o", "text"}, false},
		{[]string{"status", "json"}, false},
		{[]string{"status", "a", "-o"}, false},
		{[]string{"create", "a", "--", "-o", "json"}, false},
	} {
		if got := WantsJSON(c.args); got != c.want {
			t.Errorf("WantsJSON(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}

package daemon

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestClipFitsABootRecord: whatever the OS or the linker says, the boot
// record gets at most 256 bytes of valid UTF-8 (the store refuses more,
// and a daemon must not fail to start over its host name).
func TestClipFitsABootRecord(t *testing.T) {
	for _, s := range []string{"", "host", strings.Repeat("é", 200), strings.Repeat("a", 255) + "é", "bad\xffutf8"} {
		got := clip(s)
		if len(got) > maxBootInfo || !utf8.ValidString(got) {
			t.Errorf("clip(%q) = %q: %d bytes, valid %v", s, got, len(got), utf8.ValidString(got))
		}
		if len(s) <= maxBootInfo && utf8.ValidString(s) && got != s {
			t.Errorf("clip(%q) = %q, want it unchanged", s, got)
		}
	}
}

// TestBuildVersion: the version set at link time comes first unless it is
// "dev"; the module's part is always there.
func TestBuildVersion(t *testing.T) {
	dev := BuildVersion("dev")
	if dev == "" || strings.HasPrefix(dev, "dev") {
		t.Errorf(`BuildVersion("dev") = %q, want the module's version`, dev)
	}
	if got := BuildVersion("1.2.3"); got != "1.2.3, module "+dev {
		t.Errorf(`BuildVersion("1.2.3") = %q, want "1.2.3, module %s"`, got, dev)
	}
	t.Logf("this test binary: %s", dev)
}

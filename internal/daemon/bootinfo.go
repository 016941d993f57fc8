package daemon

import (
	"os"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/store"
)

// bootInfo is what the daemon's boot record says of it and its host: its
// build (BuildVersion), the host's boot id (c.Options.HostBootID, else the OS's:
// Linux /proc/sys/kernel/random/boot_id, macOS kern.bootsessionuuid; none
// on Windows, see drivers/process) and the host's name.
func bootInfo(c Config) store.BootInfo {
	bootID := c.HostBootID
	if bootID == "" {
		bootID = process.BootID()
	}
	host, _ := os.Hostname()
	return store.BootInfo{
		Version:    clip(BuildVersion(c.Version)),
		HostBootID: clip(bootID),
		HostName:   clip(host),
	}
}

// BuildVersion names the running build: the module version and VCS
// revision runtime/debug.ReadBuildInfo reports ("(devel)" for a build
// outside a module version; ", modified" for a dirty tree), after the
// version set at link time (-ldflags -X) when it says more than "dev".
// For example "v0.4.0 (rev 3e3fd85a1b2c)", "(devel) (rev d8767b1f00d2,
// modified)" or "1.0.0-rc1, module (devel) (rev 3e3fd85a1b2c)".
func BuildVersion(linked string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if linked == "" {
			return "unknown (no build info)"
		}
		return linked
	}
	v := bi.Main.Version
	if v == "" {
		v = "(unknown)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		v += " (rev " + rev[:min(len(rev), 12)] + modified + ")"
	}
	if linked != "" && linked != "dev" && linked != bi.Main.Version {
		v = linked + ", module " + v
	}
	return v
}

// maxBootInfo is the store's bound of each boot info field.
const maxBootInfo = 256

// clip makes s fit a boot record: valid UTF-8, at most maxBootInfo bytes,
// cut at a rune boundary.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= maxBootInfo {
		return s
	}
	s = s[:maxBootInfo]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1] // a rune cut in two
	}
	return s
}

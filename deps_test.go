package lifeline_test

import (
	"os/exec"
	"strings"
	"testing"
)

// allowedImports is DESIGN.md's import rule: what each package may import
// directly, besides the standard library. The module's own packages are
// named relative to the module and match exactly (engine may import the
// drivers interface, not a concrete driver); third-party entries match a
// module path prefix. Every package is checked, so the rule holds
// transitively, as tailscale's tstest/deptest does it.
var allowedImports = map[string][]string{
	"states":             {"github.com/looplab/fsm"},
	"store":              {"states", "go.etcd.io/bbolt", "github.com/rs/zerolog", "golang.org/x/sys"},
	"drivers":            {},
	"drivers/drivertest": {"drivers"},
	"engine":             {"states", "store", "drivers", "github.com/rs/zerolog"},
	"drivers/process":    {"drivers", "internal/atomicfile", "golang.org/x/sys"},
	"drivers/mux":        {"drivers"},
	"replay":             {"states", "store", "engine", "drivers", "drivers/drivertest"},
	"drivers/lima":       {"drivers", "drivers/process", "internal/atomicfile", "github.com/lima-vm/lima", "github.com/goccy/go-yaml", "github.com/rs/zerolog", "golang.org/x/sys"},
	"api":                {},
	"client":             {"api"},
	"server":             {"api", "states", "store", "engine", "drivers", "drivers/process", "github.com/rs/zerolog"},
	"fleet":              {"api", "engine", "store", "server", "github.com/nats-io/nats.go", "github.com/rs/zerolog"},
	"examples/embed":     {"api", "client", "server", "store", "engine", "drivers/process", "github.com/rs/zerolog"},
	"internal/agentsim":  {"internal/atomicfile", "github.com/lima-vm/lima/pkg/hostagent/events", "github.com/lima-vm/lima/pkg/hostagent/api", "github.com/lima-vm/lima/pkg/store/filenames", "github.com/lima-vm/lima/pkg/logrusutil", "golang.org/x/sys"},

	// The driver contract's test suite imports testing, so it is a package
	// of its own: drivertest is linked into programs (replay).
	"drivers/conformance": {"drivers"},
}

const module = "github.com/lifeline-vm/lifeline"

func TestImportRules(t *testing.T) {
	for pkg, allowed := range allowedImports {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "./"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if !isStd(dep) && !allowedDep(dep, allowed) {
				t.Errorf("%s imports %s, which DESIGN.md does not allow", pkg, dep)
			}
		}
	}
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func allowedDep(dep string, allowed []string) bool {
	for _, a := range allowed {
		if !strings.Contains(a, ".") { // the module's own package
			if dep == module+"/"+a {
				return true
			}
			continue
		}
		if dep == a || strings.HasPrefix(dep, a+"/") {
			return true
		}
	}
	return false
}

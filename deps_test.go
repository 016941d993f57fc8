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
	"states":               {"github.com/looplab/fsm"},
	"identity":             {},
	"store":                {"states", "identity", "go.etcd.io/bbolt", "github.com/rs/zerolog", "golang.org/x/sys"},
	"drivers":              {"identity"},
	"drivers/drivertest":   {"drivers"},
	"engine":               {"states", "store", "drivers", "github.com/rs/zerolog"},
	"drivers/process":      {"drivers", "internal/atomicfile", "golang.org/x/sys"},
	"drivers/mux":          {"drivers"},
	"replay":               {"states", "store", "replay/internal/text"},
	"replay/internal/text": {"store", "internal/timefmt"},
	// The one time format for people (the CLI, replay): the standard
	// library only.
	"internal/timefmt": {},
	// The re-driver (`replay check`) is the one reader of logs that runs
	// the engine, over the scripted driver.
	"replay/recheck": {"states", "store", "engine", "drivers", "drivers/drivertest", "replay", "replay/internal/text"},
	// Test support of replay and replay/recheck: it builds histories with
	// the engine. No program links it (TestTestSupportNotLinked).
	"replay/internal/fixture": {"states", "store", "engine", "drivers", "drivers/drivertest", "go.etcd.io/bbolt"},
	"drivers/lima":            {"drivers", "drivers/process", "internal/atomicfile", "github.com/lima-vm/lima", "github.com/goccy/go-yaml", "github.com/rs/zerolog", "golang.org/x/sys"},
	"api":                     {},
	"client":                  {"api"},
	"server":                  {"api", "states", "store", "engine", "drivers", "drivers/process", "github.com/rs/zerolog"},
	"examples/embed":          {"api", "client", "server", "store", "engine", "drivers/process", "github.com/rs/zerolog"},
	"internal/agentsim":       {"internal/atomicfile", "github.com/lima-vm/lima/pkg/hostagent/events", "github.com/lima-vm/lima/pkg/hostagent/api", "github.com/lima-vm/lima/pkg/store/filenames", "github.com/lima-vm/lima/pkg/logrusutil", "golang.org/x/sys"},
	"fleet":                   {"api", "engine", "store", "server", "github.com/nats-io/nats.go", "github.com/rs/zerolog"},

	// The driver contract's test suite imports testing, so it is a package
	// of its own: drivertest is linked into programs (replay/recheck).
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

// engineImporters are the only packages outside the engine's own users
// (the daemon, its server, the embedding example) allowed to import the
// engine or the scripted driver: among the log readers, the re-driver
// alone runs the engine.
var engineImporters = map[string]bool{"replay/recheck": true, "replay/internal/fixture": true}

// TestOnlyRecheckRunsTheEngine: no package under replay/ but the
// re-driver (and its test fixtures) imports the engine or
// drivers/drivertest, even transitively.
func TestOnlyRecheckRunsTheEngine(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./replay/...").Output()
	if err != nil {
		t.Fatalf("go list ./replay/...: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 {
		t.Fatalf("go list found %d packages under replay/", len(lines))
	}
	for _, line := range lines {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module+"/")
		if engineImporters[pkg] {
			continue
		}
		for _, dep := range f[1:] {
			if dep == module+"/engine" || dep == module+"/drivers/drivertest" {
				t.Errorf("%s depends on %s: only replay/recheck runs the engine", pkg, dep)
			}
		}
	}
}

// TestTestSupportNotLinked: the fixtures that build histories with the
// engine are for tests; the lifeline program does not link them.
func TestTestSupportNotLinked(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./cmd/lifeline").Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/lifeline: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == module+"/replay/internal/fixture" || dep == "testing" {
			t.Errorf("cmd/lifeline links %s, which is test support", dep)
		}
	}
}

package lifeline_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	"client":                  {"api", "internal/datadir"},
	// Where the data dir is by default: the standard library only.
	"internal/datadir": {},
	// lifeline's fast path: what it imports is initialised before it
	// runs (TestFastPathAnswersBeforeTheTreeInitialises).
	"internal/cli/fastpath": {"api", "internal/cli/vmtext"},
	// How the CLI shows a VM to people, shared by the fast path.
	"internal/cli/vmtext": {"api", "internal/timefmt"},
	// Where lifeline's programs find each other: the standard library
	// only (lifeline links it).
	"internal/progs": {},
	// lifeline on unix: the fast path and an exec of lifeline-cli, and
	// nothing else (TestFrontLinksOnlyTheFastPath).
	"internal/front":     {"api", "internal/buildinfo", "internal/cli/fastpath", "internal/datadir", "internal/progs"},
	"server":             {"api", "states", "store", "engine", "drivers", "drivers/process", "github.com/rs/zerolog"},
	"examples/embed":     {"api", "client", "server", "store", "engine", "drivers/process", "github.com/rs/zerolog"},
	"internal/agentsim":  {"internal/atomicfile", "github.com/lima-vm/lima/pkg/hostagent/events", "github.com/lima-vm/lima/pkg/hostagent/api", "github.com/lima-vm/lima/pkg/store/filenames", "github.com/lima-vm/lima/pkg/logrusutil", "golang.org/x/sys"},
	"fleet":              {"api", "engine", "store", "server", "github.com/nats-io/nats.go", "github.com/rs/zerolog"},
	"internal/buildinfo": {},
	// The daemon links no Prometheus: its metrics are a package of their
	// own that only lifelined passes in (Config.ServeMetrics).
	"internal/daemon":         {"api", "states", "store", "engine", "drivers", "drivers/process", "server", "internal/atomicfile", "github.com/rs/zerolog"},
	"internal/daemon/metrics": {"engine", "states", "store", "github.com/prometheus/client_golang"},
	// The daemon's command line, linked by lifelined and by the CLI (its
	// demo's daemon): Lima's limaprep is passed in (Options), never
	// imported.
	"internal/daemoncmd": {"api", "client", "drivers", "drivers/lima", "drivers/mux", "drivers/process", "engine", "fleet", "internal/atomicfile", "internal/buildinfo", "internal/daemon", "server", "store", "github.com/nats-io/nats.go", "github.com/rs/zerolog", "github.com/spf13/cobra", "github.com/spf13/pflag", "golang.org/x/term"},

	// The everyday CLI (cmd/lifeline-cli): the daemon's client and cobra;
	// its verbs that need more live in internal/cli/heavy, which only
	// lifelined links (TestCLILinksNoDaemonOnlyPackage).
	"internal/cli": {"api", "client", "internal/cli/fastpath", "internal/cli/vmtext", "internal/datadir", "internal/progs", "internal/agentsim", "internal/atomicfile", "internal/buildinfo", "internal/timefmt", "github.com/spf13/cobra", "github.com/spf13/pflag", "golang.org/x/term", "github.com/goccy/go-yaml"},

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
// engine are for tests; no program links them.
func TestTestSupportNotLinked(t *testing.T) {
	for _, prog := range []string{"./cmd/lifeline", "./cmd/lifeline-cli", "./cmd/lifelined"} {
		out, err := exec.Command("go", "list", "-deps", prog).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", prog, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == module+"/replay/internal/fixture" || dep == "testing" {
				t.Errorf("%s links %s, which is test support", prog, dep)
			}
		}
	}
}

// TestFrontLinksOnlyTheFastPath: lifeline on unix (and on macOS) links
// the fast path and what finds and runs lifeline-cli, nothing of the
// command tree, the daemon's client or the network: what it links is
// initialised and paged in before every `lifeline status` (issue 12 item
// 19). On Windows it is the whole CLI.
func TestFrontLinksOnlyTheFastPath(t *testing.T) {
	for _, goos := range []string{"linux", "darwin"} {
		cmd := exec.Command("go", "list", "-deps", "./cmd/lifeline")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=arm64")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("GOOS=%s go list -deps ./cmd/lifeline: %v", goos, err)
		}
		deps := strings.Fields(string(out))
		for _, dep := range deps {
			if !isStd(dep) && !strings.HasPrefix(dep, module+"/") {
				t.Errorf("GOOS=%s: cmd/lifeline links %s: only lifeline-cli may link packages from outside the module", goos, dep)
			}
			switch dep {
			case "net", "net/http", "crypto/tls", "crypto/x509", "encoding/gob", module + "/client", module + "/internal/cli":
				t.Errorf("GOOS=%s: cmd/lifeline links %s: keep lifeline to the fast path (internal/front); the verb that needs it runs in lifeline-cli", goos, dep)
			}
		}
		if len(deps) > 120 {
			t.Errorf("GOOS=%s: cmd/lifeline links %d packages, more than the 120 allowed for the fast path:\n%s", goos, len(deps), strings.Join(deps, " "))
		}
	}
}

// daemonOnly are the packages (module path prefixes) that only the daemon's
// program, lifelined, may link: Lima's template check and disk preparation
// with limayaml and yq, Prometheus, the NATS server, and what the verbs
// that run in lifelined (`lifelined cli`: internal/cli/heavy) need. Their
// package initialisation and the pages of a bigger binary cost every CLI
// command milliseconds when the CLI linked them (issue 12 item 19;
// BENCHMARKS.md "CLI start and round trip").
var daemonOnly = []string{
	module + "/drivers/lima/limaprep",
	module + "/internal/daemon/metrics",
	"github.com/lima-vm/lima/pkg/limayaml",
	"github.com/mikefarah/yq",
	"github.com/google/yamlfmt",
	"github.com/prometheus/",
	"github.com/nats-io/nats-server",
	// Lima's osutil reads the user database at init (~0.3 ms); its
	// versionutil and semver come with it.
	"github.com/lima-vm/lima/pkg/osutil",
	// The fleet's client (fleet, replay --host, any verb with --host):
	// nats.go imports encoding/gob (0.5 ms of init), nuid seeds itself
	// from crypto/rand at init.
	module + "/fleet",
	"github.com/nats-io/",
	"encoding/gob",
	// The daemon itself (the demo's), the engine, the store and the
	// replay and its report (replay), the Lima driver, and the loggers
	// they bring. agent-sim stays in lifeline (cliLima): through
	// lifelined its agents started ~13 ms slower each, which the storm's
	// replay check did not survive.
	module + "/internal/daemoncmd",
	module + "/internal/daemon",
	module + "/server",
	module + "/engine",
	module + "/store",
	module + "/replay",
	module + "/drivers/lima",
	module + "/drivers/process",
	module + "/states",
	"go.etcd.io/bbolt",
	"html/template",
	"github.com/lima-vm/lima",
	"github.com/rs/zerolog",
	"github.com/looplab/fsm",
}

// cliLima are the packages of Lima that agent-sim, which lifeline keeps,
// needs: the host agent's events, API and file names, and its logger.
var cliLima = map[string]bool{
	"github.com/lima-vm/lima/pkg/hostagent/events":     true,
	"github.com/lima-vm/lima/pkg/hostagent/api":        true,
	"github.com/lima-vm/lima/pkg/hostagent/api/client": true,
	"github.com/lima-vm/lima/pkg/httpclientutil":       true,
	"github.com/lima-vm/lima/pkg/httputil":             true,
	"github.com/lima-vm/lima/pkg/store/filenames":      true,
	"github.com/lima-vm/lima/pkg/logrusutil":           true,
}

// TestCLILinksNoDaemonOnlyPackage: cmd/lifeline-cli, which runs what people type and
// scripts loop over, links none of daemonOnly; cmd/lifelined links the
// ones the daemon needs.
func TestCLILinksNoDaemonOnlyPackage(t *testing.T) {
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	matches := func(dep string) string {
		if cliLima[dep] {
			return ""
		}
		for _, p := range daemonOnly {
			if dep == p || strings.HasPrefix(dep, strings.TrimSuffix(p, "/")+"/") || (strings.HasSuffix(p, "/") && strings.HasPrefix(dep, p)) {
				return p
			}
		}
		return ""
	}
	for _, dep := range deps("./cmd/lifeline-cli") {
		if p := matches(dep); p != "" {
			t.Errorf("cmd/lifeline-cli links %s (%s): only lifelined may; pass it in through internal/daemoncmd.Options, or put the verb that needs it in internal/cli/heavy (it runs in lifelined)", dep, p)
		}
	}
	linked := map[string]bool{}
	for _, dep := range deps("./cmd/lifelined") {
		linked[matches(dep)] = true
	}
	for _, p := range []string{module + "/drivers/lima/limaprep", module + "/internal/daemon/metrics", "github.com/prometheus/", module + "/fleet", module + "/replay"} {
		if !linked[p] {
			t.Errorf("cmd/lifelined does not link %s: the daemon lost Lima's preparation, its metrics, or the CLI's verbs that run in it", p)
		}
	}
}

// initAllowance is what a package of the module may allocate at init,
// in bytes, in a program that does nothing (lifeline-cli --version): tables
// and compiled patterns are made at first use (sync.OnceValue), so that
// every CLI command does not pay for them.
const initAllowance = 4096

// initExempt are the packages allowed more, and why.
var initExempt = map[string]string{
	// The HTML report's script, assembled with strings.Replace at init
	// (~10 KB, ~0.05 ms): the report's owner's to make lazy.
	"replay": "the report's script",
}

// TestCLIInitIsCheap: `lifeline-cli --version` with GODEBUG=inittrace=1; no
// package of the module allocates more than initAllowance at init (the
// store's CRC-32C table was 9 KB and 0.3 ms of every command).
func TestCLIInitIsCheap(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "lifeline-cli")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/lifeline-cli").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/lifeline-cli: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lifeline --version: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(string(out), "\n") {
		// init PKG @T ms, C ms clock, B bytes, A allocs
		f := strings.Fields(line)
		if len(f) < 11 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		seen++
		pkg, ok := strings.CutPrefix(f[1], module+"/")
		if !ok {
			continue
		}
		bytes, err := strconv.Atoi(f[7])
		if err != nil {
			t.Fatalf("inittrace line %q: %v", line, err)
		}
		if _, ok := initExempt[pkg]; bytes > initAllowance && !ok {
			t.Errorf("%s allocates %d bytes at init (%s): make it at first use (sync.OnceValue)", pkg, bytes, line)
		}
	}
	if seen == 0 {
		t.Fatalf("no inittrace lines in lifeline --version's output:\n%s", out)
	}
}

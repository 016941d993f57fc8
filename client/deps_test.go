package client

import (
	"os/exec"
	"strings"
	"testing"
)

// maxDeps bounds the client's dependency list (its own package and api
// included). net/http alone is about 185 packages with Go 1.26; the client
// before it was public (internal/client) was 211, bbolt, zerolog, Lima's
// identifiers and the engine among them.
const maxDeps = 195

// A program that only talks to a daemon links the standard library, api
// and this package (and internal/datadir, the default data dir, of the
// standard library only): never the engine, the store, a driver or their
// third-party packages.
func TestClientDependenciesStaySmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	const module = "github.com/lifeline-vm/lifeline/"
	for _, dep := range deps {
		first, _, _ := strings.Cut(dep, "/")
		if !strings.Contains(first, ".") || strings.HasPrefix(dep, "vendor/") {
			continue // the standard library
		}
		if dep != module+"api" && dep != module+"client" && dep != module+"internal/datadir" {
			t.Errorf("client depends on %s: only the standard library, api and internal/datadir are allowed", dep)
		}
	}
	for _, bad := range []string{"bbolt", "zerolog", "lima", "lifeline/engine", "lifeline/store", "lifeline/states", "lifeline/drivers"} {
		for _, dep := range deps {
			if strings.Contains(dep, bad) {
				t.Errorf("client depends on %s", dep)
			}
		}
	}
	if len(deps) > maxDeps {
		t.Errorf("client has %d dependencies, more than %d", len(deps), maxDeps)
	}
	t.Logf("go list -deps ./client: %d packages", len(deps))
}

package lima

import (
	"testing"

	"github.com/lima-vm/lima/pkg/osutil"
)

// TestUnixPathMaxIsLimas: the driver's copy of UNIX_PATH_MAX is the one
// Lima checks against, on every GOOS this test runs on.
func TestUnixPathMaxIsLimas(t *testing.T) {
	if unixPathMax() != osutil.UnixPathMax {
		t.Errorf("unixPathMax() = %d, Lima's osutil.UnixPathMax = %d", unixPathMax(), osutil.UnixPathMax)
	}
}

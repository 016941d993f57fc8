package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
)

// TestMetricsAddrWithoutServerIsAnError: a program that links no metrics
// (the CLI's demo daemon) refuses MetricsAddr at once, before it touches
// the data dir, rather than running without the metrics it was asked for.
func TestMetricsAddrWithoutServerIsAnError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	err := Run(context.Background(), Config{
		Options:     engine.Options{Driver: drivertest.New(), Logger: zerolog.Nop()},
		DataDir:     dir,
		MetricsAddr: "127.0.0.1:0",
	})
	if !errors.Is(err, ErrNoMetrics) {
		t.Fatalf("Run with MetricsAddr and no ServeMetrics: %v, want ErrNoMetrics", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the data dir was made (%v); want nothing touched", err)
	}
}

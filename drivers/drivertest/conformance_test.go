package drivertest_test

import (
	"testing"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/conformance"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
)

// The scripted driver honours the contract it stands in for: the engine's
// tests are only as good as its model.
func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) conformance.Setup {
		d := drivertest.New()
		return conformance.Setup{
			Driver: d,
			Spec: func(vm string, a conformance.Agent) drivers.Spec {
				switch a {
				case conformance.IgnoresInterrupt:
					d.Script(vm, drivertest.Behavior{IgnoreInterrupt: true})
				case conformance.IgnoresBoth:
					d.Script(vm, drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: true})
				}
				return drivers.Spec{}
			},
		}
	})
}

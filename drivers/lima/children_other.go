//go:build !linux

package lima

import "github.com/lifeline-vm/lifeline/drivers"

// childrenInOtherGroups finds nothing on this OS: a QEMU that has not
// written qemu.pid yet when its agent is killed is not found (Linux reads
// /proc for it).
func childrenInOtherGroups(drivers.Proc) ([]drivers.Proc, error) { return nil, nil }

// agentsNaming finds nothing on this OS: an agent that has not written
// ha.pid yet is found only on Linux, through /proc.
func agentsNaming(string) ([]drivers.Proc, error) { return nil, nil }

// orphanedDrivers finds nothing on this OS: a QEMU whose agent died before
// it wrote qemu.pid is found only on Linux, through /proc.
func orphanedDrivers(string, string, drivers.Proc) ([]drivers.Proc, error) { return nil, nil }

//go:build !linux

package store

// lockHolder returns 0: this system has no portable way to name the
// process holding a file's lock.
func lockHolder(path string) int { return 0 }

//go:build windows

package daemon

// raiseFDLimit: Windows has no descriptor limit to raise; 0 lets the
// connection cap be MaxConns.
func raiseFDLimit() (uint64, error) { return 0, nil }

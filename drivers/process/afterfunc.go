//go:build linux || darwin || windows

package process

import "context"

// afterFunc is context.AfterFunc whose stop also waits for f to have
// finished if it had started, so that f never touches a descriptor or handle
// the caller closes next.
func afterFunc(ctx context.Context, f func()) (stop func()) {
	fired := make(chan struct{})
	stopAF := context.AfterFunc(ctx, func() {
		defer close(fired)
		f()
	})
	return func() {
		if !stopAF() {
			<-fired
		}
	}
}

package agentsim

import (
	"os"
	"os/signal"
	"syscall"
)

// notifySignals sets up SIGINT and SIGTERM as cfg says. A signal not ignored
// is delivered on the returned channel through signal.Notify, which also
// undoes an ignore inherited from the parent (a shell's trap "" INT, or a
// daemon started with SIGINT ignored). An ignored one is set to SIG_IGN
// process-wide, which the driver child inherits across exec. stop ends the
// delivery; it does not undo an ignore.
func notifySignals(cfg Config) (sigs <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 2)
	var caught []os.Signal
	for _, s := range []struct {
		sig    os.Signal
		ignore bool
	}{{os.Interrupt, cfg.IgnoreSIGINT}, {syscall.SIGTERM, cfg.IgnoreSIGTERM}} {
		if s.ignore {
			signal.Ignore(s.sig)
		} else {
			caught = append(caught, s.sig)
		}
	}
	if len(caught) > 0 {
		signal.Notify(ch, caught...)
	}
	return ch, func() { signal.Stop(ch) }
}

// signalName names a signal the way Lima's logs do ("SIGINT").
func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

package daemon

import "errors"

// ErrNoMetrics is Config.MetricsAddr given to a daemon without
// Config.ServeMetrics: a program that does not link the metrics.
var ErrNoMetrics = errors.New("this program serves no metrics: run lifelined for --metrics-addr")

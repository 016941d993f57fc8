package engine

import (
	"context"
	"sync"

	"github.com/lifeline-vm/lifeline/drivers"
)

// obsQueue keeps a VM's observations in the order the driver reported
// them; one worker at a time drains it under the VM's lock.
type obsQueue struct {
	mu      sync.Mutex
	items   []queuedObs
	running bool
}

type queuedObs struct {
	epoch uint64 // the watch epoch the observation belongs to
	obs   drivers.Observation
}

// watch starts following v's agent. It needs v.mu. Observations of an older
// watch are dropped.
func (e *Engine) watch(v *vm) {
	v.stopWatch()
	procs := v.procs()
	if procs.IsZero() {
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	v.watchCancel = cancel
	v.watchEpoch++
	epoch := v.watchEpoch
	e.drv.Watch(ctx, v.name, v.spec, procs, func(o drivers.Observation) {
		e.enqueue(v, queuedObs{epoch: epoch, obs: o})
	})
}

func (e *Engine) enqueue(v *vm, q queuedObs) {
	v.obs.mu.Lock()
	v.obs.items = append(v.obs.items, q)
	start := !v.obs.running
	v.obs.running = true
	v.obs.mu.Unlock()
	if start {
		e.goEffect(func() { e.drainObservations(v) })
	}
}

func (e *Engine) drainObservations(v *vm) {
	for {
		v.obs.mu.Lock()
		if len(v.obs.items) == 0 {
			v.obs.running = false
			v.obs.mu.Unlock()
			return
		}
		q := v.obs.items[0]
		v.obs.items = v.obs.items[1:]
		v.obs.mu.Unlock()

		v.mu.Lock()
		if q.epoch == v.watchEpoch && e.ctx.Err() == nil {
			e.observe(v, q.obs)
		}
		v.mu.Unlock()
	}
}

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
	// A retry (retry.go): the observation was handled in state epoch
	// stateEpoch and a record it needed failed; it is handled again only
	// while the VM is still in that state. tries counts the failures.
	retry      bool
	stateEpoch uint64
	tries      int
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

// drainObservations handles v's queued observations in order. One whose
// record failed stays at the head of the queue, and the drain pauses until
// its retry (retry.go): what the driver saw is never dropped because the
// log could not take it, and nothing queued behind it overtakes it.
func (e *Engine) drainObservations(v *vm) {
	for {
		v.obs.mu.Lock()
		if len(v.obs.items) == 0 {
			v.obs.running = false
			v.obs.mu.Unlock()
			return
		}
		q := v.obs.items[0]
		v.obs.mu.Unlock()

		v.mu.Lock()
		failed := e.handleObservation(v, q)
		v.mu.Unlock()

		v.obs.mu.Lock()
		if failed != nil && e.ctx.Err() == nil {
			head := &v.obs.items[0]
			head.retry, head.stateEpoch = true, failed.stateEpoch
			head.tries++
			e.retryObservations(v, head.tries, failed.err)
			v.obs.mu.Unlock()
			return // running stays true: the retry resumes the drain
		}
		v.obs.items = v.obs.items[1:]
		v.obs.mu.Unlock()
	}
}

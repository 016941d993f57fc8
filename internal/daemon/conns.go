package daemon

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Bounds of the control socket's connections, named once.
const (
	// ReadHeaderTimeout bounds how long a connection may take to send a
	// request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes a keep-alive connection that sends no request for
	// this long.
	IdleTimeout = time.Minute
	// MaxConns caps the control socket's open connections; the cap is
	// lower when the fd limit is (see connCap).
	MaxConns = 4096
	// evictGrace: a new connection younger than this is not closed to
	// make room (it has not had time to send its request).
	evictGrace = 100 * time.Millisecond
)

// connCap is the connection cap for an fd limit: MaxConns, but never more
// than half the limit, so that agents, pid files, logs and the database
// always have descriptors left.
func connCap(fdLimit uint64) int {
	c := uint64(MaxConns)
	if fdLimit > 0 && fdLimit/2 < c {
		c = fdLimit / 2
	}
	return max(int(c), 8)
}

// connLimiter caps open connections without ever making a new one wait:
// at the cap, it closes the longest idle connection (a keep-alive with no
// request in flight, or one that sent nothing yet), so the CLI always gets
// in while connections that do work are left alone. Only when every
// connection is busy is the new one refused. It is a listener wrapper and
// an http.Server ConnState hook; the server's idle and header timeouts
// close idle connections anyway.
type connLimiter struct {
	net.Listener
	max int
	log zerolog.Logger

	mu    sync.Mutex
	conns map[net.Conn]*connInfo
}

type connInfo struct {
	state http.ConnState
	since time.Time // when it entered state
}

func newConnLimiter(ln net.Listener, max int, log zerolog.Logger) *connLimiter {
	return &connLimiter{Listener: ln, max: max, log: log, conns: map[net.Conn]*connInfo{}}
}

// Accept returns the next connection, making room for it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.admit(c) {
			return c, nil
		}
		l.log.Warn().Int("max", l.max).Msg("control socket: every connection is busy; refused a new one")
		c.Close()
	}
}

func (l *connLimiter) admit(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for len(l.conns) >= l.max {
		victim := l.evictable(now)
		if victim == nil {
			return false
		}
		delete(l.conns, victim)
		victim.Close()
	}
	l.conns[c] = &connInfo{state: http.StateNew, since: now}
	return true
}

// evictable returns the connection to close: the longest idle, else the
// oldest that sent nothing for evictGrace. It needs l.mu.
func (l *connLimiter) evictable(now time.Time) net.Conn {
	var best net.Conn
	var bestInfo *connInfo
	for c, ci := range l.conns {
		switch {
		case ci.state == http.StateIdle:
		case ci.state == http.StateNew && now.Sub(ci.since) >= evictGrace:
		default:
			continue
		}
		if bestInfo == nil || rank(ci) < rank(bestInfo) || (rank(ci) == rank(bestInfo) && ci.since.Before(bestInfo.since)) {
			best, bestInfo = c, ci
		}
	}
	return best
}

// rank orders victims: idle keep-alives before silent new connections.
func rank(ci *connInfo) int {
	if ci.state == http.StateIdle {
		return 0
	}
	return 1
}

// ConnState is the http.Server hook that tracks each connection's state.
func (l *connLimiter) ConnState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateHijacked, http.StateClosed:
		delete(l.conns, c)
	default:
		if ci, ok := l.conns[c]; ok {
			ci.state, ci.since = s, time.Now()
		}
	}
}

// open returns how many connections are tracked.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// controlServer returns the HTTP server of the control socket and the
// listener to serve it on: header and idle timeouts, and a connection cap
// derived from the fd limit (raised to its hard limit first, where the
// OS has one).
func controlServer(h http.Handler, ln net.Listener, log zerolog.Logger) (*http.Server, net.Listener) {
	limit, err := raiseFDLimit()
	if err != nil {
		// macOS refuses a soft limit of RLIM_INFINITY; Go's runtime
		// already raised it as far as the OS allows.
		log.Debug().Err(err).Msg("fd limit: soft limit not raised; the connection cap follows it")
	}
	lim := newConnLimiter(ln, connCap(limit), log)
	log.Info().Uint64("fdLimit", limit).Int("maxConns", lim.max).Dur("idleTimeout", IdleTimeout).Msg("control socket limits")
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		ConnState:         lim.ConnState,
	}
	return hs, lim
}

// busy returns how many connections have a request in flight.
func (l *connLimiter) busy() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ci := range l.conns {
		if ci.state == http.StateActive {
			n++
		}
	}
	return n
}

package tests

import (
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdNATSServer starts an in-process NATS server with JetStream (what the
// README's `nats-server -js` runs), sets NATS_URL to it and stops it when
// the script ends: natsserver.
func cmdNATSServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: natsserver")
	}
	s, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
		StoreDir: ts.MkAbs("nats-js"), NoLog: true, NoSigs: true,
	})
	if err != nil {
		ts.Fatalf("natsserver: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		ts.Fatalf("natsserver: not ready within 10s")
	}
	ts.Defer(func() { s.Shutdown(); s.WaitForShutdown() })
	ts.Setenv("NATS_URL", s.ClientURL())
}

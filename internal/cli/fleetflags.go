package cli

import (
	"os"

	"github.com/spf13/cobra"
)

// FleetFlags are the flags of the fleet: the NATS server(s) and how to
// authenticate, shared by the daemon (--fleet-host), the VM verbs
// (--host) and lifeline fleet. lifeline only defines them: a command
// line that gives --fleet or --host runs in lifelined (Main), which links
// the NATS client.
type FleetFlags struct {
	URL  string
	Host string // the host a VM verb commands
	// The NATS credentials and TLS files (fleet.Auth's fields).
	Creds, TLSCert, TLSKey, TLSCA string
}

func addFleetFlags(root *cobra.Command, f *FleetFlags) {
	pf := root.PersistentFlags()
	pf.StringVar(&f.URL, "fleet", "", "the fleet's NATS server(s), e.g. nats://HOST:4222 (env NATS_URL when --host or --fleet-host is given)")
	pf.StringVar(&f.Host, "host", "", "with --fleet: the host whose daemon a VM command goes to")
	pf.StringVar(&f.Creds, "fleet-creds", os.Getenv("NATS_CREDS"), "NATS credentials file (env NATS_CREDS)")
	pf.StringVar(&f.TLSCert, "fleet-tls-cert", "", "TLS client certificate for NATS")
	pf.StringVar(&f.TLSKey, "fleet-tls-key", "", "TLS client key for NATS")
	pf.StringVar(&f.TLSCA, "fleet-tls-ca", "", "CA certificate(s) to verify the NATS server")
}

// ServerURL is --fleet, else $NATS_URL.
func (f *FleetFlags) ServerURL() string {
	if f.URL != "" {
		return f.URL
	}
	return os.Getenv("NATS_URL")
}

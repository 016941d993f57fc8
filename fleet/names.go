package fleet

import (
	"fmt"
	"strings"

	"github.com/lifeline-vm/lifeline/engine"
)

// Subjects, streams and buckets (see the package doc).
const (
	// RecordPrefix starts every record's subject: lifeline.rec.<host>.<vm>.
	RecordPrefix = "lifeline.rec."
	// CommandPrefix starts a host's command subject: lifeline.cmd.<host>.
	CommandPrefix = "lifeline.cmd."
	// StreamPrefix starts a host's record stream's name.
	StreamPrefix = "LIFELINE_REC_"
	// HeadsBucket is the KV bucket of every VM's head, key <host>.<vm>.
	HeadsBucket = "lifeline-heads"
	// HostsBucket is the KV bucket of the hosts' liveness, key <host>;
	// its entries expire unless refreshed.
	HostsBucket = "lifeline-hosts"
)

// Message headers of a record.
const (
	// HeaderSeq is the record's seq in its host's log.
	HeaderSeq = "Lifeline-Seq"
	// HeaderHost is the host that published it.
	HeaderHost = "Lifeline-Host"
	// HeaderSpec is, on a create's or update's record, the spec it
	// hashed (base64), when the publisher still had it and it is at most
	// MaxSpecHeader bytes.
	HeaderSpec = "Lifeline-Spec"
)

// MaxSpecHeader bounds a spec carried in a record's message.
const MaxSpecHeader = 256 << 10

// token is a name as one subject token and KV key part: a name may hold
// '.', NATS's token separator, which becomes '=' (no name holds '=').
func token(name string) string { return strings.ReplaceAll(name, ".", "=") }

// untoken reverses token.
func untoken(tok string) string { return strings.ReplaceAll(tok, "=", ".") }

// RecordSubject is the subject of a record of vm on host.
func RecordSubject(host, vm string) string { return RecordPrefix + token(host) + "." + token(vm) }

// CommandSubject is the subject host answers commands on.
func CommandSubject(host string) string { return CommandPrefix + token(host) }

// StreamName is the name of host's record stream.
func StreamName(host string) string { return StreamPrefix + token(host) }

// HeadKey is the key of vm's head on host in HeadsBucket.
func HeadKey(host, vm string) string { return token(host) + "." + token(vm) }

// MsgID is the JetStream message id of a record: host, the boot that
// wrote it and its seq, so a re-send of it is deduplicated.
func MsgID(host string, boot, seq uint64) string { return fmt.Sprintf("%s-%d-%d", host, boot, seq) }

// ValidateHost checks a host name: the VM name rule.
func ValidateHost(host string) error {
	if err := engine.ValidateName(host); err != nil {
		return fmt.Errorf("fleet host name: %w; set --fleet-host", err)
	}
	return nil
}

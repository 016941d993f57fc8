package replay_test

import fx "github.com/lifeline-vm/lifeline/replay/internal/fixture"

// The raw bbolt writers (replay/internal/fixture/rawdb.go), by the names
// these tests use.
var (
	seqKey      = fx.SeqKey
	encRecord   = fx.EncRecord
	encHead     = fx.EncHead
	encBoot     = fx.EncBoot
	editDB      = fx.EditDB
	readRecords = fx.ReadRecords
	fixBootPIDs = fx.FixBootPIDs
)
